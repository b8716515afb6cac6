package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/issuemesh/issuemesh/adapters"
)

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// zeros reads n zero bytes without holding them.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

// blobChunks counts the stored chunks of every file.
func blobChunks(t *testing.T, tr *Tracker) int {
	t.Helper()
	n := 0
	err := tr.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte(blobPrefix), false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A file of several chunks survives a reopen; the same bytes added again
// leave no second set of chunks; files over the limit are refused, whether
// announced so or found so while reading, and leave no chunks behind.
func TestAttachmentStorage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	is := create(t, tr, adapters.Issue{Summary: "files"})
	data := bytes.Repeat([]byte("0123456789abcdef"), (5*attachChunk/2)/16+3) // 2.5 chunks
	a, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "big.log", ContentType: "text/plain", Author: "me"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "1" || a.Size != int64(len(data)) || a.Digest != sha(data) || a.Created.IsZero() || a.Author != "me" {
		t.Fatalf("added: %+v", a)
	}
	if n := blobChunks(t, tr); n != 3 {
		t.Fatalf("%d chunks stored for 2.5 chunks of data, want 3", n)
	}
	// Same bytes, no sync ID: found by digest in the writer, chunks dropped.
	if b, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "again.log"}, bytes.NewReader(data)); err != nil || b.ID != "1" {
		t.Fatalf("same bytes again: %+v, %v", b, err)
	}
	if n := blobChunks(t, tr); n != 3 {
		t.Fatalf("%d chunks after a duplicate add, want 3", n)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = openTest(t, dir, Options{})
	got := get(t, tr, is.Key)
	if len(got.Attachments) != 1 || got.Attachments[0] != a {
		t.Fatalf("after reopening: %+v, want [%+v]", got.Attachments, a)
	}
	rc, err := tr.OpenAttachment(ctx, is.Key, "1")
	if err != nil {
		t.Fatal(err)
	}
	// Small reads across chunk boundaries.
	var out bytes.Buffer
	if _, err := io.CopyBuffer(&out, struct{ io.Reader }{rc}, make([]byte, 4093)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("read back %d bytes, want %d", out.Len(), len(data))
	}

	if _, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "huge", Size: MaxAttachmentSize + 1}, &zeros{1}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("announced over the limit: %v, want ErrRejected", err)
	}
	if _, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "huge"}, &zeros{MaxAttachmentSize + 1}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("over the limit while reading: %v, want ErrRejected", err)
	}
	for _, name := range []string{"", "a/b", "x\x00y"} {
		if _, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: name}, bytes.NewReader(nil)); !errors.Is(err, adapters.ErrRejected) {
			t.Errorf("file name %q: %v, want ErrRejected", name, err)
		}
	}
	if n := blobChunks(t, tr); n != 3 {
		t.Errorf("%d chunks after refused adds, want 3", n)
	}
	// An empty file is a file.
	if e, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "empty"}, bytes.NewReader(nil)); err != nil || e.Size != 0 || e.Digest != sha(nil) {
		t.Errorf("empty file: %+v, %v", e, err)
	}
	if got := get(t, tr, is.Key); len(got.Attachments) != 2 {
		t.Errorf("at the end: %+v", got.Attachments)
	}
}
