package rules

import (
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// Relations land by kind and key, whatever the tracker tells of the other
// issue (Redmine and Jira give a child's summary): one the issue has is
// not added again, and one the partner removed is removed.
func TestIncomingRelationsMatchByKindAndKey(t *testing.T) {
	s := mustCompile(t, "", "", testOptions())
	resolve := func(rel replica.Relation) (string, bool) {
		return map[string]string{"tw-child": "7", "tw-other": "8"}[rel.Twin], rel.Twin != ""
	}
	cur := &adapters.Issue{Key: "5", Summary: "parent", Relations: []adapters.Relation{
		{Kind: adapters.RelChild, Key: "7", Summary: "a child"},
		{Kind: adapters.RelBlocks, Key: "8", Summary: "other"},
	}}
	prev := replica.Replica{}
	prev.Set(replica.FieldRelations, replica.RelationsValue([]replica.Relation{{Kind: replica.Child, Twin: "tw-child"}, {Kind: replica.Blocks, Twin: "tw-other"}}))
	now := replica.Replica{}
	now.Set(replica.FieldSummary, replica.Value{S: "parent"})
	now.Set(replica.FieldRelations, replica.RelationsValue([]replica.Relation{{Kind: replica.Child, Twin: "tw-child"}}))
	res, err := s.Incoming(Incoming{Issue: cur, Replica: now, Previous: &prev, Resolve: resolve,
		Changed: replica.Changes{Fields: []string{replica.FieldRelations}}})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Patch
	if len(p.AddRelations) != 0 {
		t.Errorf("the child the issue has is added again: %+v", p.AddRelations)
	}
	if len(p.RemoveRelations) != 1 || p.RemoveRelations[0].Kind != adapters.RelBlocks || p.RemoveRelations[0].Key != "8" {
		t.Errorf("the relation the partner removed: remove %+v, want blocks 8", p.RemoveRelations)
	}
}
