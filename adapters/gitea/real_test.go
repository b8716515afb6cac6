package gitea

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters"
)

// drainAll reads the feed from cur until it returns nothing.
func drainAll(t *testing.T, tr *Tracker, cur adapters.Cursor) (map[string]adapters.Issue, adapters.Cursor) {
	t.Helper()
	seen := map[string]adapters.Issue{}
	for range 100 {
		is, next, err := tr.Changes(tctx(t), cur, 100)
		if err != nil {
			t.Fatal(err)
		}
		cur = next
		if len(is) == 0 {
			return seen, cur
		}
		for _, i := range is {
			seen[i.Key] = i
		}
	}
	t.Fatal("the feed never ends")
	return nil, cur
}

// TestCommentEditInFeed (real Gitea): editing a comment does not bump the
// issue's updated_at on Gitea, yet the issue is in the change feed after
// the edit, through the comments feed.
func TestCommentEditInFeed(t *testing.T) {
	tr := newReal(t, Options{})
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "commented", Comments: []adapters.Comment{{Body: "first"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, cur := drainAll(t, tr, "")
	deadline := time.Now().Add(tr.settle + 5*time.Second)
	for { // until the create has settled out of the overlap
		again, next := drainAll(t, tr, cur)
		cur = next
		if len(again) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed still returns %v %v after the create", len(again), tr.settle+5*time.Second)
		}
	}
	n, _ := tr.number(is.Key)
	before, err := tr.getWire(c, n)
	if err != nil {
		t.Fatal(err)
	}
	id := is.Comments[0].ID
	// Edited as a user would, straight through Gitea's API.
	cid, _ := strconv.ParseInt(id, 10, 64)
	if _, _, err := tr.api(c).EditIssueComment(tr.owner, tr.repo, cid, sdk.EditIssueCommentOption{Body: "edited"}); err != nil {
		t.Fatal(err)
	}
	after, err := tr.getWire(c, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("issue updated_at before the comment edit %v, after %v", before.Updated, after.Updated)
	got, _ := drainAll(t, tr, cur)
	if _, ok := got[is.Key]; !ok {
		t.Fatalf("after a comment edit the feed returned %v, not %s", got, is.Key)
	}
	full, err := tr.Get(c, is.Key)
	if err != nil || len(full.Comments) != 1 || full.Comments[0].Body != "edited" {
		t.Fatalf("get after the edit: %+v %v", full.Comments, err)
	}
}

// TestWebhookFromGitea (real Gitea): a webhook set on the repository with
// the secret reaches the adapter's listener and rings within a second of
// the change, and tracker check names the hook.
func TestWebhookFromGitea(t *testing.T) {
	tr := newReal(t, Options{WebhookListen: "127.0.0.1:0", WebhookSecret: "hook-s3cret"})
	var rings atomic.Int32
	rang := make(chan time.Time, 16)
	tr.OnChange(func() { rings.Add(1); rang <- time.Now() })
	c := tctx(t)
	mk := func(secret string) {
		if _, _, err := tr.api(c).CreateRepoHook(tr.owner, tr.repo, sdk.CreateHookOption{
			Type: sdk.HookTypeGitea, Active: true, Events: []string{"issues", "issue_comment"},
			Config: map[string]string{"url": "http://" + tr.WebhookAddr() + "/", "content_type": "json", "secret": secret},
		}); err != nil {
			t.Fatal(err)
		}
	}
	mk("hook-s3cret")
	start := time.Now()
	if _, err := tr.Create(c, adapters.Issue{Summary: "rings"}); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-rang:
		t.Logf("Gitea's delivery rang %v after the create call started", at.Sub(start).Round(time.Millisecond))
		if d := at.Sub(start); d > 2*time.Second {
			t.Errorf("the webhook rang %v after the change, want within a second or so", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Gitea's webhook delivery never rang")
	}
	res := tr.Check(c)
	var hook string
	for _, r := range res {
		if r.Name == "webhook" {
			hook = r.Detail
		}
	}
	if !strings.Contains(hook, tr.WebhookAddr()) {
		t.Errorf("tracker check's webhook line %q does not name the listener %s", hook, tr.WebhookAddr())
	}
}

type counter struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestPollCost (real Gitea): a poll that finds nothing new costs two
// requests (the issues feed and the comments feed), the figure the README
// gives for a node that only polls.
func TestPollCost(t *testing.T) {
	cnt := &counter{next: http.DefaultTransport}
	tr := newReal(t, Options{HTTPClient: &http.Client{Transport: cnt, Timeout: 30 * time.Second}})
	c := tctx(t)
	if _, err := tr.Create(c, adapters.Issue{Summary: "one", Comments: []adapters.Comment{{Body: "c"}}}); err != nil {
		t.Fatal(err)
	}
	_, cur := drainAll(t, tr, "")
	deadline := time.Now().Add(tr.settle + 5*time.Second)
	for {
		again, next := drainAll(t, tr, cur)
		cur = next
		if len(again) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the feed does not settle")
		}
	}
	before := cnt.n.Load()
	const polls = 5
	for range polls {
		is, next, err := tr.Changes(c, cur, 100)
		if err != nil || len(is) != 0 {
			t.Fatalf("unchanged poll: %v %v", is, err)
		}
		cur = next
	}
	per := float64(cnt.n.Load()-before) / polls
	t.Logf("an unchanged poll costs %.1f requests", per)
	if per != 2 {
		t.Errorf("an unchanged poll costs %.1f requests, want 2", per)
	}
}

// TestCheckProbesWebhook (real Gitea): tracker check, with the node not
// running, opens the listener for a moment, asks Gitea for a test delivery
// of the webhook that names its port, and says whether a delivery signed
// with the same secret arrived.
func TestCheckProbesWebhook(t *testing.T) {
	url, token, user := realGitea(t)
	c, err := sdk.NewClient(url, sdk.SetToken(token), sdk.SetGiteaVersion(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, hookSecret string
		ok               bool
	}{
		{"same secret", "probe-s3cret", true},
		{"another secret", "not-the-secret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("probe-%d", time.Now().UnixNano())
			if _, _, err := c.CreateRepo(sdk.CreateRepoOption{Name: name, AutoInit: true, Readme: "Default"}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.DeleteRepo(user, name) })
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			if _, _, err := c.CreateRepoHook(user, name, sdk.CreateHookOption{
				Type: sdk.HookTypeGitea, Active: true, Events: []string{"issues", "issue_comment"},
				Config: map[string]string{"url": "http://" + addr + "/", "content_type": "json", "secret": tc.hookSecret},
			}); err != nil {
				t.Fatal(err)
			}
			tr := newReal(t, Options{Repo: user + "/" + name, WebhookListen: addr, WebhookSecret: "probe-s3cret"})
			var line *checkResult
			for _, r := range tr.Check(tctx(t)) {
				if r.Name == "webhook" {
					line = &checkResult{r.OK, r.Warning, r.Detail}
				}
			}
			if line == nil {
				t.Fatal("no webhook line")
			}
			t.Logf("webhook: %+v", *line)
			if reached := strings.Contains(line.detail, "reached it"); reached != tc.ok || line.warn == tc.ok {
				t.Errorf("webhook line %+v; want the delivery to arrive: %v", *line, tc.ok)
			}
			if tr.WebhookAddr() != "" {
				t.Errorf("the probe left the listener open on %s", tr.WebhookAddr())
			}
		})
	}
}

type checkResult struct {
	ok, warn bool
	detail   string
}
