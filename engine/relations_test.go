package engine

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// A relation whose other issue is not at B yet waits in B's sync log, not
// in memory: B restarts between the two arrivals, and the relation still
// connects the twins once the other issue lands. Both ways it can wait:
// the other issue is not synced and starts syncing later (the relation
// went as a reference, shown at B), or it is synced but arrives after the
// relating issue (the relation went by twin ID; here its first apply at B
// is refused, then retried).
func TestRelationWaitSurvivesRestart(t *testing.T) {
	type scenario struct {
		name string
		// before runs up to the relation waiting at B; after lets the other
		// issue land.
		before, after func(t *testing.T, ctx context.Context, m *memNet, x, y adapters.Issue, relate func())
		// ref: B shows the relation as a reference while it waits.
		ref bool
	}
	scenarios := []scenario{
		{
			name: "the other issue starts syncing later",
			ref:  true,
			before: func(t *testing.T, ctx context.Context, m *memNet, x, y adapters.Issue, relate func()) {
				a := m.nodes[0]
				a.rules.mu.Lock()
				a.rules.held = map[string]bool{"other": true}
				a.rules.mu.Unlock()
				relate()
				m.settle(ctx)
			},
			after: func(t *testing.T, ctx context.Context, m *memNet, x, y adapters.Issue, relate func()) {
				a, b := m.nodes[0], m.nodes[1]
				a.rules.mu.Lock()
				a.rules.held = nil
				a.rules.mu.Unlock()
				if _, err := a.eng.ShareManual(ctx, y.Key, PeerLink(b.id), ManualSync, ""); err != nil {
					t.Fatal(err)
				}
				m.settle(ctx)
			},
		},
		{
			name: "the other issue arrives after the relating one",
			before: func(t *testing.T, ctx context.Context, m *memNet, x, y adapters.Issue, relate func()) {
				b := m.nodes[1]
				b.tr.setReject("other")
				m.settle(ctx) // both twins exist at A; y is refused at B
				relate()
				m.settle(ctx) // the relation goes by y's twin ID
			},
			after: func(t *testing.T, ctx context.Context, m *memNet, x, y adapters.Issue, relate func()) {
				a, b := m.nodes[0], m.nodes[1]
				b.tr.setReject("")
				retry(t, ctx, a, b, y.Key)
				m.settle(ctx)
			},
		},
	}
	for _, kind := range []string{adapters.RelBlocks, adapters.RelParent} {
		for _, sc := range scenarios {
			t.Run(kind+": "+sc.name, func(t *testing.T) {
				ctx := context.Background()
				m := newMemNet(t, "a", "b")
				a, b := m.nodes[0], m.nodes[1]
				y := a.create(t, "other")
				x := a.create(t, "relating")
				relate := func() {
					if _, err := a.tr.Tracker.Update(ctx, x.Key, adapters.Patch{AddRelations: []adapters.Relation{{Kind: kind, Key: y.Key}}}); err != nil {
						t.Fatal(err)
					}
				}
				sc.before(t, ctx, m, x, y, relate)
				xb, ok := b.bySummary(t, "relating")
				if !ok {
					t.Fatal("the relating issue did not arrive at B")
				}
				if _, ok := b.bySummary(t, "other"); ok {
					t.Fatal("the other issue is at B already")
				}
				if ref := strings.Join(slices.Collect(maps.Values(xb.Extra)), "; "); sc.ref != strings.Contains(ref, kind+" "+y.Key+" (other)") {
					t.Fatalf("the reference shown at B while the relation waits: %q (want one: %v)", ref, sc.ref)
				}
				t.Logf("waits at B before the restart: %d", b.count(t, "rw/"))

				b.restart(t)
				sc.after(t, ctx, m, x, y, relate)

				yb, ok := b.bySummary(t, "other")
				if !ok {
					t.Fatal("the other issue did not arrive at B")
				}
				xb, _ = b.bySummary(t, "relating")
				if !slices.ContainsFunc(xb.Relations, func(r adapters.Relation) bool { return r.Kind == kind && r.Key == yb.Key }) {
					t.Fatalf("after the restart the waiting relation was lost: %s at B has relations %+v, want %s %s", xb.Key, xb.Relations, kind, yb.Key)
				}
				for k, v := range xb.Extra {
					if strings.Contains(v, y.Key) {
						t.Fatalf("the reference stays shown beside the relation: %s = %q", k, v)
					}
				}
				if n := b.count(t, "rw"); n != 0 {
					t.Fatalf("%d wait records left at B after the relation landed", n)
				}
				// Nothing goes back and forth: A keeps its one relation.
				xa, _ := a.tr.Tracker.Get(ctx, x.Key)
				if len(xa.Relations) != 1 || xa.Relations[0].Kind != kind || xa.Relations[0].Key != y.Key {
					t.Fatalf("A's relations changed: %+v", xa.Relations)
				}
			})
		}
	}
}
