package contract

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// testMoreFields: reporter, watchers, start date and type on their own,
// typed custom fields, parent and child, and file deletion; each skipped
// with the tracker's reason where it lacks it.
func testMoreFields(t *testing.T, tr adapters.Tracker, fp FieldsProfile, feature func(string, adapters.Feature, func(*testing.T, adapters.Tracker))) {
	lacks := adapters.LacksOf(tr)
	t.Run("Reporter", func(t *testing.T) {
		c := ctx(t)
		why, readOnly := lacks[adapters.FeatReporter]
		in := adapters.Issue{Summary: "reported"}
		if !readOnly {
			in.Reporter = &fp.User
		}
		is := must[adapters.Issue](t, "create")(tr.Create(c, in))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		switch {
		case readOnly && (got.Reporter == nil || got.Reporter.IsZero()):
			t.Fatalf("the tracker writes no reporter (%s) but reads none either", why)
		case !readOnly && (got.Reporter == nil || !got.Reporter.Matches(fp.User)):
			t.Fatalf("reporter %+v, want %+v", got.Reporter, fp.User)
		case readOnly:
			t.Logf("the reporter is read (%+v), not written: %s", *got.Reporter, why)
		}
	})
	feature("Watchers", adapters.FeatWatchers, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "watched"}))
		got := must[adapters.Issue](t, "watch")(tr.Update(c, is.Key, adapters.Patch{Watchers: &[]adapters.User{fp.User}}))
		got = must[adapters.Issue](t, "get")(tr.Get(c, got.Key))
		if !slices.ContainsFunc(got.Watchers, fp.User.Matches) {
			t.Fatalf("watchers %+v, want %+v among them", got.Watchers, fp.User)
		}
		got = must[adapters.Issue](t, "unwatch")(tr.Update(c, is.Key, adapters.Patch{Watchers: &[]adapters.User{}}))
		got = must[adapters.Issue](t, "get")(tr.Get(c, got.Key))
		if slices.ContainsFunc(got.Watchers, fp.User.Matches) {
			t.Fatalf("after removing every watcher: %+v", got.Watchers)
		}
	})
	feature("Start", adapters.FeatStart, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "started", Start: "2027-01-02"}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		if got.Start != "2027-01-02" {
			t.Fatalf("start %q after create, want 2027-01-02", got.Start)
		}
		got = must[adapters.Issue](t, "clear")(tr.Update(c, is.Key, adapters.Patch{Start: ptr("")}))
		got = must[adapters.Issue](t, "get")(tr.Get(c, got.Key))
		if got.Start != "" {
			t.Fatalf("start %q after clearing it", got.Start)
		}
	})
	feature("Type", adapters.FeatType, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "typed", Type: fp.Type}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		if got.Type != fp.Type {
			t.Fatalf("type %q after create, want %q", got.Type, fp.Type)
		}
	})
	feature("TypedCustomFields", adapters.FeatTypedFields, func(t *testing.T, tr adapters.Tracker) {
		if why, ok := lacks[adapters.FeatCustomFields]; ok {
			t.Skipf("the tracker lacks %s: %s", adapters.FeatCustomFields, why)
		}
		if len(fp.Typed) == 0 {
			t.Skip("the profile names no typed custom field of this tracker")
		}
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "typed fields"}))
		must[adapters.Issue](t, "update")(tr.Update(c, is.Key, adapters.Patch{Fields: maps.Clone(fp.Typed)}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		for _, name := range slices.Sorted(maps.Keys(fp.Typed)) {
			if want := fp.Typed[name]; !got.Fields[name].Equal(want) {
				t.Errorf("custom field %q (%s): %+v, want %+v", name, want.Kind, got.Fields[name], want)
			}
		}
	})
	feature("ParentAndChild", adapters.FeatParent, func(t *testing.T, tr adapters.Tracker) {
		c := ctx(t)
		parent := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "parent"}))
		child := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "child"}))
		rel := adapters.Relation{Kind: adapters.RelParent, Key: parent.Key}
		must[adapters.Issue](t, "set the parent")(tr.Update(c, child.Key, adapters.Patch{AddRelations: []adapters.Relation{rel}}))
		must[adapters.Issue](t, "set it again")(tr.Update(c, child.Key, adapters.Patch{AddRelations: []adapters.Relation{rel}}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, child.Key))
		if n := countRelations(got.Relations, rel); n != 1 {
			t.Fatalf("the child's relations %+v, want %+v once", got.Relations, rel)
		}
		got = must[adapters.Issue](t, "remove the parent")(tr.Update(c, child.Key, adapters.Patch{RemoveRelations: []adapters.Relation{rel}}))
		got = must[adapters.Issue](t, "get")(tr.Get(c, got.Key))
		if countRelations(got.Relations, rel) != 0 {
			t.Fatalf("after removing the parent: %+v", got.Relations)
		}
	})
	feature("FileDelete", adapters.FeatFileDelete, func(t *testing.T, tr adapters.Tracker) {
		at, ok := tr.(adapters.Attachments)
		if !ok {
			t.Skip("the tracker does not keep attachments (no adapters.Attachments)")
		}
		c := ctx(t)
		is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "a file to delete"}))
		data := []byte("delete me\n")
		a := must[adapters.Attachment](t, "attach")(at.AddAttachment(c, is.Key, adapters.Attachment{Filename: "gone.txt", ContentType: "text/plain"}, bytes.NewReader(data)))
		must[adapters.Issue](t, "delete the file")(tr.Update(c, is.Key, adapters.Patch{DeleteAttachments: []string{a.ID}}))
		got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
		if len(got.Attachments) != 0 {
			t.Fatalf("after deleting the file: %+v", got.Attachments)
		}
	})
}

func countRelations(rels []adapters.Relation, rel adapters.Relation) int {
	n := 0
	for _, r := range rels {
		if r.Kind == rel.Kind && r.Key == rel.Key {
			n++
		}
	}
	return n
}
