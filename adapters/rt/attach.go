package rt

// Attachments (adapters.Attachments).
//
// A file is added as an internal comment carrying it (REST2 takes the bytes
// base64-encoded in the comment's JSON), one file per comment. The
// comment's text names the file and its author, and ends with the marker
// lines "[issuemesh:sha256 HEX]" and "[issuemesh:file ID]" (ID: the file's
// global ID, empty for a file without one). Reading lists the ticket's
// attachments that have a file name: for a file in a message with the
// markers, the sync ID, digest and author come from the markers, and the
// message itself is not a comment. The digest of a file added in RT itself
// is computed by downloading it once (GET /attachment/ID, base64); it is
// kept in memory by attachment ID (RT's attachments never change).
//
// RT converts text files to UTF-8: a text/* file whose bytes are not UTF-8
// is sent as application/octet-stream so that its bytes stay as they are.
// RT's $MaxAttachmentSize (10 MB by default) may truncate or drop a file
// (with $TruncateLongAttachments / $DropLongAttachments); the size read
// back is checked, and a file that did not arrive whole is rejected.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

var _ adapters.Attachments = (*Tracker)(nil)

// MaxAttachmentSize is the largest file the adapter sends or reads: files
// travel whole, base64-encoded in JSON, held in memory, and an answer must
// stay within the HTTP client's 32 MiB. Bigger files in RT are listed
// without a digest, so they are not synced.
const MaxAttachmentSize = 20 << 20

// maxDigestCache bounds the digests kept in memory; past it the cache
// starts again.
const maxDigestCache = 10000

type wireFile struct {
	ID            flexString `json:"id"`
	TransactionID flexString `json:"TransactionId"`
	Filename      string     `json:"Filename"`
	ContentType   string     `json:"ContentType"`
	ContentLength flexString `json:"ContentLength"`
	Created       string     `json:"Created"`
	Creator       *obj       `json:"Creator"`
}

// ticketFiles lists the ticket's files, then loads the texts (see get3):
// each transaction's text part, where the markers of a synced file are.
// In that order, a file added between the two reads has its text.
func (t *Tracker) ticketFiles(ctx context.Context, id int, loadText func() (map[string]string, error)) ([]adapters.Attachment, error) {
	files, err := all[wireFile](ctx, t, fmt.Sprintf("/ticket/%d/attachments", id),
		url.Values{"fields": {"TransactionId,ContentType,Filename,ContentLength,Created,Creator"}},
		[]map[string]string{{"field": "Filename", "operator": "!=", "value": ""}})
	if err != nil {
		return nil, err
	}
	text, err := loadText()
	if err != nil {
		return nil, err
	}
	var out []adapters.Attachment
	for _, f := range files {
		if f.Filename == "" {
			continue
		}
		size, _ := strconv.ParseInt(string(f.ContentLength), 10, 64)
		a := adapters.Attachment{
			ID: string(f.ID), Filename: f.Filename, ContentType: f.ContentType,
			Size: size, Created: parseTime(f.Created),
		}
		if f.Creator != nil {
			a.Author = string(f.Creator.ID)
		}
		if body, ok := text[string(f.TransactionID)]; ok {
			body, marks := textmark.Split(body)
			if sid, ok := marks[textmark.File]; ok {
				a.SyncID, a.Digest = sid, marks[textmark.Digest]
				if author, _, ok := textmark.CutAuthor(body); ok {
					a.Author = author
				}
			}
		}
		if a.Digest == "" {
			t.mu.Lock()
			a.Digest = t.digests[a.ID]
			t.mu.Unlock()
		}
		out = append(out, a)
	}
	return out, t.fillDigests(ctx, id, out)
}

func (t *Tracker) rememberDigest(id, digest string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.digests == nil || len(t.digests) >= maxDigestCache {
		t.digests = map[string]string{}
	}
	t.digests[id] = digest
}

// fillDigests computes the digests of the files that have none by
// downloading them. A file that cannot be read keeps an empty digest, with
// a warning; an RT that does not answer is an error.
func (t *Tracker) fillDigests(ctx context.Context, ticket int, files []adapters.Attachment) error {
	for i := range files {
		a := &files[i]
		if a.Digest != "" {
			continue
		}
		if a.Size > MaxAttachmentSize {
			t.warnOnce("big file "+a.ID, fmt.Sprintf("file %s of ticket %d has %d bytes, over the adapter's limit of %d: it is not synced", a.Filename, ticket, a.Size, MaxAttachmentSize))
			continue
		}
		b, err := t.fileBytes(ctx, a.ID)
		if err != nil {
			if errors.Is(err, adapters.ErrUnavailable) || ctx.Err() != nil {
				return fmt.Errorf("rt ticket %d: reading file %s to compute its digest: %w", ticket, a.Filename, err)
			}
			t.log.Warn("a file of a ticket cannot be read; it is not synced", "ticket", ticket, "file", a.Filename, "id", a.ID, "err", err)
			continue
		}
		h := sha256.Sum256(b)
		a.Digest = hex.EncodeToString(h[:])
		t.rememberDigest(a.ID, a.Digest)
	}
	return nil
}

