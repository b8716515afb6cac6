package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/issuemesh/issuemesh/adapters/internal/forge"

	"github.com/issuemesh/issuemesh/adapters"
)

// loadWebhookSpec is @octokit/openapi-webhooks, loaded once per test binary.
var loadWebhookSpec = sync.OnceValues(func() (*openapi3.T, error) {
	dir := os.Getenv("ISSUEMESH_TEST_OCTOKIT_WEBHOOKS")
	if dir == "" {
		out, err := exec.Command("bash", "../../scripts/github-openapi.sh").Output()
		if err != nil {
			return nil, fmt.Errorf("scripts/github-openapi.sh: %w", err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "export ISSUEMESH_TEST_OCTOKIT_WEBHOOKS="); ok {
				dir = v
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "generated", "api.github.com.json"))
	if err != nil {
		return nil, err
	}
	return openapi3.NewLoader().LoadFromData(b)
})

// checkDelivery validates a webhook payload against its schema in GitHub's
// webhooks description, naming each rule broken and where.
func checkDelivery(t *testing.T, schema string, payload []byte) {
	t.Helper()
	doc, err := loadWebhookSpec()
	if err != nil {
		t.Skipf("GitHub's webhooks description (@octokit/openapi-webhooks from npm) is not available: %v", err)
	}
	ref := doc.Components.Schemas[schema]
	if ref == nil {
		t.Fatalf("GitHub's webhooks description has no schema %s", schema)
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	err = ref.Value.VisitJSON(v, openapi3.MultiErrors())
	if err == nil {
		return
	}
	var me openapi3.MultiError
	if !errors.As(err, &me) {
		me = openapi3.MultiError{err}
	}
	for _, e := range me {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			t.Errorf("delivery breaks %s at /%s: %s", schema, strings.Join(se.JSONPointer(), "/"), se.Reason)
		} else {
			t.Errorf("delivery breaks %s: %.300s", schema, e)
		}
	}
}

// TestWebhookDeliveryFromFake: the fake makes the issues.opened delivery
// GitHub would send for an issue the adapter created; the delivery is
// valid by GitHub's webhooks description, and, signed, it rings the node.
func TestWebhookDeliveryFromFake(t *testing.T) {
	tr, f, _ := newValidated(t)
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "from a webhook"})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	payload, _ := json.Marshal(f.delivery("opened", f.issues[1]))
	f.mu.Unlock()
	checkDelivery(t, "webhook-issues-opened", payload)
	if _, err := tr.Update(c, is.Key, adapters.Patch{AddComments: []adapters.Comment{{Body: "hello"}}}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	cd := f.delivery("created", f.issues[1])
	cm, _ := json.Marshal(f.comments[0])
	var comment map[string]any
	json.Unmarshal(cm, &comment)
	comment["reactions"] = cd["issue"].(map[string]any)["reactions"]
	cd["comment"] = comment
	f.mu.Unlock()
	cpayload, _ := json.Marshal(cd)
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
