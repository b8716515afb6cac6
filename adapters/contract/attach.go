package contract

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// digestOf is the SHA-256 of b in lowercase hex, as adapters.Attachment
// carries it.
func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// testAttachments: a synced file (binary, a few hundred KiB) is added with
// its sync ID, size and digest; Get lists it and OpenAttachment gives the
// same bytes back; adding it again (same sync ID), or the same bytes under
// no sync ID, adds nothing; a file written here gets no sync ID; a wrong
// digest is rejected; files are no comments; attaching is a change.
func testAttachments(t *testing.T, tr adapters.Tracker, p Profile) {
	at, ok := tr.(adapters.Attachments)
	if !ok {
		t.Skip("the tracker does not keep attachments (no adapters.Attachments)")
	}
	c := ctx(t)
	is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "with files"}))
	_, cur := drain(t, c, tr, "")

	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300<<10+17)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	in := adapters.Attachment{
		SyncID: "peerA/att-1", Filename: "trace dump.bin", ContentType: "application/octet-stream",
		Size: int64(len(data)), Digest: digestOf(data), Author: "Alice (partner)",
	}
	added := must[adapters.Attachment](t, "add attachment")(at.AddAttachment(c, is.Key, in, bytes.NewReader(data)))
	if added.ID == "" || added.SyncID != in.SyncID || added.Filename != in.Filename || added.Size != in.Size || added.Digest != in.Digest {
		t.Fatalf("AddAttachment returned %+v, want the file as given (%+v) with an ID", added, in)
	}
	got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
	if len(got.Attachments) != 1 {
		t.Fatalf("after one add, Get lists %d attachments: %+v", len(got.Attachments), got.Attachments)
	}
	if a := got.Attachments[0]; a.ID != added.ID || a.SyncID != in.SyncID || a.Filename != in.Filename || a.Size != in.Size || a.Digest != in.Digest {
		t.Errorf("Get lists %+v, want %+v", a, added)
	}
	if len(got.Comments) != 0 {
		t.Errorf("adding a file added comments: %+v", got.Comments)
	}
	checkBytes(t, at, is.Key, added.ID, data)

	seen, _ := drain(t, c, tr, cur)
	if _, ok := seen[is.Key]; !ok {
		t.Errorf("attaching a file to %s is not in the change feed", is.Key)
	}

	// Again, as a retransmission; then the same bytes under another name
	// and no sync ID: no second copy either way.
	again := must[adapters.Attachment](t, "add again")(at.AddAttachment(c, is.Key, in, bytes.NewReader(data)))
	same := in
	same.SyncID, same.Filename = "", "copy.bin"
	dup := must[adapters.Attachment](t, "add same bytes")(at.AddAttachment(c, is.Key, same, bytes.NewReader(data)))
	if again.ID != added.ID || dup.ID != added.ID {
		t.Errorf("adding the file again gave IDs %q and %q, want the existing %q", again.ID, dup.ID, added.ID)
	}

	// A file written here: no sync ID; its digest and size are computed.
	notes := []byte("plain notes\nline two\n")
	local := must[adapters.Attachment](t, "add a local file")(at.AddAttachment(c, is.Key,
		adapters.Attachment{Filename: "notes.txt", ContentType: "text/plain"}, bytes.NewReader(notes)))
	if local.SyncID != "" || local.Size != int64(len(notes)) || local.Digest != digestOf(notes) || local.ID == added.ID {
		t.Errorf("local file: %+v", local)
	}
	checkBytes(t, at, is.Key, local.ID, notes)

	// A wrong digest is refused and leaves nothing.
	bad := adapters.Attachment{SyncID: "peerA/att-2", Filename: "bad.bin", Size: 4, Digest: digestOf([]byte("abcd"))}
	if _, err := at.AddAttachment(c, is.Key, bad, bytes.NewReader([]byte("abce"))); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("a file whose digest is wrong: %v, want ErrRejected", err)
	}
	got = must[adapters.Issue](t, "get at the end")(tr.Get(c, is.Key))
	if len(got.Attachments) != 2 || len(got.Comments) != 0 {
		t.Errorf("at the end: %d attachments (want 2), %d comments (want 0): %+v", len(got.Attachments), len(got.Comments), got.Attachments)
	}
	if _, err := at.OpenAttachment(c, is.Key, "999999999"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("OpenAttachment of an unknown file: %v, want ErrNotFound", err)
	}
	if _, err := at.AddAttachment(c, p.MissingKey, in, bytes.NewReader(data)); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("AddAttachment to %s: %v, want ErrNotFound", p.MissingKey, err)
	}
}

func checkBytes(t *testing.T, at adapters.Attachments, key, id string, want []byte) {
	t.Helper()
	rc, err := at.OpenAttachment(ctx(t), key, id)
	if err != nil {
		t.Fatalf("OpenAttachment(%s, %s): %v", key, id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading attachment %s of %s: %v", id, key, err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("attachment %s of %s: read %d bytes (sha256 %s), want %d (sha256 %s)", id, key, len(b), digestOf(b)[:12], len(want), digestOf(want)[:12])
	}
}
