package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// tombstones counts the removed labels the twin of key holds on its link
// with every peer.
func (tn *testNode) tombstones(t *testing.T, key string) int {
	t.Helper()
	n := 0
	err := tn.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		for _, l := range tw.Links {
			n += l.Agreed.Fields[replica.FieldLabels].Tombstones()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two nodes take turns replacing an issue's labels: both converge after
// every round, and the removed labels do not pile up (each round leaves one
// tombstone more without pruning).
func TestLabelTombstonesPruned(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "labels", Status: "Open", Labels: []string{"keep", "r0"}})
	if err != nil {
		t.Fatal(err)
	}
	var onB adapters.Issue
	testutil.WaitFor(t, 10*time.Second, "B has A's issue", func() bool {
		var ok bool
		onB, ok = b.issueBySummary(t, "labels")
		return ok
	})
	const rounds = 16
	var old replica.Replica // A's state of the link after round 1, with r1 added
	for i := 1; i <= rounds; i++ {
		want := []string{"keep", fmt.Sprint("r", i)}
		who, key := a, is.Key
		if i%2 == 0 {
			who, key = b, onB.Key
		}
		if _, err := who.tracker.Update(ctx, key, adapters.Patch{Labels: &want}); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("round %d: both hold %v", i, want), func() bool {
			ga, err1 := a.tracker.Get(ctx, is.Key)
			gb, err2 := b.tracker.Get(ctx, onB.Key)
			return err1 == nil && err2 == nil && slices.Equal(sorted(ga.Labels), want) && slices.Equal(sorted(gb.Labels), want) &&
				a.count(t, "o/") == 0 && b.count(t, "o/") == 0
		})
		if i == 1 {
			old = a.agreedWith(t, is.Key, b)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "both triggers looked at every change", func() bool { return a.settled(t) && b.settled(t) })
	ta, tb := a.tombstones(t, is.Key), b.tombstones(t, onB.Key)
	t.Logf("after %d rounds: %d tombstones at A, %d at B", rounds, ta, tb)
	if ta > 3 || tb > 3 {
		t.Fatalf("tombstones pile up: %d at A, %d at B after %d rounds", ta, tb, rounds)
	}

	// A's event of round 1, with its add of r1, arrives at B only now
	// (its tombstone was pruned long ago): r1 stays removed on both.
	before := b.count(t, "r/")
	ev := replica.Event{V: replica.Version, ID: newID(), Twin: a.twinOf(t, is.Key), Origin: a.self.String(), Seq: 1 << 40, SourceKey: is.Key, Replica: old}
	frame, err := replica.MarshalEvent(&ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.Update(ctx, func(tx *store.Tx) error { _, _, err := tx.Receive(a.self.String(), ev.Seq, frame); return err }); err != nil {
		t.Fatal(err)
	}
	ps := b.peer(a.self)
	ps.kick(ps.wakeApply)
	testutil.WaitFor(t, 10*time.Second, "B applied the late event", func() bool {
		return b.count(t, "i/") == 0 && b.count(t, "r/") > before && a.count(t, "o/") == 0 && b.count(t, "o/") == 0
	})
	want := []string{"keep", fmt.Sprint("r", rounds)}
	for _, x := range []struct {
		tn  *testNode
		key string
	}{{a, is.Key}, {b, onB.Key}} {
		got, err := x.tn.tracker.Get(ctx, x.key)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(got.Labels), want) {
			t.Fatalf("%s: labels %v after the late event, want %v", x.tn.label, got.Labels, want)
		}
		if l := x.tn.agreedWith(t, x.key, map[*testNode]*testNode{a: b, b: a}[x.tn]).Fields[replica.FieldLabels].L; !slices.Equal(l, want) {
			t.Fatalf("%s: link holds %v after the late event, want %v", x.tn.label, l, want)
		}
	}
}

// agreedWith returns the state the twin of key holds on its link with peer.
func (tn *testNode) agreedWith(t *testing.T, key string, peer *testNode) replica.Replica {
	t.Helper()
	var r replica.Replica
	err := tn.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		if l := tw.Links[peer.self.String()]; l != nil {
			r = l.Agreed.Clone()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (tn *testNode) twinOf(t *testing.T, key string) string {
	t.Helper()
	var id string
	if err := tn.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err == nil {
			id = tw.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func sorted(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}
