package gitlab

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
)

// Environment of the live mode: the same suite against a real GitLab.
const (
	envLiveURL     = "ISSUEMESH_GITLAB_URL"
	envLiveToken   = "ISSUEMESH_GITLAB_TOKEN"
	envLiveProject = "ISSUEMESH_GITLAB_PROJECT"
)

// profile is GitLab's: opened and closed only, priorities as scoped labels.
var profile = contract.Profile{
	OpenStatus: "opened", ClosedStatus: "closed", Priorities: [2]string{"low", "high"},
	Labels: true, RejectsUnknownStatus: true, MissingKey: "acme/widgets#999999", Settle: 200 * time.Millisecond,
	// alice and the milestone ACME are on the fake; live, set them up so.
	Fields: contract.FieldsProfile{User: adapters.User{Login: "alice"}, Type: "incident", CustomField: FieldMilestone,
		Typed: map[string]adapters.FieldValue{FieldWeight: {Kind: adapters.KindNumber, Text: "3"}}},
}

func newOnFake(t testing.TB, f *glfake.Fake, mod func(*Options)) *Tracker {
	t.Helper()
	o := Options{URL: f.URL(), Token: glfake.Token, Project: f.Project, Settle: 200 * time.Millisecond,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}}
	if mod != nil {
		mod(&o)
	}
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestContract runs the adapter contract suite against the fake.
func TestContract(t *testing.T) {
	contract.Run(t, func(t *testing.T) adapters.Tracker { return newOnFake(t, glfake.New(t), nil) }, profile)
}

// TestContractLive runs the suite against a real GitLab project (every
// test adds issues to it: use a scratch project).
func TestContractLive(t *testing.T) {
	url, tok, proj := os.Getenv(envLiveURL), os.Getenv(envLiveToken), os.Getenv(envLiveProject)
	if url == "" || tok == "" || proj == "" {
		t.Skipf("no real GitLab: set %s, %s and %s (a scratch project the token may write to)", envLiveURL, envLiveToken, envLiveProject)
	}
	p := profile
	p.MissingKey, p.Settle = proj+"#99999999", 3*time.Second
	contract.Run(t, func(t *testing.T) adapters.Tracker {
		tr, err := New(Options{URL: url, Token: tok, Project: proj, Settle: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}, p)
}
