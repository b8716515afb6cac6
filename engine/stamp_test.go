package engine

import (
	"maps"
	"slices"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
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

// stamp passes on the clock of a value another link holds (it came from
// there), and gives a local edit a fresh one.
func TestStampKeepsHeldClocks(t *testing.T) {
	origin := replica.Clock{Wall: 5, Peer: "origin"}
	old := replica.Clock{Wall: 2, Peer: "x"}
	newer := replica.Clock{Wall: 7, Peer: "x"}
	now := replica.Clock{Wall: 9, Peer: "me"}
	clock := func() replica.Clock { return now }
	with := func(sum string, c replica.Clock, labels ...string) replica.Replica {
		var r replica.Replica
		r.Set(replica.FieldSummary, replica.Value{S: sum, Clock: c})
		if labels != nil {
			e := map[string]replica.Elem{}
			for _, l := range labels {
				e[l] = replica.Elem{Clock: c}
			}
			r.Set(replica.FieldLabels, replica.Value{L: labels, E: e, Clock: c})
		}
		return r
	}
	plain := func(sum string, labels ...string) replica.Replica {
		var r replica.Replica
		r.Set(replica.FieldSummary, replica.Value{S: sum})
		if labels != nil {
			r.Set(replica.FieldLabels, replica.Value{L: labels})
		}
		return r
	}
	tests := []struct {
		name   string
		agreed replica.Replica // the link's, before
		others []held
		want   replica.Clock // of the summary
		wantB  replica.Clock // of label "b" (zero: as want)
	}{
		{"passed on from a link that holds it", with("a", old, "a"),
			[]held{{agreed: with("new", origin, "a", "b"), baseline: plain("new", "a", "b"), out: plain("new", "a", "b")}}, origin, replica.Clock{}},
		{"the other link has it but the issue shows otherwise: a local edit", with("a", old, "a"),
			[]held{{agreed: with("new", origin, "a", "b"), baseline: plain("new", "a", "b"), out: plain("newer", "a", "b", "c")}}, now, replica.Clock{}},
		{"the held clock is not newer than the link's own (per field, per label)", with("a", newer, "a"),
			[]held{{agreed: with("new", origin, "a", "b"), baseline: plain("new", "a", "b"), out: plain("new", "a", "b")}}, now, origin},
		{"no other link", with("a", old, "a"), nil, now, replica.Clock{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agreed := tt.agreed.Clone()
			out := plain("new", "a", "b")
			changed := stamp(&agreed, plain("a", "a"), out, clock, tt.others)
			if !slices.Equal(changed, []string{replica.FieldLabels, replica.FieldSummary}) {
				t.Fatalf("changed %v", changed)
			}
			if got := agreed.Fields[replica.FieldSummary]; got.S != "new" || got.Clock != tt.want {
				t.Errorf("summary %+v, want clock %v", got, tt.want)
			}
			wantB := tt.wantB
			if wantB.IsZero() {
				wantB = tt.want
			}
			if got := agreed.Fields[replica.FieldLabels].E["b"]; got.Del || got.Clock != wantB {
				t.Errorf("label b %+v, want clock %v", got, wantB)
			}
		})
	}
}

// keepNewer: an incoming value older than one another link holds is kept
// out (a string field is reported with the newer clock; a set takes in the
// other link's elements).
func TestKeepNewer(t *testing.T) {
	c := func(w int64) replica.Clock { return replica.Clock{Wall: w, Peer: "p"} }
	str := func(s string, w int64) replica.Value { return replica.Value{S: s, Clock: c(w)} }
	set := func(w int64, elems map[string]replica.Elem) replica.Value {
		return replica.Value{L: presentElems(elems), E: elems, Clock: c(w)}
	}
	other := &store.Link{}
	other.Agreed.Set(replica.FieldSummary, str("newest", 8))
	other.Baseline.Set(replica.FieldSummary, replica.Value{S: "newest"})
	otherLabels := map[string]replica.Elem{"x": {Clock: c(1)}, "gone": {Del: true, Clock: c(9)}, "fresh": {Clock: c(6)}}
	other.Agreed.Set(replica.FieldLabels, set(9, otherLabels))
	other.Baseline.Set(replica.FieldLabels, replica.Value{L: []string{"fresh", "x"}})
	stale := &store.Link{} // agreed differs from its baseline: holds nothing
	stale.Agreed.Set(replica.FieldStatus, str("Done", 9))
	stale.Baseline.Set(replica.FieldStatus, replica.Value{S: "Open"})
	tw := &store.Twin{ID: "t", LocalKey: "K", Links: map[string]*store.Link{"other": other, "stale": stale, "in": {}}}

	var merged replica.Replica
	merged.Set(replica.FieldSummary, str("older", 5))
	merged.Set(replica.FieldStatus, str("Closed", 4))
	merged.Set(replica.FieldLabels, set(5, map[string]replica.Elem{"x": {Clock: c(1)}, "gone": {Clock: c(5)}}))
	ch := replica.Changes{Fields: []string{replica.FieldLabels, replica.FieldStatus, replica.FieldSummary}}
	newer, kept := keepNewer(tw, "in", &merged, ch, func() replica.Clock { return replica.Clock{} })
	if len(newer) != 1 || newer[replica.FieldSummary].Clock != c(8) {
		t.Errorf("newer %v, want the summary at clock 8", newer)
	}
	if !slices.Equal(kept, []string{replica.FieldLabels}) {
		t.Errorf("kept %v", kept)
	}
	if got := merged.Fields[replica.FieldLabels].L; !slices.Equal(got, []string{"fresh", "x"}) {
		t.Errorf("labels %v, want the other link's removal and addition taken in", got)
	}

	var cur replica.Replica
	cur.Set(replica.FieldSummary, replica.Value{S: "newest"})
	left, k := keepFields(cur, &merged, ch, newer)
	if !slices.Equal(k, []string{replica.FieldSummary}) || slices.Contains(left.Fields, replica.FieldSummary) {
		t.Errorf("keepFields kept %v, left %v", k, left.Fields)
	}
	if got := merged.Fields[replica.FieldSummary]; got.S != "newest" || got.Clock != c(8) {
		t.Errorf("summary %+v", got)
	}
}
