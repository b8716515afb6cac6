package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// TestWebhook: a signed delivery rings once; the same delivery again, an
// unsigned one, a forged one, and another repository's ring nothing.
func TestWebhook(t *testing.T) {
	var rings atomic.Int32
	tr, err := New(Options{Token: "x", Repo: "octo/widgets", WebhookListen: "127.0.0.1:0", WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.OnChange(func() { rings.Add(1) })
	url := "http://" + tr.WebhookAddr() + "/"
	body := []byte(`{"action":"opened","issue":{"number":1},"repository":{"full_name":"octo/widgets"}}`)
	post := func(id, event, sig string, b []byte) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-GitHub-Event", event)
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := sign([]byte("s3cret"), body)
	if st := post("d1", "issues", good, body); st != 202 || rings.Load() != 1 {
		t.Fatalf("signed delivery: %d, rings %d", st, rings.Load())
	}
	if st := post("d1", "issues", good, body); st != 200 || rings.Load() != 1 {
		t.Errorf("the same delivery again: %d, rings %d", st, rings.Load())
	}
	if st := post("d2", "issues", "", body); st != 401 {
		t.Errorf("unsigned: %d", st)
	}
	if st := post("d3", "issues", sign([]byte("guess"), body), body); st != 401 {
		t.Errorf("forged: %d", st)
	}
	tampered := bytes.Replace(body, []byte(`"number":1`), []byte(`"number":2`), 1)
	if st := post("d4", "issues", good, tampered); st != 401 {
		t.Errorf("tampered body: %d", st)
	}
	other := []byte(`{"action":"opened","repository":{"full_name":"evil/repo"}}`)
	if st := post("d5", "issue_comment", sign([]byte("s3cret"), other), other); st != 202 {
		t.Errorf("another repository: %d", st)
	}
	if st := post("d6", "issue_comment", good, body); st != 202 {
		t.Errorf("comment event: %d", st)
	}
	if rings.Load() != 2 { // the handler rings before it answers
		t.Errorf("rings %d, want 2 (d1 and d6)", rings.Load())
	}
	if !Verify([]byte("k"), []byte("b"), sign([]byte("k"), []byte("b"))) || Verify([]byte("k"), []byte("b"), strings.Replace(sign([]byte("k"), []byte("b")), "sha256=", "sha1=", 1)) {
		t.Error("Verify")
	}
}
