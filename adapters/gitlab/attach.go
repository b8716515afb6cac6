package gitlab

// Attachments (adapters.Attachments), on GitLab's markdown uploads.
//
// GitLab has no attachment list of an issue: a file is an upload of the
// project (POST /projects/:id/uploads) linked from the text of the issue or
// of a note ("[name](/uploads/SECRET/NAME)"). Adding a file uploads it and
// adds a note that links it and carries hidden markers with its digest,
// size and sync ID ("<!-- issuemesh:file SYNCID -->", "sha256", "size").
// Such a file note is an attachment, never a comment. The note touches the
// issue's updated_at, which puts the new file in the change feed. A file a
// person put on the issue (an upload link in the description or a note) is
// an attachment too: its digest and size come from downloading it once
// (kept in memory; an upload never changes). An attachment's ID is
// "SECRET/NAME"; OpenAttachment downloads GET
// /projects/:id/uploads/SECRET/NAME. A crash between upload and note
// leaves an unlinked upload and nothing on the issue: the retry uploads
// again.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

var _ adapters.Attachments = (*Tracker)(nil)

// maxFile is the largest file synced to or from GitLab (GitLab.com's
// attachment limit is 100 MB; self-managed defaults to 100 MB too).
const maxFile = 64 << 20

// sizeMark is the marker kind of a file note's size in bytes.
const sizeMark = "size"

// uploadLink finds upload links in Markdown: the secret and the name.
var uploadLink = regexp.MustCompile(`/uploads/([0-9a-f]{32})/([^)\s"'<>]+)`)

// isFileNote reports whether note x carries a file added by sync.
func isFileNote(x *gl.Note) bool {
	_, marks := textmark.Split(x.Body)
	_, ok := marks[textmark.Digest]
	return ok && uploadLink.MatchString(x.Body)
}

// files lists the attachments of issue w whose notes are ns: file notes
// first, then the uploads linked from the description and other notes.
func (t *Tracker) files(ctx context.Context, w *gl.Issue, ns []*gl.Note) ([]adapters.Attachment, error) {
	var out []adapters.Attachment
	seen := map[string]bool{}
	for _, x := range ns {
		if !isFileNote(x) {
			continue
		}
		body, marks := textmark.Split(x.Body)
		m := uploadLink.FindStringSubmatch(body)
		name, _ := url.PathUnescape(m[2])
		size, _ := strconv.ParseInt(marks[sizeMark], 10, 64)
		f := adapters.Attachment{ID: m[1] + "/" + m[2], SyncID: marks[textmark.File], Filename: name, Size: size,
			Digest: marks[textmark.Digest], Created: stamp(x.CreatedAt)}
		if _, ok := marks[textmark.Comment]; ok || f.SyncID != "" {
			if a, _, ok := textmark.CutAuthor(body); ok {
				f.Author = a
			}
		}
		if f.Author == "" {
			f.Author = x.Author.Username
		}
		seen[f.ID] = true
		out = append(out, f)
	}
	type text struct{ body, author string }
	texts := []text{{body: w.Description}}
	if w.Author != nil {
		texts[0].author = w.Author.Username
	}
	for _, x := range ns {
		if !isFileNote(x) {
			texts = append(texts, text{x.Body, x.Author.Username})
		}
	}
	for _, tx := range texts {
		for _, m := range uploadLink.FindAllStringSubmatch(tx.body, -1) {
			id := m[1] + "/" + m[2]
			if seen[id] {
				continue
			}
			seen[id] = true
			name, _ := url.PathUnescape(m[2])
			digest, size, err := t.digestOf(ctx, m[1], name)
			if err != nil {
				return nil, err
			}
			if digest == "" {
				continue // gone, or too large to sync
			}
			out = append(out, adapters.Attachment{ID: id, Filename: name, Size: size, Digest: digest, Author: tx.author, Created: stamp(w.CreatedAt)})
		}
	}
	return out, nil
}

// digestOf is the SHA-256 and size of a person's upload (downloaded once).
func (t *Tracker) digestOf(ctx context.Context, secret, name string) (string, int64, error) {
	k := secret + "/" + name
	t.mu.Lock()
	d, ok := t.digests[k]
	t.mu.Unlock()
	if ok {
		return d.sum, d.size, nil
	}
	rc, err := t.download(ctx, secret, name)
	if err != nil {
		if errors.Is(err, adapters.ErrNotFound) {
			return "", 0, nil
		}
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(rc, maxFile+1))
	if err != nil {
		return "", 0, fmt.Errorf("gitlab: download upload %s: %w: %w", name, err, adapters.ErrUnavailable)
	}
	if n > maxFile {
		return "", 0, nil
	}
	d = fileSum{sum: hex.EncodeToString(h.Sum(nil)), size: n}
	t.mu.Lock()
	if len(t.digests) >= 10000 {
		clear(t.digests)
	}
	t.digests[k] = d
	t.mu.Unlock()
	return d.sum, d.size, nil
}

