package gitea

import (
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters"
)

// TestFieldsOnRealGitea (real Gitea): the assignee, reporter and due date
// are the replica's people and date, not extra fields; the issues a body
// mentions are extra.references; a dependency made
// on one issue reads back on both (blocks, blocked-by), and the change is
// in the feed.
func TestFieldsOnRealGitea(t *testing.T) {
	_, _, user := realGitea(t)
	tr := newReal(t, Options{})
	c := tctx(t)
	a, err := tr.Create(c, adapters.Issue{Summary: "blocker", Assignee: &adapters.User{Login: user}, Due: "2027-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.Create(c, adapters.Issue{Summary: "blocked", Description: "Waits for #1, see " + tr.URL() + "/" + tr.Repo() + "/issues/1."})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tr.Get(c, b.Key); err != nil || got.Extra["references"] != a.Key {
		t.Fatalf("references of %s: %q (%v), want %s", b.Key, got.Extra["references"], err, a.Key)
	}
	got, err := tr.Get(c, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Assignee == nil || got.Assignee.Login != user || got.Due != "2027-03-01" || got.Reporter == nil || got.Reporter.Login != user {
		t.Fatalf("assignee %+v due %q reporter %+v", got.Assignee, got.Due, got.Reporter)
	}
	if _, ok := got.Extra["due_date"]; ok {
		t.Fatalf("the due date is still an extra field: %v", got.Extra)
	}
	_, cur := drainAll(t, tr, "")
	settled := time.Now().Add(tr.settle + 5*time.Second)
	for { // until the creates have settled out of the overlap
		again, next := drainAll(t, tr, cur)
		cur = next
		if len(again) == 0 {
			break
		}
		if time.Now().After(settled) {
			t.Fatalf("the feed still returns %d issues after the creates", len(again))
		}
	}
	if _, err := tr.Update(c, a.Key, adapters.Patch{AddRelations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: b.Key}}}); err != nil {
		t.Fatal(err)
	}
	got, err = tr.Get(c, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got.Relations, func(r adapters.Relation) bool { return r.Kind == adapters.RelBlockedBy && r.Key == a.Key }) {
		t.Fatalf("%s relations %+v, want blocked-by %s", b.Key, got.Relations, a.Key)
	}
	seen, _ := drainAll(t, tr, cur)
	t.Logf("after the dependency the feed returns %v", slices.Sorted(maps.Keys(seen)))
	if _, ok := seen[a.Key]; !ok {
		if _, ok := seen[b.Key]; !ok {
			t.Fatalf("a dependency is not in the change feed (got %d issues)", len(seen))
		}
	}
	// unassign, clear the due date
	got, err = tr.Update(c, a.Key, adapters.Patch{Assignee: &adapters.User{}, Due: new("")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Assignee != nil || got.Due != "" {
		t.Fatalf("after clearing: assignee %+v due %q", got.Assignee, got.Due)
	}
}

// TestDeletedCommentByWebhook (real Gitea): a comment deleted in Gitea
// changes nothing the feed lists; Gitea's issue_comment delivery names
// the issue, and the next feed returns it with the comment gone.
func TestDeletedCommentByWebhook(t *testing.T) {
	tr := newReal(t, Options{WebhookListen: "127.0.0.1:0", WebhookSecret: "hook-s3cret"})
	rang := make(chan struct{}, 64)
	tr.OnChange(func() { rang <- struct{}{} })
	c := tctx(t)
	if _, _, err := tr.api(c).CreateRepoHook(tr.owner, tr.repo, sdk.CreateHookOption{
		Type: sdk.HookTypeGitea, Active: true, Events: []string{"issues", "issue_comment"},
		Config: map[string]string{"url": "http://" + tr.WebhookAddr() + "/", "content_type": "json", "secret": "hook-s3cret"},
	}); err != nil {
		t.Fatal(err)
	}
	is, err := tr.Create(c, adapters.Issue{Summary: "comments", Comments: []adapters.Comment{{Body: "one"}, {Body: "two"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, cur := drainAll(t, tr, "")
	settled := time.Now().Add(tr.settle + 5*time.Second)
	for {
		again, next := drainAll(t, tr, cur)
		cur = next
		if len(again) == 0 {
			break
		}
		if time.Now().After(settled) {
			t.Fatalf("the feed still returns %d issues after the create", len(again))
		}
	}
	for len(rang) > 0 { // the create's deliveries
		<-rang
	}
	id, _ := strconv.ParseInt(is.Comments[1].ID, 10, 64)
	if _, err := tr.api(c).DeleteIssueComment(tr.owner, tr.repo, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rang:
	case <-time.After(10 * time.Second):
		t.Fatal("Gitea's delivery of the deletion never rang")
	}
	got, _ := drainAll(t, tr, cur)
	if _, ok := got[is.Key]; !ok {
		t.Fatalf("after the deletion the feed gave %v, want %s", slices.Sorted(maps.Keys(got)), is.Key)
	}
	full, err := tr.Get(c, is.Key)
	if err != nil || len(full.Comments) != 1 {
		t.Fatalf("the issue after it: %+v %v", full.Comments, err)
	}
}
