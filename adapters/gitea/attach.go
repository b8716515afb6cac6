package gitea

// Attachments (adapters.Attachments), on Gitea's issue attachment API.
//
// Adding a file reads it (up to maxFile, in memory, as the SDK's multipart
// upload does anyway), checks its size and digest against what the caller
// said, and looks for the same file on the issue (by sync ID, then by
// digest) before it uploads it to POST /repos/O/R/issues/N/assets. Gitea
// keeps neither a file's digest nor its global ID, so the issue's body
// then gets a hidden marker for the file, "<!-- issuemesh:asset.ID
// SHA256,SYNCID -->", after the description and before the twin marker.
// That edit also bumps the issue's updated_at, which puts the new file in
// the change feed (an upload alone does not). A crash between the upload
// and the marker is healed by the retry: it finds the file by its digest
// and writes the missing marker. The digest of a file added in Gitea
// itself is computed by downloading it once and kept in memory (Gitea's
// files never change). Gitea refuses types outside [attachment]
// ALLOWED_TYPES (by default a list of document and image types, not
// .bin): that is ErrRejected, and tracker check shows the setting.
// OpenAttachment downloads /attachments/UUID from the configured URL with
// the token.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

var _ adapters.Attachments = (*Tracker)(nil)

// maxFile is the largest file synced to or from Gitea.
const maxFile = 64 << 20

// assetMark starts the marker kind of a file: "asset.ID".
const assetMark = "asset."

// maxDigestCache bounds the digests kept in memory; past it the cache
// starts again.
const maxDigestCache = 10000

// fileMarks are the file markers of body: attachment ID -> digest, sync ID.
func fileMarks(body string) map[int64][2]string {
	_, marks := textmark.Split(body)
	out := map[int64][2]string{}
	for k, v := range marks {
		ids, ok := strings.CutPrefix(k, assetMark)
		if !ok {
			continue
		}
		id, err := strconv.ParseInt(ids, 10, 64)
		if err != nil {
			continue
		}
		dig, sync, _ := strings.Cut(v, ",")
		out[id] = [2]string{dig, sync}
	}
	return out
}

// withFiles is the body of description desc with twin marker twin and the
// file markers that old carries.
func (t *Tracker) withFiles(old, desc, twin string) string {
	return bodyOf(desc, fileMarks(old), twin)
}

func bodyOf(desc string, files map[int64][2]string, twin string) string {
	b := desc
	ids := make([]int64, 0, len(files))
	for id := range files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		v := files[id][0]
		if files[id][1] != "" {
			v += "," + files[id][1]
		}
		b = textmark.Add(textmark.Hidden, b, assetMark+strconv.FormatInt(id, 10), v)
	}
	if twin != "" {
		b = textmark.Add(textmark.Hidden, b, textmark.Twin, twin)
	}
	return b
}

