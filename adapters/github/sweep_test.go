package github

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// TestDeletedCommentInFeed (validated fake): a comment deleted on GitHub
// changes neither the issue's updated_at nor the comments feed. The issue
// is in the feed after the deletion through the comment-count sweep, or
// through a signed issue_comment "deleted" delivery that names it; with
// neither, polling cannot see it (the case that shows the other two are
// what finds it).
func TestDeletedCommentInFeed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sweep   time.Duration
		webhook bool
		want    bool
	}{
		{"sweep", time.Nanosecond, false, true},
		{"webhook", -1, true, true},
		{"neither", -1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			opts := Options{CommentSweep: -1}
			if tc.webhook {
				opts.WebhookListen, opts.WebhookSecret = "127.0.0.1:0", "s3cret"
			}
			tr := open(t, f, opts)
			tr.OnChange(func() {})
			rp := f.Repo("octo/widgets")
			c := tctx(t)
			is, err := tr.Create(c, adapters.Issue{Summary: "comments", Comments: []adapters.Comment{{Body: "one"}, {Body: "two"}}})
			if err != nil {
				t.Fatal(err)
			}
			other, err := tr.Create(c, adapters.Issue{Summary: "untouched", Comments: []adapters.Comment{{Body: "stays"}}})
			if err != nil {
				t.Fatal(err)
			}
			cur := settled(t, tr)
			tr.sweep.every = tc.sweep // from here on (settling with a sweep at every poll is slow)
			f.Mu.Lock()
			deleted := rp.Comments[1]
			f.Mu.Unlock()
			if err := tr.DeleteComment(c, is.Key, is.Comments[1].ID); err != nil {
				t.Fatal(err)
			}
			if tc.webhook {
				f.Mu.Lock()
				d := f.Delivery(rp, "deleted", rp.Issues[1])
				cm, _ := json.Marshal(deleted)
				var comment map[string]any
				json.Unmarshal(cm, &comment)
				comment["reactions"] = d["issue"].(map[string]any)["reactions"]
				d["comment"] = comment
				f.Mu.Unlock()
				payload, _ := json.Marshal(d)
				checkDelivery(t, "webhook-issue-comment-deleted", payload)
				req, _ := http.NewRequest("POST", "http://"+tr.WebhookAddr()+"/", bytes.NewReader(payload))
				req.Header.Set("X-GitHub-Event", "issue_comment")
				req.Header.Set("X-GitHub-Delivery", "d-deleted")
				req.Header.Set("X-Hub-Signature-256", sign([]byte("s3cret"), payload))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 202 {
					t.Fatalf("the deleted delivery: %d", resp.StatusCode)
				}
			}
			// A fresh deadline: loading GitHub's webhooks description for
			// the check above can take a minute on a loaded machine.
			got, next, err := tr.Changes(tctx(t), cur, 100)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]bool{}
			for _, g := range got {
				keys[g.Key] = true
			}
			if keys[is.Key] != tc.want || keys[other.Key] {
				t.Fatalf("after the deletion the feed gave %v; want %s: %v, and never %s", keys, is.Key, tc.want, other.Key)
			}
			if again, _, err := tr.Changes(tctx(t), next, 100); err != nil || len(again) != 0 {
				t.Fatalf("the feed repeats the deletion: %v %v", again, err)
			}
			if tc.want {
				full, err := tr.Get(c, is.Key)
				if err != nil || len(full.Comments) != 1 {
					t.Fatalf("the issue read after it: %+v %v", full.Comments, err)
				}
			}
		})
	}
}

// settled reads the feed until the creates have left its overlap and
// returns the cursor.
func settled(t *testing.T, tr *Tracker) adapters.Cursor {
	t.Helper()
	var cur adapters.Cursor
	deadline := time.Now().Add(tr.settle + 10*time.Second)
	for first := true; ; first = false {
		is, next, err := tr.Changes(tctx(t), cur, 100)
		if err != nil {
			t.Fatal(err)
		}
		cur = next
		if len(is) == 0 && !first {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed still returns %d issues", len(is))
		}
		time.Sleep(100 * time.Millisecond) // a poll's pace, not a wait for a result
	}
}

// TestUnchangedSweepIsFree (validated fake): the comment-count sweep of an
// unchanged repository of 150 issues is two pages, both answered 304,
// which GitHub does not count against the rate limit.
func TestUnchangedSweepIsFree(t *testing.T) {
	f := newFake(t)
	tr := open(t, f, Options{CommentSweep: -1})
	rp := f.Repo("octo/widgets")
	f.Mu.Lock()
	for i := range 150 {
		f.CreateIssue(rp, fmt.Sprintf("issue %d", i), "")
	}
	f.Mu.Unlock()
	cur := settled(t, tr)
	tr.sweep.every = time.Nanosecond
	c := tctx(t)
	if _, _, err := tr.Changes(c, cur, 100); err != nil { // the first sweep learns the counts
		t.Fatal(err)
	}
	f.Mu.Lock()
	before, nm := f.Remaining, f.NotMod
	f.Mu.Unlock()
	const polls = 3
	for range polls {
		got, _, err := tr.Changes(c, cur, 100)
		if err != nil || len(got) != 0 {
			t.Fatalf("an unchanged poll with a sweep: %d issues, %v", len(got), err)
		}
	}
	f.Mu.Lock()
	spent, got304 := before-f.Remaining, f.NotMod-nm
	f.Mu.Unlock()
	t.Logf("%d unchanged polls with a sweep of 150 issues: %d answers were 304, %d requests counted against the rate limit", polls, got304, spent)
	if want := polls * (2 + 2); got304 < want || spent != 0 {
		t.Errorf("got %d 304s and spent %d; want at least %d 304s (two feeds and two sweep pages a poll) and nothing spent", got304, spent, want)
	}
}
