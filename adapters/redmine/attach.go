package redmine

// Attachments (adapters.Attachments).
//
// Adding a file uploads its bytes to /uploads.json for a token (Redmine's
// token is "<id>.<sha256>", which checks the bytes that arrived), then
// attaches the upload to the issue with a PUT of the issue. Redmine cannot
// set the author of a file, and its API does not give a file's digest, so
// the file's description keeps both, with the file's global ID (SyncID):
// "Alice (partner) [issuemesh:file ID] [issuemesh:sha256 HEX]"; where the
// field "issuemesh marker" exists the markers go there instead, set in the
// same PUT (see marker.go), and the description keeps only the author.
// Reading gives them back. The digest of a file added in Redmine itself (no marker)
// is computed by downloading it once; it is kept in memory by attachment ID
// (Redmine's files never change). OpenAttachment downloads
// /attachments/download/ID from the configured URL (not the content_url
// Redmine answers with, whose host is the one Redmine thinks it has), after
// checking that the file belongs to the issue. Redmine's own limit
// (Administration, Settings, Files, "Maximum attachment size", 5 MB by
// default) refuses bigger files with ErrRejected.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

var _ adapters.Attachments = (*Tracker)(nil)

// maxDescription is the length of an attachment's description in Redmine.
const maxDescription = 255

// maxUnknownSize is the largest file of unknown size AddAttachment takes
// (it holds it in memory to send its length), and the largest file added in
// Redmine itself whose digest is computed (bigger ones are not synced).
const maxUnknownSize = 64 << 20

// maxDigestCache bounds the digests kept in memory; past it the cache
// starts again.
const maxDigestCache = 10000

type wireFile struct {
	ID          int       `json:"id"`
	Filename    string    `json:"filename"`
	Filesize    int64     `json:"filesize"`
	ContentType string    `json:"content_type"`
	Description string    `json:"description"`
	Author      *ref      `json:"author"`
	CreatedOn   time.Time `json:"created_on"`
}

// fileMarks reads the markers at the end of a file's description.
func fileMarks(desc string) (author, syncID, digest string, ok bool) {
	i := strings.Index(desc, "[issuemesh:"+textmark.File)
	if i < 0 {
		return "", "", "", false
	}
	for _, part := range strings.SplitAfter(desc[i:], "]") {
		kind, value, ok := textmark.ParseLine(part)
		switch {
		case !ok:
		case kind == textmark.File:
			syncID = value
		case kind == textmark.Digest:
			digest = value
		}
	}
	return strings.TrimSpace(desc[:i]), syncID, digest, true
}

// fileDescription is what a file's description holds; the author is left
// out when the whole would not fit Redmine's 255 characters.
func fileDescription(a adapters.Attachment, digest string) (string, error) {
	if a.SyncID != "" {
		if err := textmark.Valid(a.SyncID); err != nil {
			return "", fmt.Errorf("file %s: %w: %w", a.Filename, err, adapters.ErrRejected)
		}
	}
	marks := textmark.Line(textmark.Visible, textmark.File, a.SyncID) + " " + textmark.Line(textmark.Visible, textmark.Digest, digest)
	if len(marks) > maxDescription {
		return "", fmt.Errorf("file %s: its sync ID %q is too long to keep in Redmine's description of a file: %w", a.Filename, a.SyncID, adapters.ErrRejected)
	}
	author := strings.Join(strings.Fields(strings.NewReplacer("[", "(", "]", ")").Replace(a.Author)), " ")
	if author != "" && len(author)+1+len(marks) <= maxDescription {
		return author + " " + marks, nil
	}
	return marks, nil
}

// fileAttachment converts a file; Digest is empty when neither the marker
// nor the cache knows it (fillDigests completes it).
// fieldMark is the file's markers kept in MarkerField, or "".
func (t *Tracker) fileAttachment(f wireFile, fieldMark string) adapters.Attachment {
	a := adapters.Attachment{
		ID: strconv.Itoa(f.ID), Filename: f.Filename, ContentType: f.ContentType,
		Size: f.Filesize, Created: f.CreatedOn.UTC(),
	}
	if f.Author != nil {
		a.Author = f.Author.Name
	}
	desc := f.Description
	if fieldMark != "" && !strings.Contains(desc, "[issuemesh:") {
		desc = strings.TrimSpace(desc + " " + fieldMark)
	}
	if author, sid, digest, ok := fileMarks(desc); ok {
		a.SyncID, a.Digest = sid, digest
		if author != "" {
			a.Author = author
		}
	}
	if a.Digest == "" {
		t.mu.Lock()
		a.Digest = t.digests[f.ID]
		t.mu.Unlock()
	}
	return a
}