// files lists the attachments of issue w with their digests.
func (t *Tracker) files(ctx context.Context, w *sdk.Issue) ([]adapters.Attachment, error) {
	as, resp, err := t.api(ctx).ListIssueAttachments(t.owner, t.repo, w.Index)
	if err != nil {
		return nil, classify(ctx, "list the attachments of "+t.key(w.Index), resp, err)
	}
	marks := fileMarks(w.Body)
	var out []adapters.Attachment
	for _, a := range as {
		f := adapters.Attachment{ID: strconv.FormatInt(a.ID, 10), Filename: a.Name, Size: a.Size, Created: a.Created}
		if m, ok := marks[a.ID]; ok {
			f.Digest, f.SyncID = m[0], m[1]
		} else if f.Digest, err = t.digestOf(ctx, a); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// digestOf is the SHA-256 of a file added in Gitea itself (downloaded once).
func (t *Tracker) digestOf(ctx context.Context, a *sdk.Attachment) (string, error) {
	t.mu.Lock()
	d, ok := t.digests[a.ID]
	t.mu.Unlock()
	if ok {
		return d, nil
	}
	if a.Size > maxFile {
		return "", nil // not synced; an empty digest matches nothing
	}
	rc, err := t.download(ctx, a)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(rc, maxFile+1)); err != nil {
		return "", unreachable(fmt.Sprintf("download attachment %d", a.ID), err)
	}
	d = hex.EncodeToString(h.Sum(nil))
	t.mu.Lock()
	if len(t.digests) >= maxDigestCache {
		t.digests = map[int64]string{}
	}
	t.digests[a.ID] = d
	t.mu.Unlock()
	return d, nil
}

// download GETs the file's bytes from the configured URL (Gitea's
// browser_download_url names the host Gitea thinks it has).
func (t *Tracker) download(ctx context.Context, a *sdk.Attachment) (io.ReadCloser, error) {
	op := fmt.Sprintf("download attachment %d (%s)", a.ID, a.Name)
	if a.UUID == "" {
		return nil, fmt.Errorf("gitea: %s: the answer has no uuid: %w", op, adapters.ErrBadAnswer)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/attachments/"+a.UUID, nil)
	if err != nil {
		return nil, fmt.Errorf("gitea: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "token "+t.token)
	resp, err := t.tr.RoundTrip(req) // below limitBody: files may exceed it
	if err != nil {
		return nil, classify(ctx, op, nil, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, classify(ctx, op, &sdk.Response{Response: resp}, fmt.Errorf("status %s", resp.Status))
	}
	return resp.Body, nil
}

// OpenAttachment returns the content of attachment id of the issue.
func (t *Tracker) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	n, err := t.number(key)
	if err != nil {
		return nil, err
	}
	aid, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, notFound("attachment %q of %s: not an attachment ID", id, t.key(n))
	}
	a, resp, err := t.api(ctx).GetIssueAttachment(t.owner, t.repo, n, aid)
	if err != nil {
		return nil, classify(ctx, fmt.Sprintf("read attachment %d of %s", aid, t.key(n)), resp, err)
	}
	return t.download(ctx, a)
}

// AddAttachment attaches the content of r to the issue (see the top of
// this file).
func (t *Tracker) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	n, err := t.number(key)
	if err != nil {
		return adapters.Attachment{}, err
	}
	if a.SyncID != "" {
		if err := textmark.Valid(a.SyncID); err != nil || strings.Contains(a.SyncID, ",") {
			return adapters.Attachment{}, rejected("file %q: its sync ID %q cannot be kept in a marker", a.Filename, a.SyncID)
		}
	}
	if strings.TrimSpace(a.Filename) == "" {
		return adapters.Attachment{}, rejected("a file needs a name")
	}
	if a.Size > maxFile {
		return adapters.Attachment{}, rejected("file %q is %d bytes; the Gitea adapter syncs files up to %d MiB", a.Filename, a.Size, maxFile>>20)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return adapters.Attachment{}, fmt.Errorf("gitea: read file %q: %w", a.Filename, err)
	}
	if len(data) > maxFile {
		return adapters.Attachment{}, rejected("file %q is over %d MiB, the largest the Gitea adapter syncs", a.Filename, maxFile>>20)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if a.Size != 0 && a.Size != int64(len(data)) || a.Digest != "" && a.Digest != digest {
		return adapters.Attachment{}, rejected("file %q: got %d bytes with SHA-256 %s, want %d bytes with %s", a.Filename, len(data), digest, a.Size, a.Digest)
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return adapters.Attachment{}, err
	}
	have, err := t.files(ctx, w)
	if err != nil {
		return adapters.Attachment{}, err
	}
	if f, ok := adapters.FindFile(have, a.SyncID, digest); ok {
		if f.SyncID == "" && a.SyncID != "" && f.Digest == digest {
			// Uploaded by a try that crashed before its marker.
			id, _ := strconv.ParseInt(f.ID, 10, 64)
			if err := t.mark(ctx, n, id, digest, a.SyncID); err != nil {
				return adapters.Attachment{}, err
			}
			f.SyncID = a.SyncID
		}
		return f, nil
	}
	made, resp, err := t.api(ctx).CreateIssueAttachment(t.owner, t.repo, n, bytes.NewReader(data), a.Filename)
	if err != nil {
		return adapters.Attachment{}, classify(ctx, fmt.Sprintf("attach %q to %s", a.Filename, t.key(n)), resp, err)
	}
	if err := t.mark(ctx, n, made.ID, digest, a.SyncID); err != nil {
		return adapters.Attachment{}, err
	}
	return adapters.Attachment{ID: strconv.FormatInt(made.ID, 10), SyncID: a.SyncID, Filename: made.Name, ContentType: a.ContentType,
		Size: int64(len(data)), Digest: digest, Created: made.Created}, nil
}

// mark writes the file's marker into the issue's body (read anew, so that
// an edit made meanwhile is kept).
func (t *Tracker) mark(ctx context.Context, n, id int64, digest, sync string) error {
	w, err := t.getWire(ctx, n)
	if err != nil {
		return err
	}
	desc, marks := textmark.Split(w.Body)
	files := fileMarks(w.Body)
	files[id] = [2]string{digest, sync}
	b := bodyOf(desc, files, marks[textmark.Twin])
	if _, resp, err := t.api(ctx).EditIssue(t.owner, t.repo, n, sdk.EditIssueOption{Body: &b}); err != nil {
		return classify(ctx, fmt.Sprintf("mark attachment %d in the body of %s", id, t.key(n)), resp, err)
	}
	return nil
}
