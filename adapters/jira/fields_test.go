package jira

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/jira/jirafake"
)

// TestFieldsMapped: every field of issue 16 that Jira holds goes in and
// comes back typed, on both dialects: people (by account ID on Cloud, by
// name on Data Center, and found by email), type, due date, components,
// fix versions, custom fields of each kind by name, links, parent and
// sub-tasks; the field list is read once.
func TestFieldsMapped(t *testing.T) {
	for _, cloud := range []bool{true, false} {
		f := jirafake.New(t)
		tr := newOnFake(t, f, cloud, nil)
		c := tctx(t)
		ann, bob := jirafake.Users[1], jirafake.Users[2]
		login := func(u jirafake.User) string {
			if cloud {
				return u.AccountID
			}
			return u.Name
		}
		comps, fix := "Components", "Fix versions"
		if !cloud {
			comps, fix = "Component/s", "Fix Version/s"
		}
		fields := map[string]adapters.FieldValue{
			comps:       {Kind: adapters.KindOptions, Options: []string{"Backend", "Frontend"}},
			fix:         {Kind: adapters.KindOptions, Options: []string{"2.0"}},
			"Customer":  {Text: "ACME"},
			"Tier":      {Kind: adapters.KindOption, Text: "Gold"},
			"Effort":    {Kind: adapters.KindNumber, Text: "3.5"},
			"Shipped":   {Kind: adapters.KindDate, Text: "2027-02-01"},
			"Platforms": {Kind: adapters.KindOptions, Options: []string{"linux", "mac"}},
			"Reviewer":  {Kind: adapters.KindUser, User: &adapters.User{Email: bob.Email}},
			"Notes":     {Text: "Line one with **bold**\n\n* a point"},
		}
		epic, err := tr.Create(c, adapters.Issue{Summary: "epic", Type: "Epic"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := tr.Create(c, adapters.Issue{Summary: "other"})
		if err != nil {
			t.Fatal(err)
		}
		is, err := tr.Create(c, adapters.Issue{Summary: "full", Type: "Bug",
			Assignee: &adapters.User{Email: ann.Email}, Reporter: &adapters.User{Name: bob.Display},
			Due: "2027-01-31", Fields: fields,
			Relations: []adapters.Relation{{Kind: adapters.RelParent, Key: epic.Key}, {Kind: adapters.RelBlockedBy, Key: other.Key}}})
		if err != nil {
			t.Fatalf("cloud %v: create: %v", cloud, err)
		}
		got, err := tr.Get(c, is.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != "Bug" || got.Due != "2027-01-31" || got.Assignee == nil || got.Assignee.Login != login(ann) || got.Assignee.Name != ann.Display ||
			got.Reporter == nil || got.Reporter.Login != login(bob) {
			t.Errorf("cloud %v: type %q due %q assignee %+v reporter %+v", cloud, got.Type, got.Due, got.Assignee, got.Reporter)
		}
		for name, want := range fields {
			if name == "Reviewer" {
				want.User = &adapters.User{Login: login(bob), Email: bob.Email, Name: bob.Display}
			}
			if g := got.Fields[name]; !g.Equal(want) {
				t.Errorf("cloud %v: field %q: %+v, want %+v", cloud, name, g, want)
			}
		}
		if _, ok := got.Fields["Rank"]; ok {
			t.Errorf("cloud %v: Rank (a field of a kind not mapped) was read: %+v", cloud, got.Fields["Rank"])
		}
		wantRel := []adapters.Relation{{Kind: adapters.RelParent, Key: epic.Key}, {Kind: adapters.RelBlockedBy, Key: other.Key}}
		for _, r := range wantRel {
			if !hasRelation(got.Relations, r) {
				t.Errorf("cloud %v: relations %+v lack %+v", cloud, got.Relations, r)
			}
		}
		// The other side of the link sees the reverse.
		o, _ := tr.Get(c, other.Key)
		if !hasRelation(o.Relations, adapters.Relation{Kind: adapters.RelBlocks, Key: is.Key}) {
			t.Errorf("cloud %v: the blocker's relations %+v", cloud, o.Relations)
		}
		// Changes: a field cleared, options changed, people changed, a
		// duplicate link, a sub-task as a child.
		sub, err := tr.Create(c, adapters.Issue{Summary: "sub", Type: "Sub-task", Relations: []adapters.Relation{{Kind: adapters.RelParent, Key: is.Key}}})
		if err != nil {
			t.Fatalf("cloud %v: a sub-task: %v", cloud, err)
		}
		got, err = tr.Update(c, is.Key, adapters.Patch{
			Assignee: &adapters.User{}, Reporter: &adapters.User{Login: login(ann)}, Due: ptr(""), Type: ptr("Story"),
			Fields:          map[string]adapters.FieldValue{"Tier": {Kind: adapters.KindOption}, fix: {Kind: adapters.KindOptions, Options: []string{"1.0", "2.0"}}, "Effort": {Kind: adapters.KindNumber, Text: "8"}},
			AddRelations:    []adapters.Relation{{Kind: adapters.RelDuplicates, Key: other.Key}},
			RemoveRelations: []adapters.Relation{{Kind: adapters.RelBlockedBy, Key: other.Key}, {Kind: adapters.RelParent, Key: epic.Key}},
		})
		if err != nil {
			t.Fatalf("cloud %v: update: %v", cloud, err)
		}
		if got.Assignee != nil || got.Reporter == nil || got.Reporter.Login != login(ann) || got.Due != "" || got.Type != "Story" {
			t.Errorf("cloud %v: after the update: assignee %+v reporter %+v due %q type %q", cloud, got.Assignee, got.Reporter, got.Due, got.Type)
		}
		if _, ok := got.Fields["Tier"]; ok || !slices.Equal(got.Fields[fix].Options, []string{"1.0", "2.0"}) || got.Fields["Effort"].Text != "8" {
			t.Errorf("cloud %v: fields after the update: %+v", cloud, got.Fields)
		}
		want := []adapters.Relation{{Kind: adapters.RelDuplicates, Key: other.Key}, {Kind: adapters.RelChild, Key: sub.Key}}
		if len(got.Relations) != len(want) || !hasRelation(got.Relations, want[0]) || !hasRelation(got.Relations, want[1]) {
			t.Errorf("cloud %v: relations after the update: %+v, want %+v", cloud, got.Relations, want)
		}
		// An epic lists its children on Cloud (one search, parent =
		// KEY); Data Center's epics are Jira Software's Epic Link.
		child, err := tr.Create(c, adapters.Issue{Summary: "story of the epic", Type: "Story", Relations: []adapters.Relation{{Kind: adapters.RelParent, Key: epic.Key}}})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := tr.Get(c, epic.Key)
		if hasRelation(e.Relations, adapters.Relation{Kind: adapters.RelChild, Key: child.Key}) != cloud {
			t.Errorf("cloud %v: the epic's relations %+v (child %s)", cloud, e.Relations, child.Key)
		}
		_, err = tr.Update(c, is.Key, adapters.Patch{Type: ptr("Defect")})
		if !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), `issue type "Defect" is not one of project PROJ's (Task, Bug, Story, Epic, Sub-task)`) {
			t.Errorf("cloud %v: an unknown issue type: %v", cloud, err)
		}
		f.Mu.Lock()
		n := f.Count("GET", "/field")
		f.Mu.Unlock()
		if n != 1 {
			t.Errorf("cloud %v: GET /field was asked %d times, want once", cloud, n)
		}
	}
}

// TestFieldsBadInput: a person Jira does not know is left out (a warning,
// never an error that blocks the twin); a value Jira refuses is a clear
// ErrRejected naming the field; a field Jira lacks is not kept.
func TestFieldsBadInput(t *testing.T) {
	f := jirafake.New(t)
	tr := newOnFake(t, f, true, nil)
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "x", Assignee: &adapters.User{Email: "zed@elsewhere.example", Name: "Zed"}})
	if err != nil || is.Assignee != nil {
		t.Fatalf("an unknown assignee: %+v, %v", is.Assignee, err)
	}
	if _, err := tr.Update(c, is.Key, adapters.Patch{Fields: map[string]adapters.FieldValue{"No such field": {Text: "v"}}}); err != nil {
		t.Errorf("a field Jira lacks: %v", err)
	}
	// Without Modify reporter, Jira refuses an edit that sets one: the
	// reporter is left out, the rest is written.
	f.Mu.Lock()
	f.Denied = []string{"MODIFY_REPORTER"}
	f.Mu.Unlock()
	bob := jirafake.Users[2]
	got, err := tr.Update(c, is.Key, adapters.Patch{Summary: ptr("y"), Reporter: &adapters.User{Email: bob.Email}})
	if err != nil || got.Summary != "y" || got.Reporter == nil || got.Reporter.Email == bob.Email {
		t.Errorf("a reporter without the permission: %+v, %v", got.Reporter, err)
	}
	for _, c2 := range []struct {
		name string
		v    adapters.FieldValue
		want string
	}{
		{"Components", adapters.FieldValue{Kind: adapters.KindOptions, Options: []string{"Nope"}}, "Component name 'Nope' is not valid"},
		{"Effort", adapters.FieldValue{Kind: adapters.KindNumber, Text: "lots"}, `"lots" is not a number`},
		{"Tier", adapters.FieldValue{Kind: adapters.KindOption, Text: "Bronze"}, "Tier"},
	} {
		_, err := tr.Update(c, is.Key, adapters.Patch{Fields: map[string]adapters.FieldValue{c2.name: c2.v}})
		if !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%s = %+v: %v, want ErrRejected naming %q", c2.name, c2.v, err, c2.want)
		}
	}
}

