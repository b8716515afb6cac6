package github

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters/github/ghfake"
)

// needSpec returns GitHub's description or skips the test, saying why.
func needSpec(t *testing.T) *ghfake.Spec {
	t.Helper()
	s, err := ghfake.LoadSpec()
	if err != nil {
		t.Skipf("GitHub's OpenAPI description (@octokit/openapi from the npm registry) is not available: %v", err)
	}
	return s
}

// newFake starts a fake GitHub of repos whose every exchange is validated
// against GitHub's description (failing t with the path and rule broken).
func newFake(t *testing.T, repos ...string) *ghfake.Server {
	t.Helper()
	s := needSpec(t)
	if len(repos) == 0 {
		repos = []string{"octo/widgets"}
	}
	f := ghfake.New(t, s, repos...)
	srv := f.Start()
	t.Cleanup(func() {
		srv.Close()
		t.Logf("%d requests and answers validated against %s", f.Checked(), filepath.Base(s.File))
	})
	return f
}

// open opens the adapter on the fake with opts (BaseURL, token and a
// one-second settle filled in).
func open(t *testing.T, f *ghfake.Server, opts Options) *Tracker {
	t.Helper()
	opts.BaseURL = f.URL() + "/"
	if opts.Token == "" && opts.App == nil {
		opts.Token = f.Token
	}
	if opts.Repo == "" && len(opts.Repos) == 0 {
		opts.Repo = "octo/widgets"
	}
	if opts.Settle == 0 {
		opts.Settle = 1100 * time.Millisecond
	}
	opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// newValidated opens the adapter on a fresh fake of octo/widgets.
func newValidated(t *testing.T) (*Tracker, *ghfake.Server, *ghfake.Repo) {
	t.Helper()
	f := newFake(t)
	return open(t, f, Options{}), f, f.Repo("octo/widgets")
}
