package rt

import (
	"context"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

func TestFillFieldsLinks(t *testing.T) {
	w := wireTicket{ID: "5", Owner: &obj{ID: "Nobody"}, Due: "1970-01-01T00:00:00Z", Starts: "2027-01-02T00:00:00Z",
		Links: []wireLink{
			{Ref: "self", Type: "ticket", ID: "5"},
			{Ref: "depends-on", Type: "ticket", ID: "6"},
			{Ref: "depended-on-by", Type: "ticket", ID: "7"},
			{Ref: "refers-to", Type: "ticket", ID: "8"},
			{Ref: "referred-to-by", Type: "ticket", ID: "8"},
			{Ref: "parent", Type: "ticket", ID: "9"},
			{Ref: "refers-to", Type: "external", ID: "http://x"},
		}}
	var is adapters.Issue
	fillFields(&is, &w)
	want := []adapters.Relation{{Kind: adapters.RelBlockedBy, Key: "6"}, {Kind: adapters.RelBlocks, Key: "7"}, {Kind: adapters.RelRelates, Key: "8"}, {Kind: adapters.RelParent, Key: "9"}}
	if len(is.Relations) != len(want) {
		t.Fatalf("relations %+v, want %+v", is.Relations, want)
	}
	for i := range want {
		if is.Relations[i] != want[i] {
			t.Fatalf("relations %+v, want %+v", is.Relations, want)
		}
	}
	if is.Assignee != nil || is.Due != "" || is.Start != "2027-01-02" {
		t.Fatalf("assignee %+v due %q start %q", is.Assignee, is.Due, is.Start)
	}
}

// TestFieldsBeyondContract: requestors as watchers, parent and child and
// blocks from both ends, relates removed whichever way it was made, and
// what RT lacks skipped without an error, on a real RT.
func TestFieldsBeyondContract(t *testing.T) {
	u, tok := realRT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := New(Options{URL: u, Token: tok, Queue: newQueue(t, u, tok)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	root := adapters.User{Login: "root"}
	parent, err := tr.Create(ctx, adapters.Issue{Summary: "parent", Watchers: []adapters.User{root}})
	if err != nil {
		t.Fatal(err)
	}
	if len(parent.Watchers) != 1 || !parent.Watchers[0].Matches(root) || parent.Reporter == nil || !parent.Reporter.Matches(root) {
		t.Fatalf("watchers %+v reporter %+v", parent.Watchers, parent.Reporter)
	}
	child, err := tr.Create(ctx, adapters.Issue{Summary: "child", Relations: []adapters.Relation{{Kind: adapters.RelParent, Key: parent.Key}, {Kind: adapters.RelBlocks, Key: parent.Key}, {Kind: adapters.RelRelates, Key: parent.Key}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Get(ctx, parent.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []adapters.Relation{{Kind: adapters.RelChild, Key: child.Key}, {Kind: adapters.RelBlockedBy, Key: child.Key}, {Kind: adapters.RelRelates, Key: child.Key}} {
		if !hasRelation(got.Relations, want) {
			t.Fatalf("parent relations %+v lack %+v", got.Relations, want)
		}
	}
	got, err = tr.Update(ctx, parent.Key, adapters.Patch{Watchers: &[]adapters.User{}, RemoveRelations: []adapters.Relation{
		{Kind: adapters.RelChild, Key: child.Key}, {Kind: adapters.RelBlockedBy, Key: child.Key}, {Kind: adapters.RelRelates, Key: child.Key}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Watchers) != 0 || len(got.Relations) != 0 {
		t.Fatalf("after removing: watchers %+v relations %+v", got.Watchers, got.Relations)
	}
	for name, p := range map[string]adapters.Patch{
		"a type":       {Type: ptr("Bug")},
		"a reporter":   {Reporter: &adapters.User{Login: "someone"}},
		"a stranger":   {Watchers: &[]adapters.User{{Login: "no-such-rt-user"}}},
		"a duplicate":  {AddRelations: []adapters.Relation{{Kind: adapters.RelDuplicates, Key: child.Key}}},
		"a bad field":  {Fields: map[string]adapters.FieldValue{"no such field": {Text: "x"}}},
		"an own field": {Fields: map[string]adapters.FieldValue{TwinField: {Text: "x"}}},
	} {
		got, err := tr.Update(ctx, parent.Key, p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if got.TwinID != "" || len(got.Relations) != 0 || len(got.Fields) != 0 || got.Reporter == nil || !got.Reporter.Matches(root) {
			t.Errorf("%s changed the ticket: %+v", name, got)
		}
	}
}

func ptr[T any](v T) *T { return &v }
