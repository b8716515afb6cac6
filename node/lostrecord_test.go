package node

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestLostApplyRecordKeepsPeersLaterEdit: A applied B's edit v1 to its
// tracker, then lost the record of it (a crash, or a full disk, between the
// tracker write and the sync-log write: the event is still in A's incoming
// log, its link still says v0). Meanwhile B's tracker accepted a later edit,
// v2. When A restarts and its trigger looks at the issue before its applier
// does, v1 is not a local edit: it must not get a fresh clock that beats v2.
// Both nodes end with v2.
func TestLostApplyRecordKeepsPeersLaterEdit(t *testing.T) {
	ctx := context.Background()
	a := startRestartable(t, "a", Options{})
	b := startNode(t, "b", Options{})
	pairNodes(t, a.testNode, b)

	onB, err := b.tracker.Create(ctx, adapters.Issue{Summary: "v0", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A has B's issue and B got the ack", func() bool {
		_, ok := a.issueBySummary(t, "v0")
		return ok && b.count(t, "o/") == 0 && a.settled(t) && b.settled(t)
	})
	onA, _ := a.issueBySummary(t, "v0")
	aID := a.ID().String()
	a.stop(t)

	// B's edit v1 waits in B's outgoing log for A.
	if _, err := b.tracker.Update(ctx, onB.Key, adapters.Patch{Summary: ptr("v1")}); err != nil {
		t.Fatal(err)
	}
	var v1 []store.OutEntry
	testutil.WaitFor(t, 10*time.Second, "B queued v1 for A", func() bool {
		if err := b.store.View(func(tx *store.Tx) (err error) { v1, err = tx.PendingOut(aID, 0, 10); return }); err != nil {
			t.Fatal(err)
		}
		return len(v1) == 1
	})

	// A's state after the lost record: v1 received and in its tracker, the
	// link as before.
	opts := a.opts
	opts.Logger = slog.New(slog.DiscardHandler)
	n, err := Open(a.home, opts)
	if err != nil {
		t.Fatal(err)
	}
	err = n.store.Update(ctx, func(tx *store.Tx) error {
		_, _, err := tx.Receive(b.ID().String(), v1[0].Seq, v1[0].Frame)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.tracker.Update(ctx, onA.Key, adapters.Patch{Summary: ptr("v1")}); err != nil {
		t.Fatal(err)
	}

	// B's later edit, accepted by B's tracker.
	if _, err := b.tracker.Update(ctx, onB.Key, adapters.Patch{Summary: ptr("v2")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "B queued v2 for A", func() bool { return b.count(t, "o/") == 2 })

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// The restarted node's trigger looks at the issue before its applier.
	if n, err = Open(a.home, opts); err != nil {
		t.Fatal(err)
	}
	if err := n.eng.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	a.start(t)

	summary := func(tn *testNode, key string) string {
		is, err := tn.tracker.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return is.Summary
	}
	testutil.WaitFor(t, 15*time.Second, "both nodes settled", func() bool {
		return a.count(t, "o/") == 0 && b.count(t, "o/") == 0 && a.count(t, "i/") == 0 && a.settled(t) && b.settled(t)
	})
	if ga, gb := summary(a.testNode, onA.Key), summary(b, onB.Key); ga != "v2" || gb != "v2" {
		t.Fatalf("A has %q and B has %q; both should have B's later edit v2", ga, gb)
	}
}
