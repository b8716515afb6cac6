package local

import (
	"bytes"
	"context"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// TestOrphanChunksRemovedOnOpen leaves the chunks of an add that was cut
// between its bytes and its metadata (a crash), beside an attached file:
// the next open removes the orphan's chunks and keeps the attached file's.
func TestOrphanChunksRemovedOnOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	is := create(t, tr, adapters.Issue{Summary: "files"})
	data := bytes.Repeat([]byte("x"), 3*attachChunk/2)
	a, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "kept.log"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	orphan := bytes.Repeat([]byte("y"), 5*attachChunk/2)
	if _, _, err := tr.writeBlob(ctx, newBlobID(), bytes.NewReader(orphan), adapters.Attachment{Filename: "cut.log"}); err != nil {
		t.Fatal(err)
	}
	if n := blobChunks(t, tr); n != 5 {
		t.Fatalf("%d chunks before reopening, want 2 kept and 3 orphaned", n)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = openTest(t, dir, Options{})
	if n := blobChunks(t, tr); n != 2 {
		t.Fatalf("%d chunks after reopening, want the 2 of the attached file", n)
	}
	rc, err := tr.OpenAttachment(ctx, is.Key, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("the attached file after the sweep: %d bytes, %v", got.Len(), err)
	}
}
