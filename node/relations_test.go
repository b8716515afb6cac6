package node

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// Relations land between the twins whatever order the issues arrive in
// (the relating issue may land before the related one), and a comment
// edited and one deleted on B show on A: the edit as an edit, the deletion
// as a visible note.
func TestRelationsAndCommentDeletesCross(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	mk := func(summary string) adapters.Issue {
		is, err := a.tracker.Create(ctx, adapters.Issue{Summary: summary})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	rel := func(key, kind, other string) {
		if _, err := a.tracker.Update(ctx, key, adapters.Patch{AddRelations: []adapters.Relation{{Kind: kind, Key: other}}}); err != nil {
			t.Fatal(err)
		}
	}
	blocked, blocker := mk("blocked"), mk("blocker")
	parent, c1, c2 := mk("parent"), mk("child one"), mk("child two")
	rel(blocker.Key, adapters.RelBlocks, blocked.Key)
	rel(c1.Key, adapters.RelParent, parent.Key)
	rel(c2.Key, adapters.RelParent, parent.Key)
	rel(parent.Key, adapters.RelChild, c1.Key)
	onB := func(summary string) adapters.Issue {
		is, _ := b.issueBySummary(t, summary)
		return is
	}
	has := func(is adapters.Issue, kind, other string) bool {
		return slices.ContainsFunc(is.Relations, func(r adapters.Relation) bool { return r.Kind == kind && r.Key == other })
	}
	defer func() {
		if t.Failed() {
			for _, s := range []string{"blocker", "blocked", "parent", "child one", "child two"} {
				is := onB(s)
				t.Logf("B %s %s: relations %+v extra %v", s, is.Key, is.Relations, is.Extra)
			}
		}
	}()
	testutil.WaitFor(t, 15*time.Second, "the relations connect the twins on B", func() bool {
		bb, bd, p, x1, x2 := onB("blocker"), onB("blocked"), onB("parent"), onB("child one"), onB("child two")
		return bd.Key != "" && p.Key != "" && x1.Key != "" && x2.Key != "" &&
			has(bb, adapters.RelBlocks, bd.Key) && has(x1, adapters.RelParent, p.Key) && has(x2, adapters.RelParent, p.Key) && has(p, adapters.RelChild, x1.Key)
	})

	// Comments written on B, one edited and one deleted there.
	bk := onB("blocked").Key
	up, err := b.tracker.Update(ctx, bk, adapters.Patch{AddComments: []adapters.Comment{{Author: "bob", Body: "keep me"}, {Author: "bob", Body: "delete me"}}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A has both comments", func() bool {
		got, _ := a.tracker.Get(ctx, blocked.Key)
		return len(got.Comments) == 2
	})
	if _, err := b.tracker.Update(ctx, bk, adapters.Patch{
		EditComments:   []adapters.Comment{{ID: up.Comments[0].ID, Body: "kept, edited"}},
		DeleteComments: []string{up.Comments[1].ID},
	}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A shows the edit and the deletion", func() bool {
		got, _ := a.tracker.Get(ctx, blocked.Key)
		return len(got.Comments) == 2 && got.Comments[0].Body == "kept, edited" && strings.HasPrefix(got.Comments[1].Body, "[deleted at b]")
	})
	testutil.WaitFor(t, 10*time.Second, "settled", func() bool {
		return a.count(t, "o/") == 0 && b.count(t, "o/") == 0 && a.settled(t) && b.settled(t)
	})
	if got := onB("blocked"); len(got.Comments) != 1 {
		t.Fatalf("the deleted comment came back to B: %+v", got.Comments)
	}
}
