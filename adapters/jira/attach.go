package jira

// Attachments: Jira's own, uploaded as multipart/form-data (field "file")
// with X-Atlassian-Token: no-check
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-attachments/#api-rest-api-3-issue-issueidorkey-attachments-post).
// Jira keeps no digest and no sync ID, so the issue property "issuemesh"
// records, per attachment written here, its SHA-256 and global ID; the
// digest of a file attached on Jira is computed by reading it once (kept
// in memory).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

type wireAttachment struct {
	ID       string    `json:"id"`
	Filename string    `json:"filename"`
	MimeType string    `json:"mimeType"`
	Size     int64     `json:"size"`
	Created  jiraTime  `json:"created"`
	Author   *wireUser `json:"author"`
	Content  string    `json:"content"` // the URL of the bytes
}

func (t *Tracker) attachmentOf(a wireAttachment, m marker) adapters.Attachment {
	out := adapters.Attachment{ID: a.ID, Filename: a.Filename, ContentType: a.MimeType, Size: a.Size, Created: a.Created.Time}
	if a.Author != nil {
		out.Author = a.Author.DisplayName
	}
	if a.Content != "" {
		t.mu.Lock()
		t.content[a.ID] = a.Content
		t.mu.Unlock()
	}
	if f, ok := m.Files[a.ID]; ok {
		out.Digest, out.SyncID = f[0], f[1]
	} else {
		t.mu.Lock()
		out.Digest = t.digests[a.ID]
		t.mu.Unlock()
	}
	return out
}

// OpenAttachment returns the content of attachment id of the issue.
func (t *Tracker) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	if err := t.checkKey(key); err != nil {
		return nil, err
	}
	w, err := t.getWire(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, a := range w.Fields.Attachment {
		if a.ID == id {
			t.attachmentOf(a, marker{}) // notes the content URL
			return t.download(ctx, id)
		}
	}
	return nil, fmt.Errorf("jira: %s has no attachment %s: %w", key, id, adapters.ErrNotFound)
}

// download reads the bytes of attachment id: on Cloud from
// /attachment/content/{id}; on Data Center, which has no such endpoint,
// from the attachment's content URL (/secure/attachment/{id}/{name}).
func (t *Tracker) download(ctx context.Context, id string) (io.ReadCloser, error) {
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-attachments/#api-rest-api-3-attachment-content-id-get
	path := t.api + "/attachment/content/" + url.PathEscape(id)
	if !t.cloud {
		t.mu.Lock()
		content := t.content[id]
		t.mu.Unlock()
		u, err := url.Parse(content)
		base, _ := url.Parse(t.c.BaseURL())
		if content == "" || err != nil || !strings.HasPrefix(u.Path, base.Path) {
			return nil, fmt.Errorf("jira: attachment %s has no content URL under %s: %w", id, t.c.BaseURL(), adapters.ErrNotFound)
		}
		path = strings.TrimPrefix(u.Path, base.Path)
	}
	body, _, err := t.c.Download(ctx, path, nil)
	if err != nil {
		return nil, fmt.Errorf("jira: read attachment %s: %w", id, err)
	}
	return body, nil
}

// fillDigests computes the digests of the issue's files that have none.
func (t *Tracker) fillDigests(ctx context.Context, files []adapters.Attachment) error {
	for i, f := range files {
		if f.Digest != "" {
			continue
		}
		rc, err := t.download(ctx, f.ID)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("jira: read attachment %s: %w", f.ID, err)
		}
		files[i].Digest = hex.EncodeToString(h.Sum(nil))
		t.mu.Lock()
		t.digests[f.ID] = files[i].Digest
		t.mu.Unlock()
	}
	return nil
}

// AddAttachment attaches the file unless the issue has it already.
func (t *Tracker) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	if err := t.checkKey(key); err != nil {
		return adapters.Attachment{}, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return adapters.Attachment{}, fmt.Errorf("jira: read the file %q: %w", a.Filename, err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if a.Digest != "" && a.Digest != digest {
		return adapters.Attachment{}, fmt.Errorf("jira: the file %q has digest %s, not the %s announced: %w", a.Filename, digest, a.Digest, adapters.ErrRejected)
	}
	if a.Size > 0 && a.Size != int64(len(data)) {
		return adapters.Attachment{}, fmt.Errorf("jira: the file %q has %d bytes, not the %d announced: %w", a.Filename, len(data), a.Size, adapters.ErrRejected)
	}
	w, err := t.getWire(ctx, key)
	if err != nil {
		return adapters.Attachment{}, err
	}
	m := markerOf(w)
	files := t.issue(w).Attachments
	if f, ok := adapters.FindFile(files, a.SyncID, ""); ok {
		return f, nil
	}
	if err := t.fillDigests(ctx, files); err != nil {
		return adapters.Attachment{}, err
	}
	if f, ok := adapters.FindFile(files, "", digest); ok {
		return f, nil
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	hdr := textproto.MIMEHeader{}
	name := a.Filename
	if name == "" {
		name = "file"
	}
	hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%s`, strconv.Quote(strings.ReplaceAll(name, `"`, "'"))))
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	hdr.Set("Content-Type", ct)
	part, _ := mw.CreatePart(hdr)
	part.Write(data)
	mw.Close()
	var made []wireAttachment
	if _, err := t.c.Upload(ctx, "POST", t.api+"/issue/"+url.PathEscape(key)+"/attachments", nil, mw.FormDataContentType(), &buf, int64(buf.Len()), &made); err != nil {
		return adapters.Attachment{}, fmt.Errorf("jira: attach %q to %s: %w", a.Filename, key, err)
	}
	if len(made) != 1 {
		return adapters.Attachment{}, fmt.Errorf("jira: attaching %q to %s returned %d attachments, want 1: %w", a.Filename, key, len(made), adapters.ErrUnavailable)
	}
	if m.Files == nil {
		m.Files = map[string][2]string{}
	}
	m.Files[made[0].ID] = [2]string{digest, a.SyncID}
	if err := t.putMarker(ctx, key, m); err != nil {
		return adapters.Attachment{}, err
	}
	out := t.attachmentOf(made[0], m)
	if out.Created.IsZero() {
		out.Created = time.Now()
	}
	return out, nil
}
