package gitea

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters/contract"
)

// contractSecret is the webhook secret of the contract suite's trackers.
const contractSecret = "contract-s3cret"

// captured is one delivery Gitea made.
type captured struct {
	h    http.Header
	body []byte
}

// capture receives Gitea's own deliveries for the test, keeping them in
// arrival order.
type capture struct {
	mu  sync.Mutex
	got []captured
}

func (cp *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	cp.mu.Lock()
	cp.got = append(cp.got, captured{r.Header.Clone(), b})
	cp.mu.Unlock()
}

// last is the latest delivery of event after the first n, waiting for it.
func (cp *capture) last(c context.Context, event string, n int) (captured, error) {
	for {
		cp.mu.Lock()
		for i := len(cp.got) - 1; i >= n; i-- {
			if cp.got[i].h.Get("X-Gitea-Event") == event {
				d := cp.got[i]
				cp.mu.Unlock()
				return d, nil
			}
		}
		cp.mu.Unlock()
		select {
		case <-c.Done():
			return captured{}, fmt.Errorf("Gitea sent no %s delivery: %w", event, c.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// contractWebhook is the profile's Webhook hook on the real Gitea: a
// repository webhook (secret contractSecret) points at a capture server;
// the change is a comment made through Gitea's API; the delivery sent to
// the adapter's listener is the one Gitea itself made for it, its body
// and headers as Gitea sent them (its own X-Gitea-Signature when signed),
// under the suite's delivery ID.
func contractWebhook(t *testing.T) contract.Webhook {
	tr := newReal(t, Options{WebhookListen: "127.0.0.1:0", WebhookSecret: contractSecret})
	cp := &capture{}
	srv := httptest.NewServer(cp)
	t.Cleanup(srv.Close)
	c := tctx(t)
	if _, _, err := tr.api(c).CreateRepoHook(tr.owner, tr.repo, sdk.CreateHookOption{
		Type: sdk.HookTypeGitea, Active: true, Events: []string{"issues", "issue_comment"},
		Config: map[string]string{"url": srv.URL + "/", "content_type": "json", "secret": contractSecret},
	}); err != nil {
		t.Fatal(err)
	}
	seen := 0
	var d captured
	return contract.Webhook{
		Tracker: tr,
		Change: func(c context.Context, key string) error {
			n, err := tr.number(key)
			if err != nil {
				return err
			}
			cp.mu.Lock()
			seen = len(cp.got)
			cp.mu.Unlock()
			_, _, err = tr.api(c).CreateIssueComment(tr.owner, tr.repo, n, sdk.CreateIssueCommentOption{Body: "a comment made on Gitea"})
			return err
		},
		Deliver: func(c context.Context, id string, s contract.Signing) (int, error) {
			if d.body == nil {
				wc, cancel := context.WithTimeout(c, 15*time.Second)
				defer cancel()
				var err error
				if d, err = cp.last(wc, "issue_comment", seen); err != nil {
					return 0, err
				}
			}
			h := d.h.Clone()
			for _, k := range []string{"X-Gitea-Delivery", "X-Gogs-Delivery", "X-Github-Delivery", "X-Forgejo-Delivery"} {
				if h.Get(k) != "" {
					h.Set(k, id)
				}
			}
			sigs := []string{"X-Gitea-Signature", "X-Gogs-Signature", "X-Forgejo-Signature", "X-Hub-Signature", "X-Hub-Signature-256"}
			switch s {
			case contract.BadSignature:
				for _, k := range sigs {
					h.Del(k)
				}
				h.Set("X-Gitea-Signature", giteaSign([]byte("guess"), d.body))
			case contract.Unsigned:
				for _, k := range sigs {
					h.Del(k)
				}
			}
			req, err := http.NewRequestWithContext(c, "POST", "http://"+tr.WebhookAddr()+"/", bytes.NewReader(d.body))
			if err != nil {
				return 0, err
			}
			req.Header = h
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		},
	}
}
