package github

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/github/ghfake"
	"github.com/issuemesh/issuemesh/adapters/internal/forge"
)

// checkDelivery validates a webhook payload against its schema in GitHub's
// webhooks description, naming each rule broken and where.
func checkDelivery(t *testing.T, schema string, payload []byte) {
	t.Helper()
	errs, err := ghfake.CheckDelivery(schema, payload)
	if err != nil {
		t.Skipf("GitHub's webhooks description (@octokit/openapi-webhooks from npm) is not available: %v", err)
	}
	for _, e := range errs {
		t.Error(e)
	}
}

// TestWebhookDeliveryFromFake: the fake makes the issues.opened delivery
// GitHub would send for an issue the adapter created; the delivery is
// valid by GitHub's webhooks description, and, signed, it rings the node.
func TestWebhookDeliveryFromFake(t *testing.T) {
	tr, f, rp := newValidated(t)
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "from a webhook"})
	if err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	payload, _ := json.Marshal(f.Delivery(rp, "opened", rp.Issues[1]))
	f.Mu.Unlock()
	checkDelivery(t, "webhook-issues-opened", payload)
	if _, err := tr.Update(c, is.Key, adapters.Patch{AddComments: []adapters.Comment{{Body: "hello"}}}); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	cpayload := commentDelivery(f, rp, rp.Issues[1], rp.Comments[0])
	f.Mu.Unlock()
	checkDelivery(t, "webhook-issue-comment-created", cpayload)

	rang := 0
	hook := forge.NewWebhook(forge.GitHub(), "s3cret", tr.Repo(), func() { rang++ }, nil)
	req, _ := http.NewRequest("POST", "/", bytes.NewReader(payload))
	req.Header.Set("X-GitHub-Event", "issues")
	req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	req.Header.Set("X-Hub-Signature-256", sign([]byte("s3cret"), payload))
	rec := httptest.NewRecorder()
	hook.ServeHTTP(rec, req)
	if rec.Code != 202 || rang != 1 {
		t.Fatalf("delivery for %s: %d, rang %d", is.Key, rec.Code, rang)
	}
}
