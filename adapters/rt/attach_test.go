package rt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// A file added in RT itself (a reply carrying it, no markers) is listed
// with its digest, computed from its bytes, and its reply stays a comment.
func TestFileAddedInRT(t *testing.T) {
	u, tok := realRT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := New(Options{URL: u, Token: tok, Queue: newQueue(t, u, tok)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	is, err := tr.Create(ctx, adapters.Issue{Summary: "file from RT"})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("\x00\x01binary\xff\xfe from RT")
	id, _ := strconv.Atoi(is.Key)
	body := map[string]any{"Content": "here is the log", "ContentType": "text/plain", "Attachments": []map[string]string{{
		"FileName": "rt.log", "FileType": "application/octet-stream", "FileContent": base64.StdEncoding.EncodeToString(data)}}}
	if _, err := tr.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: fmt.Sprintf("/ticket/%d/correspond", id), Body: body}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Get(ctx, is.Key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if len(got.Attachments) != 1 || got.Attachments[0].Digest != hex.EncodeToString(sum[:]) || got.Attachments[0].SyncID != "" ||
		got.Attachments[0].Filename != "rt.log" || got.Attachments[0].Size != int64(len(data)) {
		t.Fatalf("attachments: %+v", got.Attachments)
	}
	if len(got.Comments) != 1 || got.Comments[0].Body != "here is the log" {
		t.Fatalf("comments: %+v", got.Comments)
	}
	rc, err := tr.OpenAttachment(ctx, is.Key, got.Attachments[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); !bytes.Equal(b, data) {
		t.Fatalf("read back %q", b)
	}
	// The same bytes added by sync are found by digest: nothing is added.
	a, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{SyncID: "peer/1", Filename: "other.log", Size: int64(len(data)), Digest: got.Attachments[0].Digest}, bytes.NewReader(data))
	if err != nil || a.ID != got.Attachments[0].ID {
		t.Fatalf("same bytes again: %+v, %v", a, err)
	}
}