type fileSum struct {
	sum  string
	size int64
}

func (t *Tracker) download(ctx context.Context, secret, name string) (io.ReadCloser, error) {
	rc, resp, err := t.c.ProjectMarkdownUploads.DownloadProjectMarkdownUploadBySecretAndFilename(t.project, secret, name, gl.WithContext(ctx))
	if err != nil {
		return nil, classify(ctx, "download upload "+name, resp, err)
	}
	return rc, nil
}

// OpenAttachment returns the content of attachment id ("SECRET/NAME") of
// the issue.
func (t *Tracker) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	n, err := t.number(key)
	if err != nil {
		return nil, err
	}
	secret, esc, ok := strings.Cut(id, "/")
	name, uerr := url.PathUnescape(esc)
	if !ok || uerr != nil || len(secret) != 32 || name == "" {
		return nil, notFound("attachment %q of %s: not an upload of this adapter (SECRET/NAME)", id, t.key(n))
	}
	return t.download(ctx, secret, name)
}

// AddAttachment uploads the file and links it from a file note (see the
// top of this file).
func (t *Tracker) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	n, err := t.number(key)
	if err != nil {
		return adapters.Attachment{}, err
	}
	if a.SyncID != "" && textmark.Valid(a.SyncID) != nil {
		return adapters.Attachment{}, rejected("file %q: its sync ID %q cannot be kept in a marker", a.Filename, a.SyncID)
	}
	name := strings.TrimSpace(a.Filename)
	if name == "" || strings.ContainsAny(name, "/\\") {
		return adapters.Attachment{}, rejected("file %q: a file needs a name without slashes", a.Filename)
	}
	if a.Size > maxFile {
		return adapters.Attachment{}, rejected("file %q is %d bytes; the GitLab adapter syncs files up to %d MiB", name, a.Size, maxFile>>20)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return adapters.Attachment{}, fmt.Errorf("gitlab: read file %q: %w", name, err)
	}
	if len(data) > maxFile {
		return adapters.Attachment{}, rejected("file %q is over %d MiB, the largest the GitLab adapter syncs", name, maxFile>>20)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if a.Size != 0 && a.Size != int64(len(data)) || a.Digest != "" && a.Digest != digest {
		return adapters.Attachment{}, rejected("file %q: got %d bytes with SHA-256 %s, want %d bytes with %s", name, len(data), digest, a.Size, a.Digest)
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return adapters.Attachment{}, err
	}
	if t.kept(w) {
		return adapters.Attachment{}, notFound("%s is confidential and kept back (no rule shares confidential issues)", t.key(n))
	}
	ns, err := t.notes(ctx, n)
	if err != nil {
		return adapters.Attachment{}, err
	}
	have, err := t.files(ctx, w, ns)
	if err != nil {
		return adapters.Attachment{}, err
	}
	if f, ok := adapters.FindFile(have, a.SyncID, digest); ok {
		return f, nil
	}
	up, resp, err := t.c.ProjectMarkdownUploads.UploadProjectMarkdown(t.project, bytes.NewReader(data), name, gl.WithContext(ctx))
	if err != nil {
		return adapters.Attachment{}, classify(ctx, fmt.Sprintf("upload %q for %s", name, t.key(n)), resp, err)
	}
	m := uploadLink.FindStringSubmatch(up.URL)
	if m == nil {
		return adapters.Attachment{}, fmt.Errorf("gitlab: upload %q: the answer's url %q is not an upload link: %w", name, up.URL, adapters.ErrBadAnswer)
	}
	body := "📎 [" + strings.NewReplacer("[", "(", "]", ")").Replace(name) + "](" + up.URL + ")"
	if a.SyncID != "" {
		body = textmark.WithAuthor(textmark.Hidden, a.Author, body)
	}
	body = textmark.Add(textmark.Hidden, body, textmark.File, a.SyncID)
	body = textmark.Add(textmark.Hidden, body, textmark.Digest, digest)
	body = textmark.Add(textmark.Hidden, body, sizeMark, strconv.Itoa(len(data)))
	note, resp, err := t.c.Notes.CreateIssueNote(t.project, n, &gl.CreateIssueNoteOptions{Body: new(body)}, gl.WithContext(ctx))
	if err != nil {
		return adapters.Attachment{}, classify(ctx, fmt.Sprintf("link upload %q from a note of %s", name, t.key(n)), resp, err)
	}
	return adapters.Attachment{ID: m[1] + "/" + m[2], SyncID: a.SyncID, Filename: name, ContentType: a.ContentType,
		Size: int64(len(data)), Digest: digest, Author: a.Author, Created: stamp(note.CreatedAt)}, nil
}
