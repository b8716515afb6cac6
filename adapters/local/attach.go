package local

// Attachments of the local tracker (adapters.Attachments).
//
// A file's bytes are stored before its metadata: AddAttachment streams them
// into chunks under a fresh blob ID (f/<blob>/<chunk number>, chunks of
// attachChunk bytes; Badger's write batches split them into transactions,
// and chunks of 1 MiB go to the value log rather than the LSM tree), hashing
// them as they pass. Then one writer op adds the metadata to the issue
// record, as an effective change of the issue (next revision, change feed,
// OnChange). If the issue already has a file with the same SyncID or
// digest, that op deletes the new chunks instead and the existing
// attachment is returned. A failed add deletes its chunks; a crash between
// the chunks and the metadata leaves chunks that nothing names (at most one
// file's worth per add in flight), which cost space but nothing else.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/issuemesh/issuemesh/adapters"
)

const (
	blobPrefix = "f/" // f/<blob ID>/<chunk number, 4 bytes big-endian> -> bytes

	// attachChunk is the size of a stored chunk (the last one may be
	// shorter). Part of the storage format.
	attachChunk = 1 << 20
	// MaxAttachmentSize is the largest file the local tracker keeps.
	MaxAttachmentSize = 64 << 20
	// maxFilenameLen bounds a file name, in bytes.
	maxFilenameLen = 255
	// maxAttachments bounds the files of one issue.
	maxAttachments = 1000
)

var _ adapters.Attachments = (*Tracker)(nil)

// attachment is a file's metadata as stored in the issue record.
type attachment struct {
	ID          uint64    `msgpack:"id"`
	SyncID      string    `msgpack:"sid,omitempty"`
	Filename    string    `msgpack:"fn"`
	ContentType string    `msgpack:"ty,omitempty"`
	Size        int64     `msgpack:"sz"`
	Digest      string    `msgpack:"dg"`
	Author      string    `msgpack:"a,omitempty"`
	Created     time.Time `msgpack:"ct"`
	Blob        string    `msgpack:"b"` // where the bytes are
}

func (a attachment) meta() adapters.Attachment {
	return adapters.Attachment{
		ID:          strconv.FormatUint(a.ID, 10),
		SyncID:      a.SyncID,
		Filename:    a.Filename,
		ContentType: a.ContentType,
		Size:        a.Size,
		Digest:      a.Digest,
		Author:      a.Author,
		Created:     a.Created,
	}
}

func chunkKey(blob string, i uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte(blobPrefix+blob+"/"), i)
}

func chunkCount(size int64) uint32 {
	return uint32((size + attachChunk - 1) / attachChunk)
}

// blobDeletes are the mutations that remove a blob of that size.
func blobDeletes(blob string, size int64) []mutation {
	n := chunkCount(size)
	muts := make([]mutation, 0, n)
	for i := range n {
		muts = append(muts, mutation{key: chunkKey(blob, i), del: true})
	}
	return muts
}

// findAttachment returns the index of the attachment with that SyncID or,
// when digest is not empty, that digest; -1 if none.
func (r *record) findAttachment(syncID, digest string) int {
	if syncID != "" {
		if i := slices.IndexFunc(r.Attachments, func(a attachment) bool { return a.SyncID == syncID }); i >= 0 {
			return i
		}
	}
	if digest != "" {
		return slices.IndexFunc(r.Attachments, func(a attachment) bool { return a.Digest == digest })
	}
	return -1
}

// checkAttachment validates the metadata given to AddAttachment.
func checkAttachment(key string, a adapters.Attachment) error {
	what := "attach to " + key
	switch {
	case strings.TrimSpace(a.Filename) == "":
		return rejectf("%s: the file name is empty", what)
	case len(a.Filename) > maxFilenameLen:
		return rejectf("%s: the file name is %d bytes, over the limit of %d", what, len(a.Filename), maxFilenameLen)
	case !utf8.ValidString(a.Filename) || strings.ContainsAny(a.Filename, "/\\\x00"):
		return rejectf("%s: the file name %q is not valid: no slashes, backslashes or NUL, and UTF-8", what, a.Filename)
	case a.Size < 0 || a.Size > MaxAttachmentSize:
		return rejectf("%s: %s is %d bytes, over the local tracker's limit of %d", what, a.Filename, a.Size, MaxAttachmentSize)
	case a.Digest != "" && !validDigest(a.Digest):
		return rejectf("%s: %s: digest %q is not a SHA-256 in lowercase hex", what, a.Filename, a.Digest)
	case len(a.SyncID) > maxTwinLen:
		return rejectf("%s: %s: sync ID of %d bytes, over the limit of %d", what, a.Filename, len(a.SyncID), maxTwinLen)
	}
	return nil
}

