package engine

import (
	"context"
	"sync"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// memNetwork is a network for the engine's tests: every member's events
// go to its author log here (NetLog), and deliverNet hands a member the
// events of another's log it has not had, as gossip and catch-up would, in
// whatever order the test chooses.
type memNetwork struct {
	id   string
	mu   sync.Mutex
	logs map[string][][]byte // author -> frames, seq = index + 1
}

func (w *memNetwork) AppendNet(_ *store.Tx, _ LinkKey, l *store.Link, ev *replica.Event) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	author := ev.Origin
	ev.Seq = uint64(len(w.logs[author]) + 1)
	b, err := replica.MarshalEvent(ev)
	if err != nil {
		return 0, err
	}
	w.logs[author] = append(w.logs[author], b)
	if l != nil {
		l.SetKey(author, ev.SourceKey)
	}
	return ev.Seq, nil
}

// newMemNetwork makes every node of m a member of one network, and its
// only link.
func newMemNetwork(m *memNet) *memNetwork {
	w := &memNetwork{id: "team", logs: map[string][][]byte{}}
	for _, n := range m.nodes {
		n.links = []LinkKey{NetLink(w.id)}
		n.eng.cfg.Nets = w
	}
	return w
}

// deliverNet gives to every event of from's author log and applies them;
// it returns how many were new to it.
func (w *memNetwork) deliverNet(t *testing.T, ctx context.Context, from, to *testNode) int {
	t.Helper()
	w.mu.Lock()
	frames := append([][]byte(nil), w.logs[from.id]...)
	w.mu.Unlock()
	src := &Source{Key: NetSource(w.id, from.id)}
	fresh := 0
	err := to.st.Update(ctx, func(tx *store.Tx) error {
		fresh = 0
		for i, f := range frames {
			dup, _, err := tx.Receive(string(src.Key), uint64(i+1), f)
			if err != nil {
				return err
			}
			if !dup {
				fresh++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := to.eng.ApplyPending(ctx, src); err != nil {
		t.Fatalf("%s applying %s's events: %v", to.name, from.name, err)
	}
	return fresh
}

// settleNet runs every member's trigger and delivers every log to every
// member until nothing moves.
func (w *memNetwork) settleNet(t *testing.T, ctx context.Context, m *memNet) {
	t.Helper()
	for round := 0; round < 20; round++ {
		moved := 0
		for _, n := range m.nodes {
			if err := n.eng.Scan(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, from := range m.nodes {
			for _, to := range m.nodes {
				if from != to {
					moved += w.deliverNet(t, ctx, from, to)
				}
			}
		}
		if moved == 0 {
			return
		}
	}
	t.Fatal("the network did not settle in 20 rounds")
}

// listed is the conflicts `issuemesh conflicts` lists for the issue: one
// per episode (ConflictEpisodes).
func (n *testNode) listed(t *testing.T, key string) []Episode {
	t.Helper()
	var eps []Episode
	err := n.st.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		recs, err := tx.History(tw.ID)
		eps = ConflictEpisodes(recs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return eps
}

// TestNetworkConflictSameOnEveryMember: three members of a network edit
// one field concurrently, and each gets the others' edits in another
// order. Every member ends with the same value and lists the same one
// conflict (field, both values, the winner): the records a member makes
// on the way differ with the order (a third edit replaces the conflict of
// the first two), the conflict the merged state holds does not.
func TestNetworkConflictSameOnEveryMember(t *testing.T) {
	ctx := context.Background()
	m := newMemNet(t, "a", "b", "c")
	w := newMemNetwork(m)
	a, b, c := m.nodes[0], m.nodes[1], m.nodes[2]
	is := a.create(t, "printer")
	w.settleNet(t, ctx, m)
	keys := map[*testNode]string{a: is.Key}
	for _, n := range []*testNode{b, c} {
		got, ok := n.bySummary(t, "printer")
		if !ok {
			t.Fatalf("%s has no issue", n.name)
		}
		keys[n] = got.Key
	}
	for _, n := range m.nodes {
		val := "from " + n.name
		if _, err := n.tr.Tracker.Update(ctx, keys[n], adapters.Patch{Status: &val}); err != nil {
			t.Fatal(err)
		}
		if err := n.eng.Scan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Each member gets the other two edits in its own order.
	for _, d := range [][2]*testNode{{c, a}, {b, a}, {a, b}, {c, b}, {b, c}, {a, c}} {
		w.deliverNet(t, ctx, d[0], d[1])
	}
	w.settleNet(t, ctx, m)
	want := a.status(t, keys[a])
	var first Episode
	for i, n := range m.nodes {
		if got := n.status(t, keys[n]); got != want {
			t.Fatalf("%s has status %q, %s %q", n.name, got, a.name, want)
		}
		eps := n.listed(t, keys[n])
		if len(eps) != 1 {
			t.Fatalf("%s lists %d conflicts (%+v), want 1", n.name, len(eps), eps)
		}
		if i == 0 {
			first = eps[0]
			continue
		}
		if x := eps[0].Conflict; x.ID() != first.Conflict.ID() || x.Winner.S != want || x.Loser.S != first.Conflict.Loser.S {
			t.Fatalf("%s lists %+v, %s %+v", n.name, x, a.name, first.Conflict)
		}
	}
	if first.Conflict.Winner.S == first.Conflict.Loser.S {
		t.Fatalf("conflict %+v", first.Conflict)
	}
}
