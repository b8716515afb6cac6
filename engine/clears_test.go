package engine

import (
	"context"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/node/rules"
)

// A field cleared on one side (assignee, watchers, type, dates, custom
// fields) is cleared on the other, and nothing echoes back.
func TestClearsCross(t *testing.T) {
	ctx := context.Background()
	m := newMemNet(t, "a", "b")
	a, b := m.nodes[0], m.nodes[1]
	is, err := a.tr.Tracker.Create(ctx, adapters.Issue{
		Summary: "full", Assignee: &adapters.User{Email: "ann@example.com"}, Watchers: []adapters.User{{Login: "bob"}},
		Type: "Bug", Due: "2027-01-31", Start: "2027-01-02",
		Fields: map[string]adapters.FieldValue{
			"Tier":      {Kind: adapters.KindOption, Text: "Gold"},
			"Effort":    {Kind: adapters.KindNumber, Text: "3"},
			"Platforms": {Kind: adapters.KindOptions, Options: []string{"linux", "mac"}},
			"Note":      {Text: "free"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.settle(ctx)
	onB, ok := b.bySummary(t, "full")
	if !ok || onB.Assignee == nil || onB.Due == "" || len(onB.Fields) != 4 || len(onB.Watchers) != 1 {
		t.Fatalf("B has %+v", onB)
	}
	empty := ""
	if _, err := a.tr.Tracker.Update(ctx, is.Key, adapters.Patch{
		Assignee: &adapters.User{}, Watchers: &[]adapters.User{}, Type: &empty, Due: &empty, Start: &empty,
		Fields: map[string]adapters.FieldValue{"Tier": {Kind: adapters.KindOption}, "Effort": {Kind: adapters.KindNumber}, "Platforms": {Kind: adapters.KindOptions}, "Note": {}},
	}); err != nil {
		t.Fatal(err)
	}
	if n := m.settle(ctx); n != 1 {
		t.Errorf("the clears took %d events, want 1 (an echo?)", n)
	}
	onB, _ = b.tr.Tracker.Get(ctx, onB.Key)
	if onB.Assignee != nil || len(onB.Watchers) != 0 || onB.Type != "" || onB.Due != "" || onB.Start != "" || len(onB.Fields) != 0 {
		t.Errorf("after the clears B has assignee %+v, watchers %v, type %q, due %q, start %q, fields %v; want all cleared",
			onB.Assignee, onB.Watchers, onB.Type, onB.Due, onB.Start, onB.Fields)
	}
	// B clears back what it has: nothing (a field set again crosses again).
	if _, err := b.tr.Tracker.Update(ctx, onB.Key, adapters.Patch{Due: new("2027-03-01")}); err != nil {
		t.Fatal(err)
	}
	m.settle(ctx)
	if got, _ := a.tr.Tracker.Get(ctx, is.Key); got.Due != "2027-03-01" || got.Assignee != nil {
		t.Errorf("A after B set a due date: due %q, assignee %+v", got.Due, got.Assignee)
	}
}

// A person B's user map does not know lands unassigned at B; B does not
// send that back as a clear, even where the twin had a known assignee
// before, so A keeps its assignee.
func TestUnknownPersonIsNotClearedBack(t *testing.T) {
	ctx := context.Background()
	m := newMemNet(t, "a", "b")
	a, b := m.nodes[0], m.nodes[1]
	set, err := rules.Compile(nil, nil, rules.Options{Self: b.id, UserMap: map[string]string{"bea@b.example": "ann@a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	b.rules.set = set
	is, err := a.tr.Tracker.Create(ctx, adapters.Issue{Summary: "x", Assignee: &adapters.User{Email: "ann@a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	m.settle(ctx)
	onB, _ := b.bySummary(t, "x")
	if onB.Assignee == nil || onB.Assignee.Email != "bea@b.example" {
		t.Fatalf("B's assignee %+v, want bea@b.example (mapped)", onB.Assignee)
	}
	if _, err := a.tr.Tracker.Update(ctx, is.Key, adapters.Patch{Assignee: &adapters.User{Email: "zed@a.example"}}); err != nil {
		t.Fatal(err)
	}
	if n := m.settle(ctx); n != 1 {
		t.Errorf("an unknown assignee took %d events to settle, want 1 (B sent a clear back?)", n)
	}
	if got, _ := a.tr.Tracker.Get(ctx, is.Key); got.Assignee == nil || got.Assignee.Email != "zed@a.example" {
		t.Errorf("A's assignee %+v, want zed@a.example kept", got.Assignee)
	}
	if onB, _ = b.tr.Tracker.Get(ctx, onB.Key); onB.Assignee != nil {
		t.Errorf("B's assignee %+v, want unassigned", onB.Assignee)
	}
}
