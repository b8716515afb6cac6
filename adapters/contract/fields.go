package contract

import (
	"slices"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// The fields of issue 16: people, type, dates, custom fields, relations,
// comment and file deletes. What a tracker lacks it declares
// (adapters.Lacking); the suite skips that with the tracker's reason.

// FieldsProfile says which values a tracker accepts for the fields of
// issue 16 (zero: the suite's own, which the local tracker takes).
type FieldsProfile struct {
	User        adapters.User // a person the tracker knows
	Type        string        // an issue type other than the default
	CustomField string        // the name of a text custom field the tracker has
	// Typed are custom fields of other kinds the tracker has, by name,
	// with a value each to set (nil: the suite's own, which the local
	// tracker takes).
	Typed map[string]adapters.FieldValue
}

func (f FieldsProfile) orDefaults() FieldsProfile {
	if f.User.IsZero() {
		f.User = adapters.User{Login: "ann", Email: "ann@example.com", Name: "Ann"}
	}
	if f.Type == "" {
		f.Type = "Bug"
	}
	if f.CustomField == "" {
		f.CustomField = "Customer"
	}
	if f.Typed == nil {
		f.Typed = map[string]adapters.FieldValue{
			"Effort":    {Kind: adapters.KindNumber, Text: "3"},
			"Tier":      {Kind: adapters.KindOption, Text: "Gold"},
			"Platforms": {Kind: adapters.KindOptions, Options: []string{"linux", "mac"}},
			"Shipped":   {Kind: adapters.KindDate, Text: "2027-02-01"},
		}
	}
	return f
}

func testFields(t *testing.T, newTracker func(t *testing.T) adapters.Tracker, p Profile) {
	fp := p.Fields.orDefaults()
	probe := newTracker(t)
	l, ok := probe.(adapters.Lacking)
	if !ok {
		t.Skip("the adapter does not declare what it lacks of the fields of issue 16 (adapters.Lacking) yet")
	}
	lacks := l.Lacks()
	feature := func(name string, f adapters.Feature, test func(t *testing.T, tr adapters.Tracker)) {
		t.Run(name, func(t *testing.T) {
			if why, ok := lacks[f]; ok {
				t.Skipf("the tracker lacks %s: %s", f, why)
			}
			test(t, probe)
		})
	}
	feature("Assignee", adapters.FeatAssignee, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "assigned", Assignee: &fp.User}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		if got.Assignee == nil || !got.Assignee.Matches(fp.User) {
			t.Fatalf("assignee %+v, want %+v", got.Assignee, fp.User)
		}
		got = must[adapters.Issue](t, "unassign")(tr.Update(c, is.Key, adapters.Patch{Assignee: &adapters.User{}}))
		if got.Assignee != nil {
			t.Fatalf("after unassigning: %+v", got.Assignee)
		}
	})
	feature("TypeAndDates", adapters.FeatDue, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "dated"}))
		p := adapters.Patch{Due: ptr("2027-01-31")}
		if _, ok := lacks[adapters.FeatStart]; !ok {
			p.Start = ptr("2027-01-02")
		}
		if _, ok := lacks[adapters.FeatType]; !ok {
			p.Type = ptr(fp.Type)
		}
		got := must[adapters.Issue](t, "update")(tr.Update(c, is.Key, p))
		got = must[adapters.Issue](t, "get")(tr.Get(c, got.Key))
		if got.Due != "2027-01-31" || (p.Start != nil && got.Start != "2027-01-02") || (p.Type != nil && got.Type != fp.Type) {
			t.Fatalf("due %q start %q type %q", got.Due, got.Start, got.Type)
		}
	})
	feature("CustomField", adapters.FeatCustomFields, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "custom"}))
		v := adapters.FieldValue{Text: "ACME"}
		must[adapters.Issue](t, "update")(tr.Update(c, is.Key, adapters.Patch{Fields: map[string]adapters.FieldValue{fp.CustomField: v}}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		if !got.Fields[fp.CustomField].Equal(v) {
			t.Fatalf("custom field %q: %+v", fp.CustomField, got.Fields)
		}
	})
	feature("Relations", adapters.FeatRelations, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		a := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "blocker"}))
		b := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "blocked"}))
		rel := adapters.Relation{Kind: adapters.RelBlocks, Key: b.Key}
		must[adapters.Issue](t, "relate")(tr.Update(c, a.Key, adapters.Patch{AddRelations: []adapters.Relation{rel}}))
		must[adapters.Issue](t, "relate again")(tr.Update(c, a.Key, adapters.Patch{AddRelations: []adapters.Relation{rel}}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, a.Key))
		n := 0
		for _, r := range got.Relations {
			if r.Kind == rel.Kind && r.Key == rel.Key {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("relations %+v, want %+v once", got.Relations, rel)
		}
		got = must[adapters.Issue](t, "unrelate")(tr.Update(c, a.Key, adapters.Patch{RemoveRelations: []adapters.Relation{rel}}))
		if slices.ContainsFunc(got.Relations, func(r adapters.Relation) bool { return r.Kind == rel.Kind && r.Key == rel.Key }) {
			t.Fatalf("after removing: %+v", got.Relations)
		}
	})
	testMoreFields(t, probe, fp, feature)
	feature("CommentDelete", adapters.FeatCommentDelete, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "comments", Comments: []adapters.Comment{{Body: "one"}, {Body: "two"}}}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		if len(got.Comments) != 2 {
			t.Fatalf("comments %+v", got.Comments)
		}
		got = must[adapters.Issue](t, "delete")(tr.Update(c, is.Key, adapters.Patch{DeleteComments: []string{got.Comments[1].ID}}))
		got = must[adapters.Issue](t, "get")(tr.Get(c, got.Key))
		if len(got.Comments) != 1 || got.Comments[0].Body != "one" {
			t.Fatalf("after deleting: %+v", got.Comments)
		}
	})
}
