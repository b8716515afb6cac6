package github

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/github/ghfake"
)

// profile is GitHub's: open/closed states with reasons, priorities as
// labels.
var profile = contract.Profile{
	OpenStatus: "reopened", ClosedStatus: "closed", Priorities: [2]string{"low", "high"},
	Labels: true, RejectsUnknownStatus: true, MissingKey: "octo/widgets#999999", Settle: 1100 * time.Millisecond,
}

// TestContract runs the adapter contract suite against the fake GitHub,
// every request and answer validated against GitHub's OpenAPI description.
func TestContract(t *testing.T) {
	needSpec(t)
	var fs fakes
	p := profile
	p.Limit, p.Webhook = fs.limit, fs.webhook
	contract.Run(t, func(t *testing.T) adapters.Tracker { return fs.open(t, Options{}) }, p)
}

// TestContractLive runs the suite against real GitHub when
// ISSUEMESH_GITHUB_TOKEN and ISSUEMESH_GITHUB_REPO (a scratch repository:
// the suite creates issues in it) are set.
func TestContractLive(t *testing.T) {
	tok, repo := os.Getenv(EnvToken), os.Getenv("ISSUEMESH_GITHUB_REPO")
	if tok == "" || repo == "" {
		t.Skipf("no real GitHub: set %s and ISSUEMESH_GITHUB_REPO (owner/repo of a scratch repository) to run the contract suite against it", EnvToken)
	}
	lat := &contract.Latencies{}
	var rt http.RoundTripper = lat
	if spec, err := ghfake.LoadSpec(); err == nil {
		// The adapter's requests must match GitHub's description; real
		// GitHub's answers that do not are logged, not failed (GitHub
		// is the authority on itself).
		rt = &ghfake.Validator{T: liveReporter{t}, S: spec, Next: lat}
	} else {
		t.Logf("GitHub's description is not available, exchanges are not validated: %v", err)
	}
	p := profile
	p.MissingKey = repo + "#999999999"
	p.Settle = DefaultSettle
	contract.Run(t, func(t *testing.T) adapters.Tracker {
		tr, err := New(Options{Token: tok, Repo: repo, HTTPClient: &http.Client{Transport: rt, Timeout: 30 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}, p)
	t.Logf("GitHub request latencies: %v", lat)
}

// liveReporter fails the test for a request that breaks GitHub's
// description and logs an answer that does.
type liveReporter struct{ t *testing.T }

func (r liveReporter) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(msg, "request ") || strings.HasPrefix(msg, "the adapter sent ") {
		r.t.Error(msg)
		return
	}
	r.t.Logf("real GitHub's answer differs from its description: %s", msg)
}
