package github

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/adapters/github/ghfake"
)

// TestSeveralRepos: one connection over two repositories; keys stay
// unique, the feed covers both, a create picks its repository, a key
// without one is refused, an issue is not moved.
func TestSeveralRepos(t *testing.T) {
	f := newFake(t, "octo/widgets", "octo/gadgets")
	tr := open(t, f, Options{Repo: "octo/widgets", Repos: []string{"octo/gadgets", "OCTO/widgets"}})
	if got := tr.Repos(); len(got) != 2 {
		t.Fatalf("repos %v: a repeat (in another case) was kept", got)
	}
	c := tctx(t)
	a, err := tr.Create(c, adapters.Issue{Summary: "in widgets"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.Create(c, adapters.Issue{Summary: "in gadgets", Extra: map[string]string{"repo": "octo/gadgets"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != "octo/widgets#1" || b.Key != "octo/gadgets#1" || a.Extra["repo"] != "octo/widgets" || b.Extra["repo"] != "octo/gadgets" {
		t.Fatalf("keys %s (%v), %s (%v)", a.Key, a.Extra, b.Key, b.Extra)
	}
	if _, err := tr.Create(c, adapters.Issue{Summary: "x", Extra: map[string]string{"repo": "evil/repo"}}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), "octo/gadgets") {
		t.Errorf("create in a repository not of the connection: %v", err)
	}
	if _, err := tr.Get(c, "1"); !errors.Is(err, adapters.ErrNotFound) || !strings.Contains(err.Error(), "several") {
		t.Errorf("a key without repository: %v", err)
	}
	if got, err := tr.Get(c, "octo/gadgets#1"); err != nil || got.Summary != "in gadgets" {
		t.Errorf("get octo/gadgets#1: %+v %v", got, err)
	}
	if _, err := tr.Update(c, b.Key, adapters.Patch{Extra: map[string]string{"repo": "octo/widgets"}}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("moving an issue: %v", err)
	}
	is, cur, err := tr.Changes(c, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, i := range is {
		keys[i.Key] = true
	}
	if !keys[a.Key] || !keys[b.Key] {
		t.Fatalf("feed %v, want both repositories' issues", keys)
	}
	// A change in the second repository after the cursor is found.
	time.Sleep(tr.settle + time.Second)
	_, cur, err = tr.Changes(c, cur, 100)
	if err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	f.CreateIssue(f.Repo("octo/gadgets"), "made on GitHub", "")
	f.Mu.Unlock()
	is, _, err = tr.Changes(c, cur, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(is) != 1 || is[0].Key != "octo/gadgets#2" {
		t.Errorf("after the cursor: %+v", is)
	}
}

// TestPullRequestsOption: with PullRequests on, pull requests sync as
// issues marked pull_request.
func TestPullRequestsOption(t *testing.T) {
	f := newFake(t)
	tr := open(t, f, Options{PullRequests: true})
	c := tctx(t)
	if _, err := tr.Create(c, adapters.Issue{Summary: "a pull request"}); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	f.Repo("octo/widgets").Issues[1]["pull_request"] = map[string]any{"url": "https://api.github.com/repos/octo/widgets/pulls/1", "html_url": "https://github.com/octo/widgets/pull/1",
		"diff_url": "https://github.com/octo/widgets/pull/1.diff", "patch_url": "https://github.com/octo/widgets/pull/1.patch", "merged_at": nil}
	f.Mu.Unlock()
	is, _, err := tr.Changes(c, "", 100)
	if err != nil || len(is) != 1 || is[0].Extra["pull_request"] != "true" {
		t.Fatalf("feed with pull requests: %+v %v", is, err)
	}
	if got, err := tr.Get(c, is[0].Key); err != nil || got.Extra["pull_request"] != "true" {
		t.Errorf("get: %+v %v", got, err)
	}
}

func appKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// TestAppAuth: as a GitHub App the adapter signs a JWT, gets an
// installation token, uses it, and makes a new one before it expires; a
// wrong key or installation is a permanent credentials error.
func TestAppAuth(t *testing.T) {
	f := newFake(t)
	key, pemKey := appKey(t)
	f.App = &ghfake.App{ID: 42, Key: &key.PublicKey, Installation: 7, TokenTTL: time.Hour}
	f.Token = "" // only the app is let in
	tr := open(t, f, Options{App: &App{ID: 42, Key: pemKey, Installation: 7}})
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "by the app"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Get(c, is.Key); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	made := f.TokensIssued
	f.Mu.Unlock()
	if made != 1 {
		t.Fatalf("two calls made %d installation tokens, want 1 (the token is kept)", made)
	}
	// 56 minutes later the token has less than renewBefore left.
	tr.app.mu.Lock()
	tr.app.expires = tr.app.expires.Add(-56 * time.Minute)
	tr.app.mu.Unlock()
	if _, err := tr.Get(c, is.Key); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	made = f.TokensIssued
	f.Mu.Unlock()
	if made != 2 {
		t.Errorf("a token about to expire was not renewed: %d tokens made", made)
	}

	res := tr.Check(c)
	for _, r := range res {
		if !r.OK {
			t.Errorf("check %s: %s", r.Name, r.Detail)
		}
	}
	if !hasResult(res, "repository access", "reaches all 1") || !hasResult(res, "credentials", "installation 7") || !hasResult(res, "scopes", "issues: write") {
		t.Errorf("check as an app: %+v", res)
	}

	_, other := appKey(t)
	for name, app := range map[string]App{"another key": {ID: 42, Key: other, Installation: 7}, "another installation": {ID: 42, Key: pemKey, Installation: 8}} {
		bad := open(t, f, Options{App: &app})
		_, err := bad.Get(c, is.Key)
		if class, _ := adapters.Classify(err); class != adapters.ClassCredentials || !class.Permanent() {
			t.Errorf("%s: class %q: %v", name, class, err)
		}
	}
	if _, err := New(Options{Repo: "octo/widgets", App: &App{ID: 42, Key: []byte("not a key"), Installation: 7}}); err == nil || !strings.Contains(err.Error(), "app_key_file") {
		t.Errorf("a bad key file: %v", err)
	}
}

func hasResult(res []check.Result, name, detail string) bool {
	for _, r := range res {
		if r.Name == name && strings.Contains(r.Detail, detail) {
			return true
		}
	}
	return false
}

// TestSubIssues: parent is written as GitHub's sub-issue, read back on
// the child (from the listing) and on the parent (sub_issues), moved and
// removed; the parent may be in another repository of the connection.
func TestSubIssues(t *testing.T) {
	f := newFake(t, "octo/widgets", "octo/gadgets")
	tr := open(t, f, Options{Repos: []string{"octo/widgets", "octo/gadgets"}})
	c := tctx(t)
	p1, err := tr.Create(c, adapters.Issue{Summary: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := tr.Create(c, adapters.Issue{Summary: "other parent", Extra: map[string]string{"repo": "octo/gadgets"}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := tr.Create(c, adapters.Issue{Summary: "child", Extra: map[string]string{"parent": p1.Key}})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Extra["parent"] != p1.Key {
		t.Fatalf("created child: %v", ch.Extra)
	}
	if got, _ := tr.Get(c, p1.Key); got.Extra["sub_issues"] != ch.Key {
		t.Errorf("parent's sub_issues: %v", got.Extra)
	}
	if got, _ := tr.Get(c, ch.Key); got.Extra["parent"] != p1.Key {
		t.Errorf("child's parent: %v", got.Extra)
	}
	up, err := tr.Update(c, ch.Key, adapters.Patch{Extra: map[string]string{"parent": p2.Key, "sub_issues": "ignored,as,read,only"}})
	if err != nil || up.Extra["parent"] != p2.Key {
		t.Fatalf("moved to %s: %v %v", p2.Key, up.Extra, err)
	}
	if got, _ := tr.Get(c, p1.Key); got.Extra["sub_issues"] != "" {
		t.Errorf("old parent still lists: %v", got.Extra)
	}
	up, err = tr.Update(c, ch.Key, adapters.Patch{Extra: map[string]string{"parent": ""}})
	if err != nil || up.Extra["parent"] != "" {
		t.Errorf("parent removed: %v %v", up.Extra, err)
	}
	if _, err := tr.Update(c, ch.Key, adapters.Patch{Extra: map[string]string{"parent": ch.Key}}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("own parent: %v", err)
	}
}

// TestReferences: #N, owner/repo#N and issue links in a body are the
// issue's references, without itself and without repeats.
func TestReferences(t *testing.T) {
	r := repoRef{"octo", "widgets"}
	for _, tc := range []struct{ body, want string }{
		{"", ""},
		{"see #3 and #3, not #0", "octo/widgets#3"},
		{"#7 itself", ""},
		{"fixes other/lib#12 (and https://github.com/octo/gadgets/issues/5)", "octo/gadgets#5,other/lib#12"},
		{"a&#39;b, color #fff, x#4", ""},
		{"(#2)\n#1", "octo/widgets#1,octo/widgets#2"},
	} {
		if got := references(r, 7, tc.body); got != tc.want {
			t.Errorf("references(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestDeleteComment: a comment is deleted by its ID or its sync ID; one
// already gone is no error.
func TestDeleteComment(t *testing.T) {
	tr, _, _ := newValidated(t)
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "comments", Comments: []adapters.Comment{{Body: "mine"}, {Body: "synced", SyncID: "g1", Author: "Ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.DeleteComment(c, is.Key, is.Comments[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := tr.DeleteComment(c, is.Key, "sync:g1"); err != nil {
		t.Fatal(err)
	}
	if err := tr.DeleteComment(c, is.Key, is.Comments[0].ID); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	if got, _ := tr.Get(c, is.Key); len(got.Comments) != 0 {
		t.Errorf("comments left: %+v", got.Comments)
	}
}

// TestCheckWebhookReachability: tracker check says whether GitHub's
// webhook reaches the node, from the hook's last delivery.
func TestCheckWebhookReachability(t *testing.T) {
	for _, tc := range []struct {
		code      int
		warn      bool
		want      string
		noHookYet bool
	}{
		{code: 202, want: "reaches http://node.example:8443/ (last delivery answered 202)"},
		{code: 502, warn: true, want: "cannot reach http://node.example:8443/ (last delivery: 502"},
		{code: 0, warn: true, want: "has delivered nothing yet"},
		{noHookYet: true, warn: true, want: "has no active webhook for issues events"},
	} {
		tr, f, rp := newValidated(t)
		if !tc.noHookYet {
			f.Mu.Lock()
			f.AddHook(rp, "http://node.example:8443/", tc.code)
			f.Mu.Unlock()
		}
		res := tr.Check(tctx(t))
		found := false
		for _, r := range res {
			if r.Name == "webhook reachability" {
				found = true
				if !strings.Contains(r.Detail, tc.want) || r.Warning != tc.warn {
					t.Errorf("code %d: %+v, want %q (warning %v)", tc.code, r, tc.want, tc.warn)
				}
			}
		}
		if !found || !hasResult(res, "attachments", "link in the body") {
			t.Errorf("code %d: %+v", tc.code, res)
		}
	}
}

// TestWebhookSeveralRepos: the listener of a connection over two
// repositories rings for deliveries of either, not of a third.
func TestWebhookSeveralRepos(t *testing.T) {
	var rings atomic.Int32
	tr, err := New(Options{Token: "x", Repos: []string{"octo/widgets", "octo/gadgets"}, WebhookListen: "127.0.0.1:0", WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.OnChange(func() { rings.Add(1) })
	for i, tc := range []struct {
		repo  string
		rings int32
	}{{"octo/widgets", 1}, {"OCTO/Gadgets", 2}, {"evil/repo", 2}} {
		body := []byte(`{"action":"opened","repository":{"full_name":"` + tc.repo + `"}}`)
		req, _ := http.NewRequest("POST", "http://"+tr.WebhookAddr()+"/", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Delivery", fmt.Sprint("d", i))
		req.Header.Set("X-GitHub-Event", "issues")
		req.Header.Set("X-Hub-Signature-256", sign([]byte("s3cret"), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if rings.Load() != tc.rings {
			t.Errorf("delivery of %s: %d rings, want %d", tc.repo, rings.Load(), tc.rings)
		}
	}
}
