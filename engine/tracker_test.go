package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// TestApplyKeepsEditMadeDuringApply: a person edits B's issue between the
// apply's read of it and its write (the labels a patch sets are the whole
// list). The apply must not overwrite that edit with a patch computed
// without it: its patch says which revision it was computed from, the
// tracker refuses it, and the apply reads the issue again. Without that,
// B's added label was lost on both nodes (the flaky
// TestNetworkConvergesWithConcurrentEdits in node/, which lost "floor2").
func TestApplyKeepsEditMadeDuringApply(t *testing.T) {
	ctx := context.Background()
	m := newMemNet(t, "a", "b")
	a, b := m.nodes[0], m.nodes[1]
	is, err := a.tr.Tracker.Create(ctx, adapters.Issue{Summary: "printer", Status: "Open", Labels: []string{"hw", "urgent"}})
	if err != nil {
		t.Fatal(err)
	}
	m.settle(ctx)
	onB, ok := b.bySummary(t, "printer")
	if !ok {
		t.Fatal("B has no issue")
	}
	if _, err := a.tr.Tracker.Update(ctx, is.Key, adapters.Patch{Labels: &[]string{"hw", "printer"}}); err != nil {
		t.Fatal(err)
	}
	edited := false
	b.tr.mu.Lock()
	b.tr.beforeUpdate = func() {
		// The person saw the issue as it was before the apply.
		if _, err := b.tr.Tracker.Update(ctx, onB.Key, adapters.Patch{Labels: &[]string{"hw", "urgent", "floor2"}}); err != nil {
			t.Error(err)
		}
		edited = true
	}
	b.tr.mu.Unlock()
	m.settle(ctx)
	if !edited {
		t.Fatal("the apply made no update")
	}
	want := []string{"floor2", "hw", "printer"} // A removed urgent, added printer; B added floor2
	for _, x := range []struct {
		n   *testNode
		key string
	}{{a, is.Key}, {b, onB.Key}} {
		got, err := x.n.tr.Tracker.Get(ctx, x.key)
		if err != nil {
			t.Fatal(err)
		}
		l := slices.Sorted(slices.Values(got.Labels))
		if !slices.Equal(l, want) {
			t.Errorf("%s labels %v, want %v", x.n.name, l, want)
		}
	}
}
