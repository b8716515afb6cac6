package rules

import (
	"reflect"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// The default rules carry people through the user map (with the unknown-
// person fallback), types through the type map, dates, and custom fields
// renamed through the field map, each way; a comment deleted at the partner
// lands as a visible note.
func TestDefaultRulesNewFields(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"ann@here.example": "a.lee@there.example", "bob": "robert"}
	o.TypeMap = map[string]string{"Bug": "Defect"}
	o.FieldMap = map[string]string{"Customer tier": "Tier"}
	o.NotesInExtra = true // as on the local tracker
	s := mustCompile(t, "", "", o)

	ann := adapters.User{Email: "ann@here.example", Name: "Ann Lee"}
	is := adapters.Issue{
		Key: "LOCAL-1", Summary: "x", Assignee: &ann, Reporter: &adapters.User{Login: "carl"},
		Watchers: []adapters.User{{Login: "bob"}}, Type: "Bug", Due: "2027-01-31",
		Fields: map[string]adapters.FieldValue{
			"Customer tier": {Kind: adapters.KindOption, Text: "Gold"},
			"Effort":        {Kind: adapters.KindNumber, Text: "3"},
			"Platforms":     {Kind: adapters.KindOptions, Options: []string{"linux"}},
		},
		Relations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: "LOCAL-2", Summary: "other"}},
	}
	r, _, err := s.Outgoing(is)
	if err != nil {
		t.Fatal(err)
	}
	wantOut := map[string]replica.Value{
		replica.FieldAssignee:            replica.UserValue(replica.User{Email: "a.lee@there.example", Name: "Ann Lee"}),
		replica.FieldReporter:            replica.UserValue(replica.User{Login: "carl"}), // not in the map: as it is
		replica.FieldWatchers:            replica.UsersValue([]replica.User{{Login: "robert"}}),
		replica.FieldType:                {S: "Defect"},
		replica.FieldDue:                 replica.DateValue("2027-01-31"),
		replica.CustomField("Tier"):      {T: replica.KindOption, S: "Gold"},
		replica.CustomField("Effort"):    {T: replica.KindNumber, S: "3"},
		replica.CustomField("Platforms"): {T: replica.KindOptions, L: []string{"linux"}},
		replica.FieldRelations:           replica.RelationsValue([]replica.Relation{{Kind: replica.Blocks, Key: "LOCAL-2", Summary: "other"}}),
	}
	for name, want := range wantOut {
		if got, ok := r.Fields[name]; !ok || !replica.SameValue(got, want) {
			t.Errorf("outgoing %s = %+v, want %+v", name, got, want)
		}
	}

	// Incoming: what the partner sends, mapped back.
	in := replica.Replica{Fields: map[string]replica.Value{
		replica.FieldSummary:           {S: "x"},
		replica.FieldAssignee:          replica.UserValue(replica.User{Email: "a.lee@there.example", Name: "Ann Lee"}),
		replica.FieldReporter:          replica.UserValue(replica.User{Email: "zed@there.example", Name: "Zed"}), // unknown
		replica.FieldType:              {S: "Defect"},
		replica.FieldStart:             replica.DateValue("2027-01-02"),
		replica.CustomField("Tier"):    {T: replica.KindOption, S: "Gold"},
		replica.CustomField("Checker"): replica.UserValue(replica.User{Login: "robert"}),
	}}
	res, err := s.Incoming(Incoming{Replica: in, Changed: allChanges(in)})
	if err != nil || res.Create == nil {
		t.Fatalf("Incoming: %+v %v", res, err)
	}
	c := res.Create
	if c.Assignee == nil || c.Assignee.Email != "ann@here.example" || c.Assignee.Name != "Ann Lee" {
		t.Errorf("assignee %+v, want ann@here.example", c.Assignee)
	}
	if c.Reporter != nil || c.Extra["reporter at partner"] != "Zed <zed@there.example>" {
		t.Errorf("an unknown reporter: %+v, extra %v; want unassigned and the name in extra", c.Reporter, c.Extra)
	}
	if c.Type != "Bug" || c.Start != "2027-01-02" {
		t.Errorf("type %q start %q", c.Type, c.Start)
	}
	wantFields := map[string]adapters.FieldValue{
		"Customer tier": {Kind: adapters.KindOption, Text: "Gold"},
		"Checker":       {Kind: adapters.KindUser, User: &adapters.User{Login: "bob"}},
	}
	if !reflect.DeepEqual(c.Fields, wantFields) {
		t.Errorf("fields %+v, want %+v", c.Fields, wantFields)
	}

	// An update: the reporter becomes known, the note goes; only changed
	// fields are patched.
	cur := *c
	cur.Key = "LOCAL-5"
	in2 := in.Clone()
	in2.Set(replica.FieldReporter, replica.UserValue(replica.User{Login: "robert"}))
	res, err = s.Incoming(Incoming{Issue: &cur, Replica: in2, Changed: replica.Changes{Fields: []string{replica.FieldReporter}}})
	if err != nil || res.Patch.Empty() {
		t.Fatalf("Incoming update: %+v %v", res, err)
	}
	p := res.Patch
	if p.Reporter == nil || p.Reporter.Login != "bob" || p.Extra["reporter at partner"] != "" || len(p.Extra) != 1 || p.Type != nil || p.Fields != nil {
		t.Errorf("patch %+v (extra %v)", p, p.Extra)
	}

	// A comment deleted at the partner becomes a visible note.
	cur.Comments = []adapters.Comment{{ID: "4", SyncID: "peer/9", Body: "hello"}}
	in3 := replica.Replica{Comments: []replica.Comment{{ID: "peer/9", Body: "hello", Deleted: true}}}
	res, err = s.Incoming(Incoming{Issue: &cur, Replica: in3, Changed: replica.Changes{Comments: []string{"peer/9"}}})
	if err != nil || len(res.Patch.EditComments) != 1 || res.Patch.EditComments[0].Body != DeletedNote("partner", "hello") {
		t.Fatalf("deleted comment: %+v %v", res.Patch, err)
	}
}

func TestFieldMapsMustInvert(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"a": "x", "b": "x"}
	if _, err := Compile(nil, nil, o); err == nil {
		t.Fatal("a user map with two people mapped to one was accepted")
	}
}
