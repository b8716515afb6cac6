package redmine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// A file added in Redmine itself (no description) is listed with its
// digest, computed from its bytes; the author and sync ID of a synced file
// come back from its description.
func TestFileAddedInRedmine(t *testing.T) {
	u, key := realRedmine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := New(Options{URL: u, APIKey: key, Project: newProject(t, u, key)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	is, err := tr.Create(ctx, adapters.Issue{Summary: "file from Redmine"})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("\x00\x01binary\xff\xfe from Redmine")
	var up struct{ Upload struct{ Token string } }
	if _, err := tr.c.Upload(ctx, http.MethodPost, "/uploads.json", url.Values{"filename": {"rm.log"}}, "application/octet-stream", bytes.NewReader(data), int64(len(data)), &up); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"issue": map[string]any{"uploads": []map[string]any{{"token": up.Upload.Token, "filename": "rm.log"}}}}
	if _, err := tr.c.Do(ctx, rest.Request{Method: http.MethodPut, Path: fmt.Sprintf("/issues/%s.json", is.Key), Body: body}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Get(ctx, is.Key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if len(got.Attachments) != 1 || got.Attachments[0].Digest != hex.EncodeToString(sum[:]) || got.Attachments[0].SyncID != "" ||
		got.Attachments[0].Author != "Redmine Admin" || got.Attachments[0].Size != int64(len(data)) {
		t.Fatalf("attachments: %+v", got.Attachments)
	}
	if len(got.Comments) != 0 {
		t.Fatalf("comments: %+v", got.Comments)
	}
	other := []byte("synced")
	osum := sha256.Sum256(other)
	a, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{SyncID: "peer/9", Filename: "s.txt", ContentType: "text/plain",
		Author: "Bob [partner]", Size: int64(len(other)), Digest: hex.EncodeToString(osum[:])}, bytes.NewReader(other))
	if err != nil || a.Author != "Bob (partner)" || a.SyncID != "peer/9" || a.ContentType != "text/plain" {
		t.Fatalf("synced file: %+v, %v", a, err)
	}
	rc, err := tr.OpenAttachment(ctx, is.Key, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); !bytes.Equal(b, other) {
		t.Fatalf("read back %q", b)
	}
}
