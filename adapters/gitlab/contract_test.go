package gitlab

import (
	"errors"
	"net/http"
	"os"
	"sync"
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
// It adds GitLab's own case: a confidential issue kept back.
func TestContract(t *testing.T) {
	var mu sync.Mutex
	fakes := map[adapters.Tracker]*glfake.Fake{}
	p := profile
	p.Throttle = func(tr adapters.Tracker, n int) { // the fake answers 429 with Retry-After
		mu.Lock()
		f := fakes[tr]
		mu.Unlock()
		f.Mu.Lock()
		f.Throttle = n
		f.Mu.Unlock()
	}
	p.Webhook = contractWebhook
	contract.Run(t, func(t *testing.T) adapters.Tracker {
		f := glfake.New(t)
		tr := newOnFake(t, f, nil)
		mu.Lock()
		fakes[tr] = f
		mu.Unlock()
		return tr
	}, p)
	t.Run("ConfidentialKeptBack", func(t *testing.T) {
		f := glfake.New(t)
		testConfidential(t, func(t *testing.T, share bool) *Tracker {
			return newOnFake(t, f, func(o *Options) { o.ShareConfidential = share })
		})
	})
}

// TestContractLive runs the suite against a real GitLab project (every
// test adds issues to it: use a scratch project).
func TestContractLive(t *testing.T) {
	url, tok, proj := os.Getenv(envLiveURL), os.Getenv(envLiveToken), os.Getenv(envLiveProject)
	if url == "" || tok == "" || proj == "" {
		t.Skipf("no real GitLab: set %s, %s and %s (a scratch project the token may write to, with a member alice and a milestone ACME)", envLiveURL, envLiveToken, envLiveProject)
	}
	p := profile
	p.MissingKey, p.Settle = proj+"#99999999", 3*time.Second
	open := func(t *testing.T, share bool) *Tracker {
		tr, err := New(Options{URL: url, Token: tok, Project: proj, Settle: 3 * time.Second, ShareConfidential: share})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	contract.Run(t, func(t *testing.T) adapters.Tracker { return open(t, false) }, p)
	t.Run("ConfidentialKeptBack", func(t *testing.T) { testConfidential(t, open) })
}

// TestContractProjects runs the suite on a connection over two projects
// (each on its own fake, as two projects of one GitLab would be), and
// checks that each issue goes to and comes from its own project.
func TestContractProjects(t *testing.T) {
	open := func(t *testing.T) (*Multi, *glfake.Fake, *glfake.Fake) {
		f1, f2 := glfake.New(t), glfake.New(t)
		f2.Mu.Lock()
		f2.Project = "acme/gadgets"
		f2.Mu.Unlock()
		m := &Multi{subs: []*Tracker{newOnFake(t, f1, nil), newOnFake(t, f2, nil)}}
		return m, f1, f2
	}
	contract.Run(t, func(t *testing.T) adapters.Tracker { m, _, _ := open(t); return m }, profile)
	t.Run("TwoProjects", func(t *testing.T) {
		m, f1, f2 := open(t)
		c := tctx(t)
		f2.Mu.Lock()
		f2.CreateIssue("alice", "made in gadgets", "twin marker below\n\n<!-- issuemesh:twin tw-gadget -->")
		f2.Mu.Unlock()
		made, err := m.Create(c, adapters.Issue{Summary: "made by sync"})
		if err != nil || made.Key != "acme/widgets#1" {
			t.Fatalf("create: %+v %v, want it in the first project", made, err)
		}
		seen := map[string]string{}
		var cur adapters.Cursor
		for range 10 {
			is, next, err := m.Changes(c, cur, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range is {
				seen[i.Key] = i.Summary
			}
			if len(is) == 0 {
				break
			}
			cur = next
		}
		if seen["acme/widgets#1"] != "made by sync" || seen["acme/gadgets#1"] != "made in gadgets" || len(seen) != 2 {
			t.Errorf("the feed over both projects: %v", seen)
		}
		up, err := m.Update(c, "acme/gadgets#1", adapters.Patch{Summary: new("edited in gadgets")})
		if err != nil || up.Key != "acme/gadgets#1" {
			t.Fatalf("update: %+v %v", up, err)
		}
		f1.Mu.Lock()
		f2.Mu.Lock()
		if f2.Issue(1).Title != "edited in gadgets" || f1.Issue(1).Title != "made by sync" {
			t.Errorf("the edit went to the wrong project: widgets#1 %q, gadgets#1 %q", f1.Issue(1).Title, f2.Issue(1).Title)
		}
		f2.Mu.Unlock()
		f1.Mu.Unlock()
		if got, err := m.FindByTwin(c, "tw-gadget"); err != nil || got.Key != "acme/gadgets#1" {
			t.Errorf("FindByTwin in the second project: %+v %v", got, err)
		}
		if _, err := m.Get(c, "acme/other#1"); !errors.Is(err, adapters.ErrNotFound) {
			t.Errorf("Get of another project's issue: %v, want ErrNotFound", err)
		}
	})
}
