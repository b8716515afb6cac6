package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/github/ghfake"
)

// contractSecret is the webhook secret of the contract suite's trackers.
const contractSecret = "contract-s3cret"

// fakes remembers the fake behind each tracker the suite opens, for the
// profile's hooks.
type fakes struct {
	mu sync.Mutex
	m  map[adapters.Tracker]*ghfake.Server
}

func (fs *fakes) open(t *testing.T, opts Options) *Tracker {
	f := newFake(t)
	tr := open(t, f, opts)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil {
		fs.m = map[adapters.Tracker]*ghfake.Server{}
	}
	fs.m[tr] = f
	return tr
}

func (fs *fakes) of(tr adapters.Tracker) *ghfake.Server {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[tr]
}

// limit is the profile's Limit hook: the fake refuses every request with
// GitHub's primary rate limit until a reset three seconds ahead (GitHub
// gives the reset in whole seconds).
func (fs *fakes) limit(tr adapters.Tracker) time.Time {
	f := fs.of(tr)
	reset := time.Unix(time.Now().Add(3*time.Second).Unix(), 0)
	f.Mu.Lock()
	f.LimitFor = reset
	f.Mu.Unlock()
	return reset
}

// webhook is the profile's Webhook hook: a tracker on a fake with its
// listener, a person's comment made in the fake, and the issue_comment
// delivery GitHub would send for it, validated against GitHub's webhooks
// description and signed as GitHub signs (X-Hub-Signature-256).
func (fs *fakes) webhook(t *testing.T) contract.Webhook {
	tr := fs.open(t, Options{WebhookListen: "127.0.0.1:0", WebhookSecret: contractSecret})
	f := fs.of(tr)
	rp := f.Repo("octo/widgets")
	var payload []byte
	return contract.Webhook{
		Tracker: tr,
		Change: func(_ context.Context, key string) error {
			n, err := strconv.Atoi(key[strings.LastIndex(key, "#")+1:])
			if err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
			f.Mu.Lock()
			defer f.Mu.Unlock()
			is := rp.Issues[n]
			if is == nil {
				return fmt.Errorf("no issue %d on the fake", n)
			}
			cm := f.AddComment(rp, is, "octocat", "a comment made on GitHub")
			payload = commentDelivery(f, rp, is, cm)
			checkDelivery(t, "webhook-issue-comment-created", payload)
			return nil
		},
		Deliver: func(c context.Context, id string, s contract.Signing) (int, error) {
			h := http.Header{"X-Github-Event": {"issue_comment"}, "X-Github-Delivery": {id}, "Content-Type": {"application/json"}}
			switch s {
			case contract.Signed:
				h.Set("X-Hub-Signature-256", sign([]byte(contractSecret), payload))
			case contract.BadSignature:
				h.Set("X-Hub-Signature-256", sign([]byte("guess"), payload))
			}
			return post(c, "http://"+tr.WebhookAddr()+"/", h, payload)
		},
	}
}

// commentDelivery is the issue_comment.created delivery for comment cm
// on issue is (call with f.Mu held).
func commentDelivery(f *ghfake.Server, rp *ghfake.Repo, is, cm map[string]any) []byte {
	d := f.Delivery(rp, "created", is)
	b, _ := json.Marshal(cm)
	var comment map[string]any
	json.Unmarshal(b, &comment)
	comment["reactions"] = d["issue"].(map[string]any)["reactions"]
	d["comment"] = comment
	out, _ := json.Marshal(d)
	return out
}

// post sends one webhook delivery and returns the HTTP status.
func post(c context.Context, url string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(c, "POST", url, bytes.NewReader(body))
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
}
