package rules

import (
	"reflect"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// An outgoing rule file reads every field of issue 16 from the issue, typed,
// and sets them on the replica; map_user maps people through the user map.
func TestStarlarkOutgoingNewFields(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"ann@here.example": "a.lee@there.example"}
	o.TypeMap = map[string]string{"Bug": "Defect"}
	s := mustCompile(t, `
replica.assignee = map_user(issue.assignee, connection.user_map)
replica.reporter = issue.reporter
replica.watchers = [map_user(w, connection.user_map) for w in issue.watchers] + ["zoe@here.example"]
replica.type = map_value(issue.type, connection.type_map)
replica.due = issue.due
replica.start = "2027-01-02" if issue.start == "" else issue.start
for name, f in issue.fields.items():
    replica["cf." + name] = f
replica["cf.Effort"] = issue.fields["Effort"].value * 2       # a number stays a number
replica["cf.Reviewer"] = field("user", user(email="rita@here.example", name="Rita"))
replica["cf.Shipped"] = field("date", "2027-02-01")
replica.relations = [r for r in issue.relations if r.kind == "blocks"]
if issue.assignee.email != "ann@here.example" or issue.fields["Tier"].kind != "option":
    fail("typed values are wrong")
`, "", o)
	is := adapters.Issue{
		Key: "LOCAL-1", Assignee: &adapters.User{Email: "ann@here.example", Name: "Ann"}, Reporter: &adapters.User{Login: "carl"},
		Watchers: []adapters.User{{Email: "ann@here.example"}}, Type: "Bug", Due: "2027-01-31",
		Fields: map[string]adapters.FieldValue{
			"Tier":      {Kind: adapters.KindOption, Text: "Gold"},
			"Effort":    {Kind: adapters.KindNumber, Text: "3"},
			"Platforms": {Kind: adapters.KindOptions, Options: []string{"linux"}},
		},
		Relations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: "LOCAL-2", Summary: "other"}, {Kind: adapters.RelRelates, Key: "LOCAL-3"}},
	}
	r, _, err := s.Outgoing(is)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]replica.Value{
		replica.FieldAssignee:            replica.UserValue(replica.User{Email: "a.lee@there.example", Name: "Ann"}),
		replica.FieldReporter:            replica.UserValue(replica.User{Login: "carl"}),
		replica.FieldWatchers:            replica.UsersValue([]replica.User{{Email: "a.lee@there.example"}, {Email: "zoe@here.example"}}),
		replica.FieldType:                {S: "Defect"},
		replica.FieldDue:                 replica.DateValue("2027-01-31"),
		replica.FieldStart:               replica.DateValue("2027-01-02"),
		replica.CustomField("Tier"):      {T: replica.KindOption, S: "Gold"},
		replica.CustomField("Effort"):    {T: replica.KindNumber, S: "6"},
		replica.CustomField("Platforms"): {T: replica.KindOptions, L: []string{"linux"}},
		replica.CustomField("Reviewer"):  replica.UserValue(replica.User{Email: "rita@here.example", Name: "Rita"}),
		replica.CustomField("Shipped"):   replica.DateValue("2027-02-01"),
		replica.FieldRelations:           replica.RelationsValue([]replica.Relation{{Kind: replica.Blocks, Key: "LOCAL-2", Summary: "other"}}),
	}
	if len(r.Fields) != len(want) {
		t.Errorf("replica has %d fields, want %d: %+v", len(r.Fields), len(want), r.Fields)
	}
	for name, w := range want {
		if got, ok := r.Fields[name]; !ok || !replica.SameValue(got, w) || got.T != w.T {
			t.Errorf("replica %s = %+v, want %+v", name, got, w)
		}
	}
	// A wrong type is an error at the line.
	bad := mustCompile(t, "replica.due = 31\n", "", o)
	if _, _, err := bad.Outgoing(is); err == nil || !strings.Contains(err.Error(), "replica.due") {
		t.Errorf("replica.due = 31: %v", err)
	}
}

