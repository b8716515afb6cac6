package rt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// envMailDir names where a test RT keeps the mail it sends ($MailCommand
// "mbox", as scripts/rt.sh sets it: RT's $VarPath).
const envMailDir = "ISSUEMESH_TEST_RT_MAIL_DIR"

// A reply synced into RT as correspondence reaches the requestor as the
// person wrote it: no marker in the mail RT sends nor in the text RT keeps.
// The adapter still recognises it (and its edit) as the synced comment.
func TestMarkersNeverReachRequestors(t *testing.T) {
	u, tok := realRT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := New(Options{URL: u, Token: tok, Queue: newQueue(t, u, tok)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	q, err := tr.queueInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !q.markerCF {
		t.Fatalf("the transaction custom field %q does not apply to the test queue: run scripts/rt.sh", MarkerField)
	}

	b := make([]byte, 4)
	rand.Read(b)
	requestor := "requestor-" + hex.EncodeToString(b) + "@example.com"
	var created struct {
		ID flexString `json:"id"`
	}
	if _, err := tr.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: "/ticket", Body: map[string]any{
		"Queue": tr.queue, "Subject": "printer on fire", "Requestor": requestor, "Content": "it burns", "ContentType": "text/plain",
	}}, &created); err != nil {
		t.Fatal(err)
	}
	key := string(created.ID)

	reply := adapters.Comment{SyncID: "12D3KooWPeer/7", Author: "Alice (partner)", Body: "We sent a technician."}
	if _, err := tr.Update(ctx, key, adapters.Patch{AddComments: []adapters.Comment{reply}}); err != nil {
		t.Fatal(err)
	}
	edited := reply
	edited.Body = "We sent two technicians."
	desc := "it burns, and smokes"
	is, err := tr.Update(ctx, key, adapters.Patch{AddComments: []adapters.Comment{edited}, Description: &desc})
	if err != nil {
		t.Fatal(err)
	}

	// The adapter reads its markers back.
	if len(is.Comments) != 1 || is.Comments[0].SyncID != reply.SyncID || is.Comments[0].Body != edited.Body || is.Comments[0].Author != reply.Author {
		t.Fatalf("comments read back: %+v; want one, sync ID %s, body %q, author %q", is.Comments, reply.SyncID, edited.Body, reply.Author)
	}
	if is.Description != desc {
		t.Fatalf("description read back: %q, want %q", is.Description, desc)
	}
	// Adding it again is recognised: no second message.
	if is, err = tr.Update(ctx, key, adapters.Patch{AddComments: []adapters.Comment{edited}}); err != nil || len(is.Comments) != 1 {
		t.Fatalf("the same synced comment again: %d comments, %v; want 1", len(is.Comments), err)
	}

	// The texts RT keeps, and mails, carry no marker.
	id, _ := strconv.Atoi(key)
	atts, err := all[wireAttachment](ctx, tr, fmt.Sprintf("/ticket/%d/attachments", id), url.Values{"fields": {"TransactionId,Content"}}, []map[string]string{{"field": "ContentType", "operator": "LIKE", "value": "text/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range atts {
		if strings.Contains(a.Content, "issuemesh:") {
			t.Errorf("a text RT keeps (transaction %s) carries a marker: %q", a.TransactionID, a.Content)
		}
	}
	mails := mailsTo(t, requestor, edited.Body)
	for _, m := range mails {
		if strings.Contains(m, "issuemesh:") {
			t.Errorf("the mail RT sent to the requestor carries a marker:\n%s", m)
		}
	}
	if mails != nil && !strings.Contains(strings.Join(mails, "\n"), reply.Body) {
		t.Errorf("no mail to %s carries the reply %q", requestor, reply.Body)
	}
}

// mailsTo returns the mails RT stored for to, once one contains want; nil
// (with a log line) when the mail folder is not readable here.
func mailsTo(t *testing.T, to, want string) []string {
	t.Helper()
	dir := os.Getenv(envMailDir)
	if dir == "" {
		dir = "/var/lib/request-tracker5"
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.mbox"))
	if len(files) == 0 {
		t.Logf("no RT mail folder readable in %s (set %s): checked the texts RT keeps only", dir, envMailDir)
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out []string
		found := false
		files, _ = filepath.Glob(filepath.Join(dir, "*.mbox"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, m := range bytes.Split(data, []byte("\nFrom ")) {
				if bytes.Contains(m, []byte("\nTo: "+to)) {
					out = append(out, string(m))
					found = found || bytes.Contains(m, []byte(want))
				}
			}
		}
		if found {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("RT sent no mail to %s with %q within 20s (%d mails to it)", to, want, len(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