func validDigest(d string) bool {
	if len(d) != 2*sha256.Size {
		return false
	}
	for _, c := range d {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// AddAttachment stores the file read from r and attaches it to the issue.
// See adapters.Attachments and the storage notes at the top of this file.
// A file over MaxAttachmentSize, or whose size or digest differ from the
// given ones, is rejected.
func (t *Tracker) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	num, err := parseKey(t.prefix, key)
	if err != nil {
		return adapters.Attachment{}, err
	}
	key = formatKey(t.prefix, num)
	if err := checkAttachment(key, a); err != nil {
		return adapters.Attachment{}, err
	}
	// A retransmitted add finds the file without reading it again.
	var have *adapters.Attachment
	err = t.view(ctx, func(txn *badger.Txn) error {
		rec, err := t.getRecord(txn, num)
		if err != nil {
			return err
		}
		if rec == nil {
			return t.notFound(num)
		}
		if i := rec.findAttachment(a.SyncID, a.Digest); i >= 0 {
			m := rec.Attachments[i].meta()
			have = &m
		}
		return nil
	})
	if err != nil {
		return adapters.Attachment{}, err
	}
	if have != nil {
		return *have, nil
	}

	blob := newBlobID()
	size, digest, err := t.writeBlob(ctx, blob, r, a)
	if err != nil {
		t.dropBlob(blob, size)
		return adapters.Attachment{}, err
	}
	at := now()
	created := a.Created.UTC().Truncate(time.Millisecond)
	if a.Created.IsZero() {
		created = at
	}
	res := t.submitOp(ctx, &op{key: key, attach: &attachment{
		SyncID: a.SyncID, Filename: a.Filename, ContentType: a.ContentType,
		Size: size, Digest: digest, Author: a.Author, Created: created, Blob: blob,
	}})
	if res.err != nil {
		t.dropBlob(blob, size)
		return adapters.Attachment{}, res.err
	}
	return res.att, nil
}

func newBlobID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// writeBlob streams r into the chunks of blob and returns the size and
// digest of what it stored; on error, size is what may have been written.
func (t *Tracker) writeBlob(ctx context.Context, blob string, r io.Reader, a adapters.Attachment) (int64, string, error) {
	t.closeMu.RLock()
	defer t.closeMu.RUnlock()
	if t.closed {
		return 0, "", fmt.Errorf("attach %s: %w", a.Filename, ErrClosed)
	}
	wb := t.db.NewWriteBatch()
	defer wb.Cancel()
	h := sha256.New()
	var size int64
	lr := io.LimitReader(r, MaxAttachmentSize+1)
	for i := uint32(0); ; i++ {
		if err := ctx.Err(); err != nil {
			return size, "", fmt.Errorf("attach %s: %w", a.Filename, err)
		}
		buf := make([]byte, attachChunk)
		n, err := io.ReadFull(lr, buf)
		if n > 0 {
			size += int64(n)
			if size > MaxAttachmentSize {
				return size, "", rejectf("attach %s: the file is over the local tracker's limit of %d bytes", a.Filename, MaxAttachmentSize)
			}
			h.Write(buf[:n])
			if werr := wb.Set(chunkKey(blob, i), buf[:n]); werr != nil {
				return size, "", fmt.Errorf("local tracker: attach %s: storing its bytes failed: %w: %w", a.Filename, werr, adapters.ErrUnavailable)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return size, "", fmt.Errorf("attach %s: reading the file failed: %w", a.Filename, err)
		}
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if a.Size > 0 && a.Size != size {
		return size, "", rejectf("attach %s: the file has %d bytes, not the %d announced", a.Filename, size, a.Size)
	}
	if a.Digest != "" && a.Digest != digest {
		return size, "", rejectf("attach %s: the file's SHA-256 is %s, not the %s announced", a.Filename, digest, a.Digest)
	}
	if err := wb.Flush(); err != nil {
		return size, "", fmt.Errorf("local tracker: attach %s: storing its bytes failed: %w: %w", a.Filename, err, adapters.ErrUnavailable)
	}
	return size, digest, nil
}

// dropBlob removes the chunks of a blob that will not be attached (best
// effort: a failure only leaves unused bytes behind).
func (t *Tracker) dropBlob(blob string, size int64) {
	if size <= 0 {
		return
	}
	t.closeMu.RLock()
	defer t.closeMu.RUnlock()
	if t.closed {
		return
	}
	wb := t.db.NewWriteBatch()
	defer wb.Cancel()
	for _, m := range blobDeletes(blob, size) {
		if err := wb.Delete(m.key); err != nil {
			t.log.Warn("removing the bytes of a file not attached failed", "blob", blob, "err", err)
			return
		}
	}
	if err := wb.Flush(); err != nil {
		t.log.Warn("removing the bytes of a file not attached failed", "blob", blob, "err", err)
	}
}

// computeAttach adds a's metadata to the issue as seen through txn, or,
// when the issue already has a file with a's SyncID or digest, returns that
// one and deletes a's chunks.
func (t *Tracker) computeAttach(txn *badger.Txn, key string, a attachment) (adapters.Issue, adapters.Attachment, []mutation, error) {
	num, err := parseKey(t.prefix, key)
	if err != nil {
		return adapters.Issue{}, adapters.Attachment{}, nil, err
	}
	r, err := t.getRecord(txn, num)
	if err != nil {
		return adapters.Issue{}, adapters.Attachment{}, nil, fmt.Errorf("local tracker: attach to %s: %w: %w", key, err, adapters.ErrUnavailable)
	}
	if r == nil {
		return adapters.Issue{}, adapters.Attachment{}, nil, t.notFound(num)
	}
	if i := r.findAttachment(a.SyncID, a.Digest); i >= 0 {
		return t.issueOf(txn, r), r.Attachments[i].meta(), blobDeletes(a.Blob, a.Size), nil
	}
	if len(r.Attachments) >= maxAttachments {
		return adapters.Issue{}, adapters.Attachment{}, nil, rejectf("attach %s to %s: the issue has %d files, the limit", a.Filename, key, maxAttachments)
	}
	a.ID = max(r.NextFile, 1)
	if n := len(r.Attachments); n > 0 {
		a.ID = max(a.ID, r.Attachments[n-1].ID+1)
	}
	r.Attachments = append(r.Attachments, a)
	oldRev := r.Rev
	r.Rev, r.Updated = t.ctr.nextRev, now()
	val, err := encodeRecord(r)
	if err != nil {
		return adapters.Issue{}, adapters.Attachment{}, nil, fmt.Errorf("local tracker: attach to %s: encode the issue: %w", key, err)
	}
	if len(val) > maxRecordSize {
		return adapters.Issue{}, adapters.Attachment{}, nil, rejectf("attach %s to %s: the issue would take %d bytes stored, over the limit of %d", a.Filename, key, len(val), maxRecordSize)
	}
	muts := []mutation{
		{key: issueKey(num), val: val},
		{key: revKey(oldRev), del: true},
		{key: revKey(r.Rev), val: u64(num)},
		{key: []byte(metaNextRev), val: u64(r.Rev + 1)},
	}
	t.ctr.nextRev++
	return t.issueOf(txn, r), a.meta(), muts, nil
}

// OpenAttachment returns the bytes of attachment id of the issue. The
// chunks are read one at a time as the reader is read; reading after Close
// of the tracker fails with ErrClosed.
func (t *Tracker) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	num, err := parseKey(t.prefix, key)
	if err != nil {
		return nil, err
	}
	var a attachment
	err = t.view(ctx, func(txn *badger.Txn) error {
		r, err := t.getRecord(txn, num)
		if err != nil {
			return err
		}
		if r == nil {
			return t.notFound(num)
		}
		i := slices.IndexFunc(r.Attachments, func(a attachment) bool { return strconv.FormatUint(a.ID, 10) == id })
		if i < 0 {
			return fmt.Errorf("local tracker: %s has no attachment %q: %w", formatKey(t.prefix, num), id, adapters.ErrNotFound)
		}
		a = r.Attachments[i]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &blobReader{t: t, a: a, key: formatKey(t.prefix, num)}, nil
}

// blobReader reads a stored file chunk by chunk.
type blobReader struct {
	t    *Tracker
	a    attachment
	key  string
	next uint32 // next chunk to load
	read int64  // bytes returned so far
	buf  []byte // unread part of the loaded chunk
	done bool
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, fmt.Errorf("read attachment %s of %s: already closed", b.a.Filename, b.key)
	}
	for len(b.buf) == 0 {
		if b.read >= b.a.Size {
			return 0, io.EOF
		}
		if err := b.load(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	b.read += int64(n)
	return n, nil
}

func (b *blobReader) load() error {
	err := b.t.view(context.Background(), func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(b.a.Blob, b.next))
		if err != nil {
			return err
		}
		b.buf, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) || err == nil && len(b.buf) == 0 {
		return fmt.Errorf("local tracker: attachment %s of %s: chunk %d of its bytes is missing: %w", b.a.Filename, b.key, b.next, adapters.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("local tracker: read attachment %s of %s: %w", b.a.Filename, b.key, err)
	}
	if rest := b.a.Size - b.read; int64(len(b.buf)) > rest {
		b.buf = b.buf[:rest]
	}
	b.next++
	return nil
}

func (b *blobReader) Close() error {
	b.done, b.buf = true, nil
	return nil
}
