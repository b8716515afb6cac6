package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
)

// contractSecret is the webhook secret token of the contract suite's
// trackers.
const contractSecret = "contract-s3cret"

// contractWebhook is the profile's Webhook hook on the fake: a note by
// alice made in the fake, and the Note Hook delivery GitLab sends for it
// (X-Gitlab-Token carrying the secret token, the delivery named by
// Idempotency-Key and X-Gitlab-Event-UUID).
func contractWebhook(t *testing.T) contract.Webhook {
	f := glfake.New(t)
	tr := newOnFake(t, f, func(o *Options) { o.WebhookListen, o.WebhookSecret = "127.0.0.1:0", contractSecret })
	var payload []byte
	return contract.Webhook{
		Tracker: tr,
		Change: func(_ context.Context, key string) error {
			iid, err := tr.number(key)
			if err != nil {
				return err
			}
			f.Mu.Lock()
			defer f.Mu.Unlock()
			is := f.Issue(iid)
			if is == nil {
				return fmt.Errorf("no issue %d on the fake", iid)
			}
			n := f.AddNote(is, "alice", "a comment made on GitLab", false)
			payload, err = json.Marshal(map[string]any{
				"object_kind": "note", "event_type": "note",
				"user":       map[string]any{"username": "alice"},
				"project_id": is.ProjectID,
				"project":    map[string]any{"id": is.ProjectID, "path_with_namespace": f.Project},
				"object_attributes": map[string]any{"id": n.ID, "note": n.Body, "noteable_type": "Issue",
					"created_at": n.CreatedAt, "updated_at": n.UpdatedAt},
				"issue": map[string]any{"id": is.ID, "iid": is.IID, "title": is.Title, "state": is.State, "updated_at": is.UpdatedAt},
			})
			return err
		},
		Deliver: func(c context.Context, id string, s contract.Signing) (int, error) {
			req, err := http.NewRequestWithContext(c, "POST", "http://"+tr.WebhookAddr()+"/", bytes.NewReader(payload))
			if err != nil {
				return 0, err
			}
			req.Header.Set("X-Gitlab-Event", "Note Hook")
			req.Header.Set("X-Gitlab-Event-UUID", id)
			req.Header.Set("Idempotency-Key", id)
			req.Header.Set("Content-Type", "application/json")
			switch s {
			case contract.Signed:
				req.Header.Set("X-Gitlab-Token", contractSecret)
			case contract.BadSignature:
				req.Header.Set("X-Gitlab-Token", "guess")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		},
	}
}
