package forge

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func sign(secret, body []byte, prefix string) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return prefix + hex.EncodeToString(m.Sum(nil))
}

// TestWebhook, per dialect: a signed delivery rings once; the same
// delivery again, an unsigned one, a forged one, a tampered body, the
// other dialect's header alone, another repository and an unused event
// ring nothing.
func TestWebhook(t *testing.T) {
	for _, d := range []Dialect{GitHub(), Gitea()} {
		t.Run(d.Tracker, func(t *testing.T) {
			var rings atomic.Int32
			l := NewListener(d, "127.0.0.1:0", "s3cret", "octo/widgets", nil)
			defer l.Close()
			l.OnChange(func() { rings.Add(1) })
			url := "http://" + l.Addr() + "/"
			body := []byte(`{"action":"opened","issue":{"number":1},"repository":{"full_name":"octo/widgets"}}`)
			good := sign([]byte("s3cret"), body, d.Prefix)
			other := []byte(`{"action":"opened","repository":{"full_name":"evil/repo"}}`)
			tampered := bytes.Replace(body, []byte(`"number":1`), []byte(`"number":2`), 1)
			cases := []struct {
				name, id, event, header, sig string
				body                         []byte
				status                       int
				rings                        int32
			}{
				{"signed", "d1", "issues", d.Signature, good, body, 202, 1},
				{"same delivery again", "d1", "issues", d.Signature, good, body, 200, 1},
				{"unsigned", "d2", "issues", d.Signature, "", body, 401, 1},
				{"forged", "d3", "issues", d.Signature, sign([]byte("guess"), body, d.Prefix), body, 401, 1},
				{"tampered body", "d4", "issues", d.Signature, good, tampered, 401, 1},
				{"prefix of the other dialect", "d5", "issues", d.Signature, "x" + good, body, 401, 1},
				{"another repository", "d6", "issue_comment", d.Signature, sign([]byte("s3cret"), other, d.Prefix), other, 202, 1},
				{"unused event", "d7", "push", d.Signature, good, body, 202, 1},
				{"no delivery id", "", "issues", d.Signature, good, body, 400, 1},
				{"comment event", "d8", "issue_comment", d.Signature, good, body, 202, 2},
			}
			for _, c := range cases {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(c.body))
				req.Header.Set(d.Delivery, c.id)
				req.Header.Set(d.Event, c.event)
				if c.sig != "" {
					req.Header.Set(c.header, c.sig)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != c.status || rings.Load() != c.rings { // the handler rings before it answers
					t.Errorf("%s: status %d rings %d, want %d and %d", c.name, resp.StatusCode, rings.Load(), c.status, c.rings)
				}
			}
		})
	}
}

// TestEmptySecretVerifiesNothing: a hook without a secret (Gitea then
// sends an empty signature) cannot be satisfied by signing with "".
func TestEmptySecretVerifiesNothing(t *testing.T) {
	body := []byte(`{"repository":{"full_name":"o/r"}}`)
	if Verify(nil, body, sign(nil, body, ""), "") {
		t.Error("an empty secret verified a signature")
	}
	h := NewWebhook(Gitea(), "", "o/r", func() { t.Error("rang") }, nil)
	req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	req.Header.Set("X-Gitea-Signature", sign(nil, body, ""))
	req.Header.Set("X-Gitea-Delivery", "x")
	req.Header.Set("X-Gitea-Event", "issues")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("status %d, want 401", rec.Code)
	}
}

// TestProbe: the probe opens a listener that is not running, sees a
// signed delivery of any event, refuses to count an unsigned one, and
// closes what it opened.
func TestProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l := NewListener(Gitea(), addr, "s3cret", "o/r", nil)
	body := []byte(`{"repository":{"full_name":"o/r"}}`)
	send := func(sig string) func(context.Context) error {
		return func(context.Context) error {
			req, _ := http.NewRequest("POST", "http://"+addr+"/", bytes.NewReader(body))
			req.Header.Set("X-Gitea-Event", "push")
			req.Header.Set("X-Gitea-Delivery", "p-"+sig)
			req.Header.Set("X-Gitea-Signature", sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		}
	}
	ctx := context.Background()
	if err := l.Probe(ctx, 2*time.Second, send(sign([]byte("s3cret"), body, ""))); err != nil {
		t.Errorf("signed test delivery: %v", err)
	}
	if err := l.Probe(ctx, 300*time.Millisecond, send(sign([]byte("other"), body, ""))); err == nil {
		t.Error("a delivery signed with another secret passed the probe")
	}
	if l.Addr() != "" {
		t.Errorf("the probe left the listener open on %s", l.Addr())
	}
}

// TestGitLabWebhook: GitLab's X-Gitlab-Token must equal the secret; a
// delivery retried with the same Idempotency-Key (new event UUID) rings
// once; the project is read from project.path_with_namespace.
func TestGitLabWebhook(t *testing.T) {
	var rings atomic.Int32
	h := NewWebhook(GitLab(), "s3cret", "acme/widgets", func() { rings.Add(1) }, nil)
	body := []byte(`{"object_kind":"issue","project":{"path_with_namespace":"acme/widgets"},"object_attributes":{"iid":1}}`)
	cases := []struct {
		name, token, uuid, idem, event string
		status                         int
		rings                          int32
	}{
		{"good", "s3cret", "u1", "k1", "Issue Hook", 202, 1},
		{"retry, same key", "s3cret", "u2", "k1", "Issue Hook", 200, 1},
		{"wrong token", "guess", "u3", "k3", "Issue Hook", 401, 1},
		{"no token", "", "u4", "k4", "Issue Hook", 401, 1},
		{"note, uuid only", "s3cret", "u5", "", "Note Hook", 202, 2},
		{"same uuid again", "s3cret", "u5", "", "Note Hook", 200, 2},
		{"push", "s3cret", "u6", "k6", "Push Hook", 202, 2},
	}
	for _, c := range cases {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		if c.token != "" {
			req.Header.Set("X-Gitlab-Token", c.token)
		}
		req.Header.Set("X-Gitlab-Event-UUID", c.uuid)
		if c.idem != "" {
			req.Header.Set("Idempotency-Key", c.idem)
		}
		req.Header.Set("X-Gitlab-Event", c.event)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status || rings.Load() != c.rings {
			t.Errorf("%s: status %d rings %d, want %d and %d", c.name, rec.Code, rings.Load(), c.status, c.rings)
		}
	}
}

func TestMentions(t *testing.T) {
	m := NewMentions("https://git.example.com/")
	for _, tc := range []struct{ body, want string }{
		{"", ""},
		{"see #3 and #3, not #0; #7 is itself", "acme/widgets#3"},
		{"fixes other_team/lib.go#12 and https://git.example.com/acme/gadgets/issues/5", "acme/gadgets#5,other_team/lib.go#12"},
		{"https://git.example.com/acme/gadgets/pulls/6 and https://github.com/x/y/issues/1", "acme/gadgets#6"},
		{"a&#39;b, color #fff, x#4", ""},
	} {
		if got := m.Keys("acme", "widgets", 7, tc.body); got != tc.want {
			t.Errorf("Keys(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}