// rememberOwner notes that file id belongs to issue (OpenAttachment).
func (t *Tracker) rememberOwner(id, issue int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.owners == nil || len(t.owners) >= maxDigestCache {
		t.owners = map[int]int{}
	}
	t.owners[id] = issue
}

func (t *Tracker) rememberDigest(id int, digest string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.digests == nil || len(t.digests) >= maxDigestCache {
		t.digests = map[int]string{}
	}
	t.digests[id] = digest
}

// fillDigests computes the digests of the issue's files that have none,
// by downloading them. A file that cannot be read (gone from Redmine's
// disk) keeps an empty digest, with a warning; a Redmine that does not
// answer is an error.
func (t *Tracker) fillDigests(ctx context.Context, is *adapters.Issue) error {
	for i := range is.Attachments {
		a := &is.Attachments[i]
		if a.Digest != "" {
			continue
		}
		if a.Size > maxUnknownSize {
			continue // not downloaded just to learn its digest: not synced
		}
		id, _ := strconv.Atoi(a.ID)
		d, _, err := t.download(ctx, id, sha256.New())
		if err != nil {
			if errors.Is(err, adapters.ErrUnavailable) || ctx.Err() != nil {
				return fmt.Errorf("redmine issue %s: reading file %s to compute its digest: %w", is.Key, a.Filename, err)
			}
			t.log.Warn("a file of an issue cannot be read; it is not synced", "issue", is.Key, "file", a.Filename, "id", a.ID, "err", err)
			continue
		}
		a.Digest = d
		t.rememberDigest(id, d)
	}
	return nil
}

// download reads file id through h and returns its digest and size.
func (t *Tracker) download(ctx context.Context, id int, h hash.Hash) (string, int64, error) {
	body, err := t.openFile(ctx, id)
	if err != nil {
		return "", 0, err
	}
	defer body.Close()
	n, err := io.Copy(h, body)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func (t *Tracker) openFile(ctx context.Context, id int) (io.ReadCloser, error) {
	body, _, err := t.c.Download(ctx, fmt.Sprintf("/attachments/download/%d", id), nil)
	return body, err
}

// OpenAttachment returns the bytes of file id of the issue.
func (t *Tracker) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	n, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	fid, _ := strconv.Atoi(id)
	t.mu.Lock()
	owner := t.owners[fid]
	t.mu.Unlock()
	if fid > 0 && owner == n {
		// The file was on this issue when it was read: no need to read
		// the issue again to check (files never move between issues).
		return t.openFile(ctx, fid)
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return nil, err
	}
	for _, f := range w.Attachments {
		if f.ID == fid && fid > 0 {
			return t.openFile(ctx, fid)
		}
	}
	return nil, fmt.Errorf("redmine issue %d has no file %q: %w", n, id, adapters.ErrNotFound)
}

// countingReader counts and hashes what passes.
type countingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	return n, err
}

