package rules

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// readmeRule returns the README's Starlark block that starts with the
// comment "# rules/NAME".
func readmeRule(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(# rules/"+regexp.QuoteMeta(name)+".*?)```\n").FindAllStringSubmatch(string(b), -1)
	if len(m) != 1 {
		t.Fatalf("README.md has %d blocks for rules/%s, want 1", len(m), name)
	}
	return m[0][1]
}

// The README's examples of the new fields in rule files run, and do what
// the README says: out, every kind leaves typed; in, the known person is
// mapped back, the unknown one noted, the fields land and clear.
func TestREADMEFieldRules(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"ann@here.example": "a.lee@there.example"}
	o.TypeMap = map[string]string{"Bug": "Defect"}
	s := mustCompile(t, readmeRule(t, "partner-fields-out.star"), readmeRule(t, "partner-fields-in.star"), o)
	is := adapters.Issue{
		Key: "LOCAL-1", Summary: "s", Assignee: &adapters.User{Email: "ann@here.example"}, Type: "Bug", Due: "2027-01-31",
		Fields:    map[string]adapters.FieldValue{"Customer": {Text: "ACME"}},
		Relations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: "LOCAL-2"}, {Kind: adapters.RelRelates, Key: "LOCAL-3"}},
		Comments:  []adapters.Comment{{ID: "1", Body: "shared"}, {ID: "2", Body: "ours", Internal: true}},
	}
	r, _, err := s.Outgoing(is)
	if err != nil {
		t.Fatal(err)
	}
	for name, kind := range map[string]replica.Kind{
		replica.FieldAssignee: replica.KindUser, replica.FieldDue: replica.KindDate, "cf.Note": replica.KindText,
		"cf.Effort": replica.KindNumber, "cf.Shipped": replica.KindDate, "cf.Tier": replica.KindOption,
		"cf.Platforms": replica.KindOptions, "cf.Reviewer": replica.KindUser, "cf.Customer": replica.KindText,
	} {
		if v, ok := r.Fields[name]; !ok || v.T != kind {
			t.Errorf("out: %s = %+v, want kind %q", name, v, kind)
		}
	}
	if r.Fields[replica.FieldAssignee].User().Email != "a.lee@there.example" || r.Fields[replica.FieldType].S != "Defect" ||
		len(r.Relations()) != 1 || len(r.Comments) != 1 {
		t.Errorf("out: %+v", r)
	}

	in := r.Clone()
	in.Set(replica.FieldAssignee, replica.UserValue(replica.User{Login: "zed"}))
	res, err := s.Incoming(Incoming{Replica: in, Changed: allChanges(in)})
	if err != nil || res.Create == nil {
		t.Fatalf("in: %+v %v", res, err)
	}
	c := res.Create
	if c.Assignee != nil || c.Type != "Bug" || c.Due != "2027-01-31" || c.Fields["Tier"].Text != "Gold" || !slices.Contains(c.Labels, "big") {
		t.Errorf("in: created %+v", c)
	}
	if !slices.ContainsFunc(c.Comments, func(x adapters.Comment) bool { return x.Body == "assignee at partner: zed" && x.Internal }) {
		t.Errorf("in: no note of the unknown assignee: %+v", c.Comments)
	}
	// Known now, and the due date cleared.
	cur := *c
	cur.Key = "LOCAL-9"
	in2 := in.Clone()
	in2.Set(replica.FieldAssignee, replica.UserValue(replica.User{Email: "a.lee@there.example"}))
	in2.Set(replica.FieldDue, replica.DateValue(""))
	res, err = s.Incoming(Incoming{Issue: &cur, Replica: in2, Previous: &in, Changed: replica.Changes{Fields: []string{replica.FieldAssignee, replica.FieldDue}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Patch; p.Assignee == nil || p.Assignee.Email != "ann@here.example" || p.Due == nil || *p.Due != "" || len(p.AddComments) != 0 {
		t.Errorf("in: patch %+v", p)
	}
}
