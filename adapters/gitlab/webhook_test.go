package gitlab

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestWebhookDedup: the adapter's webhook listener takes GitLab's
// deliveries (X-Gitlab-Token equal to the secret) and rings the doorbell
// once per delivery: a redelivery with the same Idempotency-Key (GitLab
// gives a retried delivery a new event UUID) and a replayed event UUID ring
// nothing, a wrong or missing token is refused, and a payload is never
// applied (the issue is read from the API).
func TestWebhookDedup(t *testing.T) {
	f := glfake.New(t)
	tr := newOnFake(t, f, func(o *Options) { o.WebhookListen, o.WebhookSecret = "127.0.0.1:0", "s3cret" })
	var rings atomic.Int32
	tr.OnChange(func() { rings.Add(1) })
	testutil.WaitFor(t, 5*time.Second, "the webhook listener runs", func() bool { return tr.WebhookAddr() != "" })
	made, err := tr.Create(tctx(t), adapters.Issue{Summary: "real title"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"object_kind":"issue","event_type":"issue","project":{"path_with_namespace":"acme/widgets"},"object_attributes":{"iid":1,"title":"forged title"}}`)
	post := func(token, uuid, idem, event string) int {
		req, _ := http.NewRequest("POST", "http://"+tr.WebhookAddr()+"/", bytes.NewReader(body))
		if token != "" {
			req.Header.Set("X-Gitlab-Token", token)
		}
		req.Header.Set("X-Gitlab-Event-UUID", uuid)
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		req.Header.Set("X-Gitlab-Event", event)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name, token, uuid, idem, event string
		status                         int
		rings                          int32
	}{
		{"delivery", "s3cret", "u1", "k1", "Issue Hook", 202, 1},
		{"redelivery, same Idempotency-Key", "s3cret", "u2", "k1", "Issue Hook", 200, 1},
		{"replayed delivery", "s3cret", "u1", "k1", "Issue Hook", 200, 1},
		{"forged: wrong token", "guess", "u3", "k3", "Issue Hook", 401, 1},
		{"forged: no token", "", "u4", "k4", "Issue Hook", 401, 1},
		{"confidential issue event", "s3cret", "u5", "k5", "Confidential Issue Hook", 202, 2},
	} {
		if st := post(c.token, c.uuid, c.idem, c.event); st != c.status {
			t.Errorf("%s: status %d, want %d", c.name, st, c.status)
		}
		testutil.WaitFor(t, 5*time.Second, c.name+": rings", func() bool { return rings.Load() >= c.rings })
		if got := rings.Load(); got != c.rings {
			t.Errorf("%s: %d rings, want %d", c.name, got, c.rings)
		}
	}
	got, err := tr.Get(tctx(t), made.Key)
	if err != nil || got.Summary != "real title" {
		t.Errorf("after the deliveries: %+v %v; the payload must not be applied", got, err)
	}
}