// An incoming rule file reads the replica's fields typed, lands them on the
// issue (a create, then a patch with clears), maps people back, keeps an
// unknown person visible with note(), and lands relations with
// merge_relations.
func TestStarlarkIncomingNewFields(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"ann@here.example": "a.lee@there.example"}
	s := mustCompile(t, "", `
issue.summary = replica.summary
a = map_user(replica.assignee, connection.user_map_inverse, None)
if replica.assignee and not a:
    note("assignee at " + connection.name, str(replica.assignee))
issue.assignee = a or ""
issue.watchers = [w for w in replica.watchers if w.email.endswith("@here.example")]
if replica.type != None:
    issue.type = {"Defect": "Bug"}.get(replica.type, replica.type)
issue.due = replica.due
issue.start = replica.start
for name, f in replica.fields.items():
    issue.fields[name] = f
if replica["cf.Effort"] != None and replica["cf.Effort"].value > 10:
    issue.fields["Big"] = True if False else "yes"
issue.relations = merge_relations(issue, replica, previous)
`, o)
	in := replica.Replica{Fields: map[string]replica.Value{
		replica.FieldSummary:           {S: "x"},
		replica.FieldAssignee:          replica.UserValue(replica.User{Email: "zed@there.example", Name: "Zed"}),
		replica.FieldWatchers:          replica.UsersValue([]replica.User{{Email: "bo@here.example"}, {Email: "q@there.example"}}),
		replica.FieldType:              {S: "Defect"},
		replica.FieldDue:               replica.DateValue("2027-01-31"),
		replica.FieldStart:             replica.DateValue(""),
		replica.CustomField("Tier"):    {T: replica.KindOption, S: "Gold"},
		replica.CustomField("Effort"):  {T: replica.KindNumber, S: "12"},
		replica.CustomField("Checker"): replica.UserValue(replica.User{Login: "robert"}),
		replica.FieldRelations:         replica.RelationsValue([]replica.Relation{{Kind: replica.Blocks, Twin: "tw2"}, {Kind: replica.RelatesTo, Key: "PX-9", Summary: "far"}}),
	}}
	resolve := func(r replica.Relation) (string, bool) {
		return map[string]string{"tw2": "LOCAL-2"}[r.Twin], r.Twin == "tw2"
	}
	res, err := s.Incoming(Incoming{Replica: in, Changed: allChanges(in), Resolve: resolve})
	if err != nil || res.Create == nil {
		t.Fatalf("Incoming: %+v %v", res, err)
	}
	c := res.Create
	if c.Assignee != nil || c.Type != "Bug" || c.Due != "2027-01-31" || c.Start != "" || len(c.Watchers) != 1 || c.Watchers[0].Email != "bo@here.example" {
		t.Errorf("created %+v", c)
	}
	wantFields := map[string]adapters.FieldValue{
		"Tier":    {Kind: adapters.KindOption, Text: "Gold"},
		"Effort":  {Kind: adapters.KindNumber, Text: "12"},
		"Checker": {Kind: adapters.KindUser, User: &adapters.User{Login: "robert"}},
		"Big":     {Text: "yes"},
	}
	if !reflect.DeepEqual(c.Fields, wantFields) {
		t.Errorf("fields %+v, want %+v", c.Fields, wantFields)
	}
	if !reflect.DeepEqual(c.Relations, []adapters.Relation{{Kind: "blocks", Key: "LOCAL-2"}}) {
		t.Errorf("relations %+v", c.Relations)
	}
	notes := map[string]bool{}
	for _, cm := range c.Comments {
		notes[cm.Body] = cm.Internal
	}
	if !notes["assignee at partner: Zed <zed@there.example>"] || !notes["relations at partner: relates PX-9 (far)"] || len(notes) != 2 {
		t.Errorf("notes %+v, want the unknown assignee's and the reference's, internal", c.Comments)
	}

	// Update: the person is known now, the due date and a field cleared,
	// the relation removed.
	cur := *c
	cur.Key = "LOCAL-5"
	in2 := in.Clone()
	in2.Set(replica.FieldAssignee, replica.UserValue(replica.User{Email: "a.lee@there.example"}))
	in2.Set(replica.FieldDue, replica.DateValue(""))
	in2.Set(replica.CustomField("Tier"), replica.Value{T: replica.KindOption})
	in2.Set(replica.FieldRelations, replica.Value{})
	res, err = s.Incoming(Incoming{Issue: &cur, Replica: in2, Previous: &in, Changed: allChanges(in2), Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Patch
	if p.Assignee == nil || p.Assignee.Email != "ann@here.example" || p.Due == nil || *p.Due != "" || p.Type != nil {
		t.Errorf("patch assignee %+v due %v type %v", p.Assignee, p.Due, p.Type)
	}
	if f, ok := p.Fields["Tier"]; !ok || !f.IsZero() || len(p.Fields) != 1 {
		t.Errorf("patch fields %+v, want Tier cleared only", p.Fields)
	}
	if len(p.RemoveRelations) != 1 || p.RemoveRelations[0].Key != "LOCAL-2" || len(p.AddRelations) != 0 {
		t.Errorf("patch relations +%v -%v", p.AddRelations, p.RemoveRelations)
	}
	if len(p.AddComments) != 0 {
		t.Errorf("patch notes %+v, want none (written already)", p.AddComments)
	}
}

// merge_comments lands a comment deleted at the partner as the default
// rule does (a visible note); a rule that leaves deletions out keeps the
// text as it was.
func TestStarlarkCommentDeletionChoices(t *testing.T) {
	cur := adapters.Issue{Key: "LOCAL-1", Comments: []adapters.Comment{{ID: "4", SyncID: "peer/9", Body: "hello"}}}
	in := replica.Replica{Comments: []replica.Comment{{ID: "peer/9", Body: "hello", Deleted: true}}}
	for _, tc := range []struct {
		rule  string
		edits int
	}{
		{"issue.comments = merge_comments(issue, replica)\n", 1},
		{"issue.comments = merge_comments(issue, replica, [c.id for c in replica.comments if not c.deleted])\n", 0},
	} {
		s := mustCompile(t, "", tc.rule, testOptions())
		res, err := s.Incoming(Incoming{Issue: &cur, Replica: in, Previous: &in, Changed: replica.Changes{Comments: []string{"peer/9"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Patch.EditComments) != tc.edits || (tc.edits == 1 && res.Patch.EditComments[0].Body != DeletedNote("partner", "hello")) {
			t.Errorf("%s: edits %+v, want %d", tc.rule, res.Patch.EditComments, tc.edits)
		}
	}
}

// Wrong values for the new fields are errors that name what was wrong.
func TestStarlarkNewFieldErrors(t *testing.T) {
	for _, tc := range []struct{ out, in, want string }{
		{out: `replica.start = "31/01/2027"`, want: "YYYY-MM-DD"},
		{out: `replica.assignee = 3`, want: "replica.assignee must be a user"},
		{out: `replica["cf.X"] = field("colour", "red")`, want: `kind "colour"`},
		{out: `replica["cf.X"] = field("number", "many")`, want: `"many" is not a number`},
		{out: `replica.relations = [{"kind": "eats", "key": "L-1"}]`, want: `"eats"`},
		{in: `issue.due = "tomorrow"`, want: "issue.due"},
		{in: `issue.fields = {"X": {}}`, want: `issue.fields["X"]`},
		{in: `issue.assignee = map_user("ann", "not a dict")`, want: "map_user: the mapping must be a dict"},
	} {
		s := mustCompile(t, tc.out, tc.in, testOptions())
		var err error
		if tc.out != "" {
			_, _, err = s.Outgoing(adapters.Issue{Key: "L-1"})
		} else {
			_, err = s.Incoming(Incoming{Issue: &adapters.Issue{Key: "L-1"}})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s%s: %v, want an error with %q", tc.out, tc.in, err, tc.want)
		}
	}
}
