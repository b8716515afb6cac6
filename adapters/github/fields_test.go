package github

import (
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// TestPeopleAndRelations: the assignee is a login both ways (one without a
// login is left as it is), the reporter is the author, parent and child
// relations are GitHub's sub-issues, DeleteComments deletes, and what
// GitHub lacks is declared.
func TestPeopleAndRelations(t *testing.T) {
	tr, _, _ := newValidated(t)
	c := tctx(t)
	p, err := tr.Create(c, adapters.Issue{Summary: "parent", Assignee: &adapters.User{Login: "alice", Name: "Alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Assignee == nil || p.Assignee.Login != "alice" || p.Reporter == nil || p.Reporter.Login != "octo" {
		t.Fatalf("created: assignee %+v reporter %+v", p.Assignee, p.Reporter)
	}
	ch, err := tr.Create(c, adapters.Issue{Summary: "child", Relations: []adapters.Relation{{Kind: adapters.RelParent, Key: p.Key}}, Comments: []adapters.Comment{{Body: "bye"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Relations) != 1 || ch.Relations[0] != (adapters.Relation{Kind: adapters.RelParent, Key: p.Key}) {
		t.Fatalf("child relations: %+v", ch.Relations)
	}
	got, err := tr.Get(c, p.Key)
	if err != nil || len(got.Relations) != 1 || got.Relations[0] != (adapters.Relation{Kind: adapters.RelChild, Key: ch.Key}) {
		t.Fatalf("parent relations: %+v %v", got.Relations, err)
	}
	up, err := tr.Update(c, p.Key, adapters.Patch{Assignee: &adapters.User{}, RemoveRelations: []adapters.Relation{{Kind: adapters.RelChild, Key: ch.Key}}})
	if err != nil || up.Assignee != nil || len(up.Relations) != 0 {
		t.Fatalf("unassigned, child removed: %+v %+v %v", up.Assignee, up.Relations, err)
	}
	up, err = tr.Update(c, ch.Key, adapters.Patch{Assignee: &adapters.User{Email: "bob@example.com"}, AddRelations: []adapters.Relation{{Kind: adapters.RelParent, Key: p.Key}},
		DeleteComments: []string{ch.Comments[0].ID}})
	if err != nil || up.Assignee != nil || len(up.Relations) != 1 || len(up.Comments) != 0 {
		t.Fatalf("no login, parent again, comment deleted: %+v %+v %+v %v", up.Assignee, up.Relations, up.Comments, err)
	}
	if _, ok := tr.Lacks()[adapters.FeatDue]; !ok {
		t.Error("due dates are not declared lacking")
	}
	if _, ok := tr.Lacks()[adapters.FeatParent]; ok {
		t.Error("parent is declared lacking")
	}
	if !hasResult(tr.Check(c), "fields", "due (GitHub issues have no due date") {
		t.Error("tracker check does not say what GitHub lacks")
	}
}
