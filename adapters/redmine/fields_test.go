package redmine

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

func TestRelationOf(t *testing.T) {
	for _, c := range []struct {
		r    wireRelation
		id   int
		want adapters.Relation
		ok   bool
	}{
		{wireRelation{IssueID: 1, ToID: 2, Type: "blocks"}, 1, adapters.Relation{Kind: adapters.RelBlocks, Key: "2"}, true},
		{wireRelation{IssueID: 1, ToID: 2, Type: "blocks"}, 2, adapters.Relation{Kind: adapters.RelBlockedBy, Key: "1"}, true},
		{wireRelation{IssueID: 1, ToID: 2, Type: "duplicates"}, 2, adapters.Relation{Kind: adapters.RelDuplicatedBy, Key: "1"}, true},
		{wireRelation{IssueID: 1, ToID: 2, Type: "relates"}, 2, adapters.Relation{Kind: adapters.RelRelates, Key: "1"}, true},
		{wireRelation{IssueID: 1, ToID: 2, Type: "precedes"}, 1, adapters.Relation{}, false},
	} {
		got, ok := relationOf(c.r, c.id)
		if got != c.want || ok != c.ok {
			t.Errorf("relationOf(%+v, %d) = %+v, %v; want %+v, %v", c.r, c.id, got, ok, c.want, c.ok)
		}
	}
}

// TestFieldsBeyondContract: watchers, a relation seen from its other end,
// parent and child both ways, and a file delete, on a real Redmine.
func TestFieldsBeyondContract(t *testing.T) {
	u, key := realRedmine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := New(Options{URL: u, APIKey: key, Project: newProject(t, u, key)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	me := adapters.User{Login: "admin"}
	parent, err := tr.Create(ctx, adapters.Issue{Summary: "parent", Watchers: []adapters.User{me}, Type: "Support"})
	if err != nil {
		t.Fatal(err)
	}
	if len(parent.Watchers) != 1 || !parent.Watchers[0].Matches(me) || parent.Type != "Support" || parent.Reporter == nil || !parent.Reporter.Matches(me) {
		t.Fatalf("watchers %+v, type %q, reporter %+v", parent.Watchers, parent.Type, parent.Reporter)
	}
	orig, err := tr.Create(ctx, adapters.Issue{Summary: "original"})
	if err != nil {
		t.Fatal(err)
	}
	child, err := tr.Create(ctx, adapters.Issue{Summary: "child", Relations: []adapters.Relation{{Kind: adapters.RelParent, Key: parent.Key}, {Kind: adapters.RelDuplicates, Key: orig.Key}}})
	if err != nil {
		t.Fatal(err)
	}
	if !hasRelation(child.Relations, adapters.Relation{Kind: adapters.RelParent, Key: parent.Key}) || !hasRelation(child.Relations, adapters.Relation{Kind: adapters.RelDuplicates, Key: orig.Key}) {
		t.Fatalf("child relations %+v", child.Relations)
	}
	// Seen from the other ends.
	for _, c := range []struct {
		key  string
		want adapters.Relation
	}{{parent.Key, adapters.Relation{Kind: adapters.RelChild, Key: child.Key}}, {orig.Key, adapters.Relation{Kind: adapters.RelDuplicatedBy, Key: child.Key}}} {
		got, err := tr.Get(ctx, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if !hasRelation(got.Relations, c.want) {
			t.Fatalf("issue %s: relations %+v lack %+v", c.key, got.Relations, c.want)
		}
	}
	// Removed from the other ends.
	got, err := tr.Update(ctx, parent.Key, adapters.Patch{Watchers: &[]adapters.User{}, RemoveRelations: []adapters.Relation{{Kind: adapters.RelChild, Key: child.Key}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Watchers) != 0 || len(got.Relations) != 0 {
		t.Fatalf("after removing: watchers %+v relations %+v", got.Watchers, got.Relations)
	}
	if _, err := tr.Update(ctx, orig.Key, adapters.Patch{RemoveRelations: []adapters.Relation{{Kind: adapters.RelDuplicatedBy, Key: child.Key}}}); err != nil {
		t.Fatal(err)
	}
	if c, err := tr.Get(ctx, child.Key); err != nil || len(c.Relations) != 0 {
		t.Fatalf("child after removing: %+v, %v", c.Relations, err)
	}
	// What Redmine does not know is skipped, never an error that blocks a twin.
	if _, err := tr.Update(ctx, parent.Key, adapters.Patch{Fields: map[string]adapters.FieldValue{"no such field": {Text: "x"}},
		Assignee: &adapters.User{Login: "nobody-here"}, Reporter: &adapters.User{Login: "nobody-here"}}); err != nil {
		t.Fatalf("an unknown custom field, assignee or a reporter: %v", err)
	}
	f, err := tr.AddAttachment(ctx, parent.Key, adapters.Attachment{Filename: "a.txt", ContentType: "text/plain"}, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, err = tr.Update(ctx, parent.Key, adapters.Patch{DeleteAttachments: []string{f.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(got.Attachments, func(a adapters.Attachment) bool { return a.ID == f.ID }) {
		t.Fatalf("file %s still attached: %+v", f.ID, got.Attachments)
	}
	if _, err := tr.Update(ctx, parent.Key, adapters.Patch{DeleteAttachments: []string{f.ID}}); err != nil {
		t.Fatalf("deleting a file already gone: %v", err)
	}
}
