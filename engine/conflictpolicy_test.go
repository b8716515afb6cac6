package engine

import (
	"context"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// fixedPolicies is one policy for every field of every link.
type fixedPolicies string

func (p fixedPolicies) ConflictPolicy(LinkKey, string) string { return string(p) }

// conflictRecords returns the conflicts and settlements in the twin's
// history of the issue.
func (n *testNode) conflictRecords(t *testing.T, key string) (conflicts, settled []store.Record) {
	t.Helper()
	err := n.st.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		recs, err := tx.History(tw.ID)
		for _, r := range recs {
			switch r.What {
			case string(Conflict):
				conflicts = append(conflicts, r)
			case string(Settled):
				settled = append(settled, r)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return conflicts, settled
}

func (n *testNode) status(t *testing.T, key string) string {
	t.Helper()
	is, err := n.tr.Tracker.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return is.Status
}

// concurrentStatus makes A and B edit the status of a synced issue before
// either sees the other's edit, then delivers both ways and settles. It
// returns A's and B's keys and the value the newest edit set.
func concurrentStatus(t *testing.T, m *memNet) (keyA, keyB, newest string) {
	t.Helper()
	ctx := context.Background()
	a, b := m.nodes[0], m.nodes[1]
	is := a.create(t, "printer")
	m.settle(ctx)
	onB, ok := b.bySummary(t, "printer")
	if !ok {
		t.Fatal("B has no issue")
	}
	for _, x := range []struct {
		n        *testNode
		key, val string
	}{{a, is.Key, "A1"}, {b, onB.Key, "B1"}} {
		if _, err := x.n.tr.Tracker.Update(ctx, x.key, adapters.Patch{Status: &x.val}); err != nil {
			t.Fatal(err)
		}
		if err := x.n.eng.Scan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m.deliver(ctx, a, b)
	m.deliver(ctx, b, a)
	m.settle(ctx)
	cs, _ := a.conflictRecords(t, is.Key)
	if len(cs) != 1 {
		t.Fatalf("A recorded %d conflicts, want 1", len(cs))
	}
	return is.Key, onB.Key, cs[0].Conflict.Winner.S
}

// TestConflictPolicies: concurrent edits of one field on both nodes leave
// one conflict record on each, with both values, and end as the policy
// says: newest everywhere, A's value (ours on A), B's value (theirs on
// A), or each side's own value until Resolve (hold on both), after which
// both hold the value kept and record the conflict as settled.
func TestConflictPolicies(t *testing.T) {
	for _, tt := range []struct {
		name         string
		onA, onB     string
		wantA, wantB string // "" : the newest
	}{
		{"newest", PolicyNewest, PolicyNewest, "", ""},
		{"ours on A", PolicyOurs, PolicyNewest, "A1", "A1"},
		{"theirs on A", PolicyTheirs, PolicyNewest, "B1", "B1"},
		// Both insist: the side whose edit lost settles first, with its
		// own; the other takes that settlement (no new conflict).
		{"ours on both", PolicyOurs, PolicyOurs, "older", "older"},
		{"hold on both", PolicyHold, PolicyHold, "A1", "B1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := newMemNet(t, "a", "b")
			a, b := m.nodes[0], m.nodes[1]
			a.eng.cfg.Conflicts, b.eng.cfg.Conflicts = fixedPolicies(tt.onA), fixedPolicies(tt.onB)
			keyA, keyB, newest := concurrentStatus(t, m)
			older := map[string]string{"A1": "B1", "B1": "A1"}[newest]
			want := func(w string) string {
				if w == "older" {
					return older
				}
				return cmpOrStr(w, newest)
			}
			wantA, wantB := want(tt.wantA), want(tt.wantB)
			if got := a.status(t, keyA); got != wantA {
				t.Errorf("A's status %q, want %q", got, wantA)
			}
			if got := b.status(t, keyB); got != wantB {
				t.Errorf("B's status %q, want %q", got, wantB)
			}
			ca, _ := a.conflictRecords(t, keyA)
			cb, _ := b.conflictRecords(t, keyB)
			if len(ca) != 1 || len(cb) != 1 || ca[0].Conflict.ID() != cb[0].Conflict.ID() {
				t.Fatalf("conflict records: A %+v, B %+v; want one each, the same", ca, cb)
			}
			c := ca[0].Conflict
			if vals := []string{c.Winner.S, c.Loser.S}; !(vals[0] == "A1" && vals[1] == "B1" || vals[0] == "B1" && vals[1] == "A1") {
				t.Errorf("conflict values %v, want A1 and B1", vals)
			}
			if tt.onA != PolicyHold {
				return
			}
			if _, err := a.eng.Resolve(ctx, keyA, replica.FieldStatus, "x"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.eng.Resolve(ctx, keyA, replica.FieldStatus, "theirs"); err == nil {
				t.Fatal("a second resolve found an open conflict")
			}
			m.settle(ctx)
			if sa, sb := a.status(t, keyA), b.status(t, keyB); sa != "x" || sb != "x" {
				t.Fatalf("after resolve: A %q, B %q, want x on both", sa, sb)
			}
			_, sa := a.conflictRecords(t, keyA)
			_, sb := b.conflictRecords(t, keyB)
			if len(sa) != 1 || len(sb) != 1 || sa[0].Conflict.ID() != c.ID() || sb[0].Conflict.ID() != c.ID() || sb[0].Settled.S != "x" || sb[0].Settled.Clock.Peer != a.id {
				t.Fatalf("settled records: A %+v, B %+v", sa, sb)
			}
			ca, _ = a.conflictRecords(t, keyA)
			if len(ca) != 1 {
				t.Fatalf("the resolution made a new conflict: %+v", ca)
			}
		})
	}
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestHeldConflictsListedUntilResolved: status lists a held conflict on
// both nodes until it is resolved.
func TestHeldConflictsListedUntilResolved(t *testing.T) {
	ctx := context.Background()
	m := newMemNet(t, "a", "b")
	a, b := m.nodes[0], m.nodes[1]
	a.eng.cfg.Conflicts, b.eng.cfg.Conflicts = fixedPolicies(PolicyHold), fixedPolicies(PolicyHold)
	keyA, keyB, _ := concurrentStatus(t, m)
	held := func(n *testNode) []HeldConflict {
		var hs []HeldConflict
		if err := n.st.View(func(tx *store.Tx) (err error) { hs, err = HeldConflicts(tx); return }); err != nil {
			t.Fatal(err)
		}
		return hs
	}
	if ha, hb := held(a), held(b); len(ha) != 1 || len(hb) != 1 || ha[0].Key != keyA || hb[0].Key != keyB || ha[0].Field != replica.FieldStatus {
		t.Fatalf("held: A %+v, B %+v", ha, hb)
	}
	if _, err := b.eng.Resolve(ctx, keyB, replica.FieldStatus, "ours"); err != nil {
		t.Fatal(err)
	}
	m.settle(ctx)
	if ha, hb := held(a), held(b); len(ha) != 0 || len(hb) != 0 {
		t.Fatalf("held after resolve: A %+v, B %+v", ha, hb)
	}
	if sa, sb := a.status(t, keyA), b.status(t, keyB); sa != "B1" || sb != "B1" {
		t.Fatalf("after B kept ours: A %q, B %q", sa, sb)
	}
}

// TestLocalEditNotSharedYetIsAConflict: B's person edits the status, and
// before B's trigger looks, A's edit of the status arrives. B's edit is not
// overwritten unseen: it is kept (stamped as the trigger would have, it is
// the newest), sent to A, and both record the same conflict with both
// values. Under hold each side keeps its own value.
func TestLocalEditNotSharedYetIsAConflict(t *testing.T) {
	for _, policy := range []string{PolicyNewest, PolicyHold} {
		t.Run(policy, func(t *testing.T) {
			ctx := context.Background()
			m := newMemNet(t, "a", "b")
			a, b := m.nodes[0], m.nodes[1]
			a.eng.cfg.Conflicts, b.eng.cfg.Conflicts = fixedPolicies(policy), fixedPolicies(policy)
			is := a.create(t, "printer")
			m.settle(ctx)
			onB, _ := b.bySummary(t, "printer")
			if _, err := a.tr.Tracker.Update(ctx, is.Key, adapters.Patch{Status: new("A1")}); err != nil {
				t.Fatal(err)
			}
			if err := a.eng.Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := b.tr.Tracker.Update(ctx, onB.Key, adapters.Patch{Status: new("B1")}); err != nil {
				t.Fatal(err)
			}
			m.deliver(ctx, a, b) // before B's trigger saw B1
			m.settle(ctx)
			wantA := "B1"
			if policy == PolicyHold {
				wantA = "A1"
			}
			if sa, sb := a.status(t, is.Key), b.status(t, onB.Key); sa != wantA || sb != "B1" {
				t.Fatalf("A %q, B %q; want A %q, B B1 (B's edit kept)", sa, sb, wantA)
			}
			ca, _ := a.conflictRecords(t, is.Key)
			cb, _ := b.conflictRecords(t, onB.Key)
			if len(ca) != 1 || len(cb) != 1 || ca[0].Conflict.ID() != cb[0].Conflict.ID() ||
				ca[0].Conflict.Winner.S != "B1" || ca[0].Conflict.Loser.S != "A1" {
				t.Fatalf("conflicts: A %+v, B %+v; want one each, B1 over A1", ca, cb)
			}
		})
	}
}