// fileBytes reads attachment id (REST2 gives its content base64-encoded).
func (t *Tracker) fileBytes(ctx context.Context, id string) ([]byte, error) {
	var w struct {
		Content *string `json:"Content"`
	}
	if err := t.get(ctx, "/attachment/"+url.PathEscape(id), nil, &w); err != nil {
		return nil, err
	}
	if w.Content == nil {
		return nil, fmt.Errorf("GET %s/attachment/%s: the answer has no content: %w", t.c.BaseURL(), id, adapters.ErrBadAnswer)
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(*w.Content), ""))
	if err != nil {
		return nil, fmt.Errorf("GET %s/attachment/%s: the content is not base64: %w: %w", t.c.BaseURL(), id, err, adapters.ErrUnavailable)
	}
	return b, nil
}

// OpenAttachment returns the bytes of file id of the ticket.
func (t *Tracker) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	n, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	files, err := all[wireFile](ctx, t, fmt.Sprintf("/ticket/%d/attachments", n), url.Values{"fields": {"Filename"}},
		[]map[string]string{{"field": "Filename", "operator": "!=", "value": ""}})
	if err != nil {
		if errors.Is(err, adapters.ErrNotFound) {
			return nil, fmt.Errorf("rt has no ticket %d: %w", n, err)
		}
		return nil, err
	}
	for _, f := range files {
		if string(f.ID) == id && f.Filename != "" {
			b, err := t.fileBytes(ctx, id)
			if err != nil {
				return nil, err
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		}
	}
	return nil, fmt.Errorf("rt ticket %d has no file %q: %w", n, id, adapters.ErrNotFound)
}

// AddAttachment adds the file as an internal comment carrying it, unless
// the ticket has a file with the same SyncID or digest already.
func (t *Tracker) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	id, err := parseKey(key)
	if err != nil {
		return adapters.Attachment{}, err
	}
	fail := func(err error) (adapters.Attachment, error) {
		return adapters.Attachment{}, fmt.Errorf("rt ticket %d: attach %s: %w", id, a.Filename, err)
	}
	if strings.TrimSpace(a.Filename) == "" {
		return fail(fmt.Errorf("the file name is empty: %w", adapters.ErrRejected))
	}
	if a.SyncID != "" {
		if err := textmark.Valid(a.SyncID); err != nil {
			return fail(fmt.Errorf("sync ID: %w: %w", err, adapters.ErrRejected))
		}
	}
	if a.Size > MaxAttachmentSize {
		return fail(fmt.Errorf("%d bytes, over the adapter's limit of %d: %w", a.Size, MaxAttachmentSize, adapters.ErrRejected))
	}
	q, err := t.queueInfo(ctx)
	if err != nil {
		return adapters.Attachment{}, err
	}
	cur, _, err := t.get3(ctx, id)
	if err != nil {
		return adapters.Attachment{}, err
	}
	if have, ok := adapters.FindFile(cur.Attachments, a.SyncID, a.Digest); ok {
		return have, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxAttachmentSize+1))
	if err != nil {
		return fail(fmt.Errorf("reading the file: %w", err))
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	switch {
	case len(data) > MaxAttachmentSize:
		return fail(fmt.Errorf("over the adapter's limit of %d bytes: %w", MaxAttachmentSize, adapters.ErrRejected))
	case a.Size > 0 && int64(len(data)) != a.Size:
		return fail(fmt.Errorf("the file has %d bytes, not the %d announced: %w", len(data), a.Size, adapters.ErrRejected))
	case a.Digest != "" && a.Digest != digest:
		return fail(fmt.Errorf("the file's SHA-256 is %s, not the %s announced: %w", digest, a.Digest, adapters.ErrRejected))
	}
	if have, ok := adapters.FindFile(cur.Attachments, "", digest); ok {
		return have, nil
	}
	ct := a.ContentType
	if ct == "" || strings.HasPrefix(ct, "text/") && !utf8.Valid(data) {
		ct = "application/octet-stream" // RT would convert the text to UTF-8
	}
	text := textmark.WithAuthor(textmark.Visible, a.Author, "Attached "+a.Filename+".")
	marker := ""
	if q.markerCF {
		marker = textmark.Line(textmark.Visible, textmark.Digest, digest) + " " + textmark.Line(textmark.Visible, textmark.File, a.SyncID)
	} else {
		text = textmark.Add(textmark.Visible, textmark.Add(textmark.Visible, text, textmark.Digest, digest), textmark.File, a.SyncID)
	}
	body := map[string]any{
		"Content": text, "ContentType": "text/plain",
		"Attachments": []map[string]string{{
			"FileName": a.Filename, "FileType": ct, "FileContent": base64.StdEncoding.EncodeToString(data),
		}},
	}
	// Not retried by the client: a lost answer is found by the marker on
	// the engine's retry, never attached twice.
	if _, err := t.postMessage(ctx, fmt.Sprintf("/ticket/%d/comment", id), body, marker); err != nil {
		return fail(err)
	}
	after, _, err := t.get3(ctx, id)
	if err != nil {
		return fail(fmt.Errorf("read the ticket back: %w", err))
	}
	for i := len(after.Attachments) - 1; i >= 0; i-- {
		f := after.Attachments[i]
		if f.Digest != digest || f.SyncID != a.SyncID {
			continue
		}
		if f.Size != int64(len(data)) {
			return fail(fmt.Errorf("RT kept %d of its %d bytes (see RT's $MaxAttachmentSize): %w", f.Size, len(data), adapters.ErrRejected))
		}
		t.rememberDigest(f.ID, digest)
		return f, nil
	}
	return fail(fmt.Errorf("the file is not on the ticket after adding it, though RT answered with success (RT may drop large files, see $DropLongAttachments): %w", adapters.ErrRejected))
}