// TestDeletes: a comment and a file deleted by a patch are gone; one gone
// already is no error.
func TestDeletes(t *testing.T) {
	f := jirafake.New(t)
	tr := newOnFake(t, f, true, nil)
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "x", Comments: []adapters.Comment{{Body: "keep"}, {Body: "drop"}}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := tr.AddAttachment(c, is.Key, adapters.Attachment{Filename: "a.txt", ContentType: "text/plain"}, strings.NewReader("bytes"))
	if err != nil {
		t.Fatal(err)
	}
	p := adapters.Patch{DeleteComments: []string{is.Comments[1].ID}, DeleteAttachments: []string{a.ID}}
	for range 2 {
		got, err := tr.Update(c, is.Key, p)
		if err != nil || len(got.Comments) != 1 || got.Comments[0].Body != "keep" || len(got.Attachments) != 0 {
			t.Fatalf("after deleting: comments %+v files %+v, %v", got.Comments, got.Attachments, err)
		}
	}
}

// TestDocExamples reads example bodies of Atlassian's reference
// (testdata/, each with its source) through the adapter's wire types.
func TestDocExamples(t *testing.T) {
	read := func(name string, v any) {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Source string          `json:"source"`
			Body   json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Source == "" {
			t.Fatalf("%s: %v (source %q)", name, err, doc.Source)
		}
		if err := json.Unmarshal(doc.Body, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var defs []fieldDef
	read("field-get.json", &defs)
	kinds := map[string]string{}
	for _, d := range defs {
		if k, ok := kindOfField(d); ok {
			kinds[d.Name] = "mapped " + k
		} else {
			kinds[d.Name] = "left alone"
		}
	}
	want := map[string]string{"Description": "left alone", "Summary": "left alone", "Approvers": "left alone", "Change reason": "mapped " + adapters.KindOption}
	if !maps.Equal(kinds, want) {
		t.Errorf("field kinds %v, want %v", kinds, want)
	}
	var w wireIssue
	read("issuelinks.json", &w)
	tr := &Tracker{cloud: true}
	var is adapters.Issue
	tr.fillFields(&is, w)
	wantRel := []adapters.Relation{{Kind: adapters.RelBlocks, Key: "FEAT-1", Summary: "Wheels"}, {Kind: adapters.RelBlockedBy, Key: "FEAT-2", Summary: "Engine"}}
	if !slices.Equal(is.Relations, wantRel) {
		t.Errorf("relations %+v, want %+v (Depends is left alone)", is.Relations, wantRel)
	}
}

// TestFieldsParam: the field list goes as it is until it would make the
// URL too long; then every field but comments and the work log.
func TestFieldsParam(t *testing.T) {
	few := []string{"summary", "customfield_10050"}
	if got := fieldsParam(few); got != "summary,customfield_10050" {
		t.Errorf("few fields: %q", got)
	}
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("customfield_%d", 10000+i))
	}
	if got := fieldsParam(many); got != "*all,-comment,-worklog" {
		t.Errorf("300 custom fields: %q", got)
	}
}
