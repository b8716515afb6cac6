package github

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
)

type ghListOpts = gh.IssueListByRepoOptions

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// collect gathers a validator's findings instead of failing the test.
type collect struct {
	mu   sync.Mutex
	msgs []string
}

func (c *collect) Errorf(f string, a ...any) {
	c.mu.Lock()
	c.msgs = append(c.msgs, fmt.Sprintf(f, a...))
	c.mu.Unlock()
}

// TestValidatorCatchesMismatch: an answer missing a required field, and a
// request with a value the description does not allow, are reported with
// the path and the rule broken.
func TestValidatorCatchesMismatch(t *testing.T) {
	f := newFake(t)
	c := &collect{}
	f.T = c
	tr := open(t, f, Options{})
	is, err := tr.Create(tctx(t), adapters.Issue{Summary: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.msgs) != 0 {
		t.Fatalf("a valid exchange was reported: %v", c.msgs)
	}
	f.Mu.Lock()
	delete(f.Repo("octo/widgets").Issues[1], "node_id")
	f.Mu.Unlock()
	tr.Get(tctx(t), is.Key)
	if len(c.msgs) == 0 || !strings.Contains(c.msgs[0], "/issues/1") || !strings.Contains(c.msgs[0], "node_id") {
		t.Fatalf("an answer without node_id: %v", c.msgs)
	}
	c.msgs = nil
	tr.c.Issues.ListByRepo(tctx(t), "octo", "widgets", &ghListOpts{State: "bogus"})
	if len(c.msgs) == 0 || !strings.Contains(c.msgs[0], "state") {
		t.Fatalf("a request with state=bogus: %v", c.msgs)
	}
}

// TestUnchangedPollIsFree: polling an unchanged repository sends
// If-None-Match and gets 304s, which the fake (like GitHub) does not count
// against the rate limit.
func TestUnchangedPollIsFree(t *testing.T) {
	tr, f, _ := newValidated(t)
	c := tctx(t)
	if _, err := tr.Create(c, adapters.Issue{Summary: "one"}); err != nil {
		t.Fatal(err)
	}
	_, cur, err := tr.Changes(c, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	before, nm := f.Remaining, f.NotMod
	f.Mu.Unlock()
	for range 3 {
		is, next, err := tr.Changes(c, cur, 100)
		if err != nil {
			t.Fatal(err)
		}
		if next != cur {
			cur = next // the cursor settles once; later polls ask the same URLs
			_ = is
		}
	}
	for range 3 {
		if _, _, err := tr.Changes(c, cur, 100); err != nil {
			t.Fatal(err)
		}
	}
	f.Mu.Lock()
	spent, got304 := before-f.Remaining, f.NotMod-nm
	f.Mu.Unlock()
	if got304 < 6 {
		t.Errorf("6 unchanged polls of two feeds got %d 304 answers", got304)
	}
	t.Logf("polls spent %d of the rate limit; %d answers were 304", spent, got304)
	if spent > 4 {
		t.Errorf("unchanged polls spent %d requests of the rate limit", spent)
	}
}

// TestRateLimited: GitHub's primary and secondary limits are the
// rate_limited class with the time to come back, transient.
func TestRateLimited(t *testing.T) {
	tr, f, _ := newValidated(t)
	for _, kind := range []string{"primary", "secondary"} {
		f.Mu.Lock()
		f.LimitNext = kind
		f.Mu.Unlock()
		_, err := tr.Get(tctx(t), "1")
		class, te := adapters.Classify(err)
		if class != adapters.ClassRateLimited || te == nil || te.RetryAt.Before(time.Now().Add(20*time.Second)) || class.Permanent() || !errors.Is(err, adapters.ErrUnavailable) {
			t.Errorf("%s limit: class %q, error %v (%+v)", kind, class, err, te)
		}
		// go-github remembers the limit and refuses until the reset; a
		// fresh adapter stands for the time after it.
		tr, f, _ = newValidated(t)
	}
}

// TestBadToken: 401 is the credentials class, permanent.
func TestBadToken(t *testing.T) {
	tr, f, _ := newValidated(t)
	f.Token = "other"
	_, err := tr.Get(tctx(t), "1")
	if class, _ := adapters.Classify(err); class != adapters.ClassCredentials || !class.Permanent() {
		t.Errorf("bad token: class %q: %v", class, err)
	}
}

// TestCommentEditInFeed: editing a comment does not change the issue's
// updated_at, yet the feed reports the issue (the comments feed).
func TestCommentEditInFeed(t *testing.T) {
	tr, _, _ := newValidated(t)
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "commented", Comments: []adapters.Comment{{Body: "first"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Let the creation settle, then read the feed to its end.
	time.Sleep(tr.settle + time.Second)
	_, cur, err := tr.Changes(c, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if again, _, _ := tr.Changes(c, cur, 100); len(again) != 0 {
		t.Fatalf("settled feed repeats: %v", again)
	}
	if _, err := tr.Update(c, is.Key, adapters.Patch{EditComments: []adapters.Comment{{ID: is.Comments[0].ID, Body: "edited"}}}); err != nil {
		t.Fatal(err)
	}
	got, _, err := tr.Changes(c, cur, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != is.Key {
		t.Fatalf("after a comment edit the feed gave %+v, want %s", got, is.Key)
	}
}

// TestPullRequestsLeftOut: the issues endpoints also list pull requests;
// the adapter does not.
func TestPullRequestsLeftOut(t *testing.T) {
	tr, f, rp := newValidated(t)
	c := tctx(t)
	if _, err := tr.Create(c, adapters.Issue{Summary: "an issue"}); err != nil {
		t.Fatal(err)
	}
	pr, err := tr.Create(c, adapters.Issue{Summary: "a pull request", TwinID: "prtwin"})
	if err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	rp.Issues[2]["pull_request"] = map[string]any{"url": "https://api.github.com/repos/octo/widgets/pulls/2", "html_url": "https://github.com/octo/widgets/pull/2",
		"diff_url": "https://github.com/octo/widgets/pull/2.diff", "patch_url": "https://github.com/octo/widgets/pull/2.patch", "merged_at": nil}
	f.Mu.Unlock()
	is, _, err := tr.Changes(c, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(is) != 1 || is[0].Summary != "an issue" {
		t.Errorf("feed: %+v", is)
	}
	if _, err := tr.Get(c, pr.Key); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("Get of a pull request: %v", err)
	}
	if _, err := tr.FindByTwin(c, "prtwin"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("FindByTwin finds a pull request: %v", err)
	}
}

// TestFieldsMapping: priorities are labels, assignees and milestone are
// Extra, statuses carry GitHub's state reasons.
func TestFieldsMapping(t *testing.T) {
	tr, f, rp := newValidated(t)
	c := tctx(t)
	f.Mu.Lock()
	f.AddMilestone(rp, "v1.0")
	f.Mu.Unlock()
	is, err := tr.Create(c, adapters.Issue{Summary: "fields", Priority: "High", Labels: []string{"bug"}, Extra: map[string]string{"assignees": "bob,alice", "milestone": "v1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if is.Priority != "high" || len(is.Labels) != 1 || is.Extra["assignees"] != "alice,bob" || is.Extra["milestone"] != "v1.0" {
		t.Errorf("created: %+v", is)
	}
	up, err := tr.Update(c, is.Key, adapters.Patch{Status: ptr("not_planned"), Extra: map[string]string{"milestone": "", "assignees": ""}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Status != "not_planned" || up.Extra["milestone"] != "" || up.Extra["assignees"] != "" || up.Priority != "high" {
		t.Errorf("updated: %+v", up)
	}
	if _, err := tr.Update(c, is.Key, adapters.Patch{Extra: map[string]string{"milestone": "v9"}}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), "v1.0") {
		t.Errorf("unknown milestone: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestCheck: tracker check reports the token's user, the repository, the
// rate limit left and the feed, every exchange validated.
func TestCheck(t *testing.T) {
	tr, _, _ := newValidated(t)
	res := tr.Check(tctx(t))
	var names []string
	for _, r := range res {
		names = append(names, r.Name)
		if !r.OK {
			t.Errorf("check %s failed: %s", r.Name, r.Detail)
		}
		if r.Name == "rate limit" && !strings.Contains(r.Detail, "requests left") {
			t.Errorf("rate limit: %s", r.Detail)
		}
	}
	for _, want := range []string{"credentials", "repository", "rate limit", "change feed"} {
		if !slices.Contains(names, want) {
			t.Errorf("check has no %q: %v", want, names)
		}
	}
	t.Logf("%+v", res)
}
