package engine

import (
	"context"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// TestRelayedConflictSameEverywhere: A and C are linked only through B,
// which passes changes on. A and C edit the status concurrently. A value
// passed on keeps the Base its writer gave it, so A and C both find the
// conflict, the same one (same field, both values, the same winner), and
// every node ends with the winner. (Before, B gave C's value the Base of
// what its link to A held, A's own edit, so A took C's edit for one made
// after seeing A's: no conflict at A.)
func TestRelayedConflictSameEverywhere(t *testing.T) {
	for _, cFirst := range []bool{false, true} {
		name := "A edits first"
		if cFirst {
			name = "C edits first"
		}
		t.Run(name, func(t *testing.T) { relayedConflict(t, cFirst) })
	}
}

func relayedConflict(t *testing.T, cFirst bool) {
	ctx := context.Background()
	m := newMemNet(t, "a", "b", "c")
	a, b, c := m.nodes[0], m.nodes[1], m.nodes[2]
	a.rules.skip = map[LinkKey]bool{PeerLink(c.id): true}
	c.rules.skip = map[LinkKey]bool{PeerLink(a.id): true}
	is := a.create(t, "printer")
	m.settle(ctx)
	onC, ok := c.bySummary(t, "printer")
	if !ok {
		t.Fatal("C has no issue")
	}
	onB, _ := b.bySummary(t, "printer")
	type edit struct {
		n        *testNode
		key, val string
	}
	edits := []edit{{a, is.Key, "A1"}, {c, onC.Key, "C1"}}
	if cFirst {
		edits[0], edits[1] = edits[1], edits[0]
	}
	for _, x := range edits {
		if _, err := x.n.tr.Tracker.Update(ctx, x.key, adapters.Patch{Status: &x.val}); err != nil {
			t.Fatal(err)
		}
		if err := x.n.eng.Scan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m.settle(ctx)
	sa, sb, sc := a.status(t, is.Key), b.status(t, onB.Key), c.status(t, onC.Key)
	if sa != sb || sb != sc {
		t.Fatalf("statuses A %q, B %q, C %q: not converged", sa, sb, sc)
	}
	ca, _ := a.conflictRecords(t, is.Key)
	cc, _ := c.conflictRecords(t, onC.Key)
	if len(ca) != 1 || len(cc) != 1 {
		t.Fatalf("conflict records: A %d, C %d; want one each", len(ca), len(cc))
	}
	x, y := ca[0].Conflict, cc[0].Conflict
	if x.ID() != y.ID() || x.Winner.S != sa || x.Winner.S != y.Winner.S || x.Loser.S != y.Loser.S {
		t.Fatalf("A recorded %+v, C %+v; want the same conflict, won by %q", x, y, sa)
	}
	// B, which passed the edits on, records it too.
	cb, _ := b.conflictRecords(t, onB.Key)
	if len(cb) != 1 || cb[0].Conflict.ID() != x.ID() {
		t.Fatalf("B recorded %+v, want the conflict A and C recorded", cb)
	}
}
