package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestLostLinkCreatesNoDuplicate: A loses its link to a twin it shared
// with B (its sync log records of the twin are gone) and shares the issue
// again, under a new twin ID. B finds the issue it holds under A's key and
// refuses the event with an error naming both, instead of creating the
// issue a second time (DESIGN 5.2).
func TestLostLinkCreatesNoDuplicate(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "once", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "B has A's issue and A its ack", func() bool {
		_, ok := b.issueBySummary(t, "once")
		return ok && a.count(t, "o/") == 0
	})
	err = a.store.Update(ctx, func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(is.Key)
		if err != nil {
			return err
		}
		tx.DeleteTwin(tw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Summary: ptr("once, edited")}); err != nil {
		t.Fatal(err)
	}
	onB := func() int {
		all, _, err := b.tracker.Changes(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	testutil.WaitFor(t, 10*time.Second, "B refused A's event for the new twin (or created it)", func() bool {
		if onB() > 1 {
			return true
		}
		for _, bl := range blockedOn(t, b.Node) {
			if bl.Dir == store.BlockIn && strings.Contains(bl.Error, "lost its link") {
				return true
			}
		}
		return false
	})
	if n := onB(); n != 1 {
		t.Fatalf("B has %d issues, want 1 (A's issue created twice)", n)
	}
}
