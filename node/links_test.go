package node

import (
	"maps"
	"slices"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
)

// stamp treats a list field as a set: only the labels added or removed
// since the baseline get a fresh clock.
func TestStampLabelSet(t *testing.T) {
	old := replica.Clock{Wall: 1, Peer: "x"}
	now := replica.Clock{Wall: 9, Peer: "me"}
	clock := func() replica.Clock { return now }
	lst := func(l ...string) replica.Replica {
		var r replica.Replica
		r.Set(replica.FieldLabels, replica.Value{L: l})
		return r
	}
	agreed := replica.Replica{}
	agreed.Set(replica.FieldLabels, replica.Value{L: []string{"a", "b", "z"}, E: map[string]replica.Elem{
		"a": {Clock: old}, "b": {Clock: old}, "z": {Clock: old}, "gone": {Del: true, Clock: old}}, Clock: old})

	// z was added elsewhere: the local issue never had it, and it stays.
	changed := stamp(&agreed, lst("a", "b"), lst("b", "c"), clock, nil)
	got := agreed.Fields[replica.FieldLabels]
	want := map[string]replica.Elem{"a": {Del: true, Clock: now}, "b": {Clock: old}, "c": {Clock: now}, "z": {Clock: old}, "gone": {Del: true, Clock: old}}
	if !slices.Equal(changed, []string{replica.FieldLabels}) || !maps.Equal(got.E, want) ||
		!slices.Equal(got.L, []string{"b", "c", "z"}) || got.Clock != now {
		t.Fatalf("changed %v, labels %+v", changed, got)
	}

	// Unchanged since the baseline: nothing to send, whatever the agreed set says.
	if changed := stamp(&agreed, lst("b"), lst("b"), clock, nil); len(changed) != 0 {
		t.Fatalf("an unchanged list was stamped: %v", changed)
	}

	// A plain list (from a node before sets) becomes a set at its clock.
	plain := replica.Replica{}
	plain.Set(replica.FieldLabels, replica.Value{L: []string{"x"}, Clock: old})
	stamp(&plain, lst("x"), lst("x", "y"), clock, nil)
	got = plain.Fields[replica.FieldLabels]
	if want := map[string]replica.Elem{"x": {Clock: old}, "y": {Clock: now}}; !maps.Equal(got.E, want) || !slices.Equal(got.L, []string{"x", "y"}) {
		t.Fatalf("plain list: %+v", got)
	}

	// A string field is still a register.
	var r replica.Replica
	out := replica.Replica{}
	out.Set(replica.FieldStatus, replica.Value{S: "Done"})
	if changed := stamp(&r, replica.Replica{}, out, clock, nil); !slices.Equal(changed, []string{replica.FieldStatus}) || r.Fields[replica.FieldStatus].E != nil {
		t.Fatalf("status: %v %+v", changed, r.Fields)
	}
}
