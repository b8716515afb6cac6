package gitea

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// Environment of the tests against a real Gitea (scripts/gitea.sh prints
// them).
const (
	envURL       = "ISSUEMESH_TEST_GITEA_URL"
	envTokenFile = "ISSUEMESH_TEST_GITEA_TOKEN_FILE"
	envUser      = "ISSUEMESH_TEST_GITEA_USER"
)

// profile is Gitea's: open and closed only, priorities as labels.
var profile = contract.Profile{
	OpenStatus: "open", ClosedStatus: "closed", Priorities: [2]string{"low", "high"},
	Labels: true, RejectsUnknownStatus: true, Settle: 1100 * time.Millisecond,
}

// realGitea returns the URL, token and user of the test server, or skips.
func realGitea(t testing.TB) (url, token, user string) {
	t.Helper()
	url, tf, user := os.Getenv(envURL), os.Getenv(envTokenFile), os.Getenv(envUser)
	if url == "" || tf == "" || user == "" {
		t.Skipf("no real Gitea: set %s, %s and %s (scripts/gitea.sh, run as root, builds and starts one and prints them)", envURL, envTokenFile, envUser)
	}
	token, err := rest.ReadSecret(tf, "", envTokenFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	return url, token, user
}

var repoSeq atomic.Int64

// NewTestRepo creates a fresh repository of the token's user for one test
// (deleted after it) and returns "owner/name".
func newTestRepo(t testing.TB, url, token, user string) string {
	t.Helper()
	c, err := sdk.NewClient(url, sdk.SetToken(token), sdk.SetGiteaVersion(""))
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("contract-%d-%d", time.Now().UnixNano(), repoSeq.Add(1))
	if _, _, err := c.CreateRepo(sdk.CreateRepoOption{Name: name, Description: "issuemesh test"}); err != nil {
		t.Fatalf("create test repository %s: %v", name, err)
	}
	t.Cleanup(func() { c.DeleteRepo(user, name) })
	return user + "/" + name
}

func newReal(t testing.TB, opts Options) *Tracker {
	t.Helper()
	url, token, user := realGitea(t)
	opts.URL, opts.Token = url, token
	if opts.Repo == "" {
		opts.Repo = newTestRepo(t, url, token, user)
	}
	if opts.Settle == 0 {
		opts.Settle = time.Second
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestContract runs the adapter contract suite against the real Gitea.
func TestContract(t *testing.T) {
	_, _, user := realGitea(t)
	lat := &contract.Latencies{}
	p := profile
	p.Fields.User = adapters.User{Login: user} // the one person the test Gitea has
	p.Webhook = contractWebhook
	contract.Run(t, func(t *testing.T) adapters.Tracker {
		tr := newReal(t, Options{HTTPClient: &http.Client{Transport: lat, Timeout: 30 * time.Second}})
		return tr
	}, func() contract.Profile { p.MissingKey = "999999"; return p }())
	t.Logf("Gitea request latencies: %v", lat)
}

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}