// AddAttachment uploads the file and attaches it to the issue, unless the
// issue has a file with the same SyncID or digest already.
func (t *Tracker) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	is, err := t.Get(ctx, key)
	if err != nil {
		return adapters.Attachment{}, err
	}
	fail := func(err error) (adapters.Attachment, error) {
		return adapters.Attachment{}, fmt.Errorf("redmine issue %s: attach %s: %w", is.Key, a.Filename, err)
	}
	if strings.TrimSpace(a.Filename) == "" {
		return fail(fmt.Errorf("the file name is empty: %w", adapters.ErrRejected))
	}
	if have, ok := adapters.FindFile(is.Attachments, a.SyncID, a.Digest); ok {
		return have, nil
	}
	if a.Digest != "" {
		if _, err := fileDescription(a, a.Digest); err != nil {
			return fail(err) // before sending the bytes
		}
	}

	// Upload. Redmine answers with a token "<id>.<sha256 of what arrived>".
	// Redmine's server does not take a chunked body reliably: send a
	// length, buffering a file of unknown size.
	size := a.Size
	if a.Size == 0 && a.Digest == "" {
		b, err := io.ReadAll(io.LimitReader(r, maxUnknownSize+1))
		if err != nil {
			return fail(fmt.Errorf("reading the file: %w", err))
		}
		if len(b) > maxUnknownSize {
			return fail(fmt.Errorf("a file of unknown size over %d bytes: give its size: %w", maxUnknownSize, adapters.ErrRejected))
		}
		r, size = bytes.NewReader(b), int64(len(b))
	}
	cr := &countingReader{r: io.LimitReader(r, size), h: sha256.New()}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	var up struct {
		Upload *struct {
			Token string `json:"token"`
		} `json:"upload"`
	}
	if _, err := t.c.Upload(ctx, http.MethodPost, "/uploads.json", url.Values{"filename": {a.Filename}}, "application/octet-stream", cr, size, &up); err != nil {
		return fail(fmt.Errorf("upload: %w", err))
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return fail(fmt.Errorf("the file has more than the %d bytes announced: %w", size, adapters.ErrRejected))
	}
	digest := hex.EncodeToString(cr.h.Sum(nil))
	switch {
	case up.Upload == nil || up.Upload.Token == "":
		return fail(fmt.Errorf("POST %s/uploads.json: the answer holds no upload token: %w", t.c.BaseURL(), adapters.ErrBadAnswer))
	case cr.n != size:
		return fail(fmt.Errorf("the file has %d bytes, not the %d announced: %w", cr.n, size, adapters.ErrRejected))
	case a.Digest != "" && digest != a.Digest:
		return fail(fmt.Errorf("the file's SHA-256 is %s, not the %s announced: %w", digest, a.Digest, adapters.ErrRejected))
	}
	if _, tokDigest, ok := strings.Cut(up.Upload.Token, "."); ok && len(tokDigest) == len(digest) && tokDigest != digest {
		return fail(fmt.Errorf("the bytes Redmine received differ from those sent (their SHA-256 is %s, not %s): %w", tokDigest, digest, adapters.ErrUnavailable))
	}
	if have, ok := adapters.FindFile(is.Attachments, "", digest); ok {
		return have, nil // the upload stays unattached; Redmine prunes those
	}
	desc, err := fileDescription(a, digest)
	if err != nil {
		return fail(err)
	}
	var cfs []map[string]any
	if nc, err := t.cache(ctx, 0); err == nil && nc.markerCF != 0 {
		// The markers go to MarkerField, the author stays in sight.
		i := strings.Index(desc, "[issuemesh:")
		cfs = []map[string]any{{"id": nc.markerCF, "value": desc[i:]}}
		desc = strings.TrimSpace(desc[:i])
	}

	// Attach. Not retried by the client: a lost answer is found by the
	// marker on the engine's retry, never attached twice.
	id, _ := parseKey(is.Key)
	issue := map[string]any{"uploads": []map[string]any{{
		"token": up.Upload.Token, "filename": a.Filename, "content_type": ct, "description": desc,
	}}}
	if cfs != nil {
		issue["custom_fields"] = cfs
	}
	body := map[string]any{"issue": issue}
	if _, err := t.c.Do(ctx, rest.Request{Method: http.MethodPut, Path: fmt.Sprintf("/issues/%d.json", id), Body: body}, nil); err != nil {
		return fail(err)
	}
	after, err := t.Get(ctx, is.Key)
	if err != nil {
		return fail(fmt.Errorf("read the issue back: %w", err))
	}
	// The newest file with the marker's digest (and sync ID) is this one.
	for i := len(after.Attachments) - 1; i >= 0; i-- {
		f := after.Attachments[i]
		if f.Digest == digest && f.SyncID == a.SyncID {
			if n, _ := strconv.Atoi(f.ID); n > 0 {
				t.rememberDigest(n, digest)
			}
			return f, nil
		}
	}
	return fail(fmt.Errorf("the file is not on the issue after attaching it (Redmine's answer was a success): %w", adapters.ErrUnavailable))
}
