package local

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

func TestFieldsCreateUpdateReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr := openTest(t, dir, Options{})
	ann := adapters.User{Email: "ann@example.com", Login: "ann", Name: "Ann Lee"}
	bob := adapters.User{Login: "bob"}
	other := create(t, tr, adapters.Issue{Summary: "other"})
	is := create(t, tr, adapters.Issue{
		Summary: "with everything", Assignee: &ann, Reporter: &bob, Watchers: []adapters.User{ann, bob, ann},
		Type: "Bug", Due: "2027-01-31", Start: "2027-01-02",
		Fields: map[string]adapters.FieldValue{
			"Tier":      {Kind: adapters.KindOption, Text: "Gold"},
			"Effort":    {Kind: adapters.KindNumber, Text: "2.5"},
			"Platforms": {Kind: adapters.KindOptions, Options: []string{"linux", "mac"}},
			"Reviewer":  {Kind: adapters.KindUser, User: &bob},
		},
		Relations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: other.Key}},
	})
	want := adapters.Issue{
		Assignee: &ann, Reporter: &bob, Watchers: []adapters.User{ann, bob}, Type: "Bug", Due: "2027-01-31", Start: "2027-01-02",
		Fields: map[string]adapters.FieldValue{
			"Tier":      {Kind: adapters.KindOption, Text: "Gold"},
			"Effort":    {Kind: adapters.KindNumber, Text: "2.5"},
			"Platforms": {Kind: adapters.KindOptions, Options: []string{"linux", "mac"}},
			"Reviewer":  {Kind: adapters.KindUser, User: &bob},
		},
		// The summary of the related issue is read with it.
		Relations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: other.Key, Summary: "other"}},
	}
	check := func(what string, got adapters.Issue, want adapters.Issue) {
		t.Helper()
		g := adapters.Issue{Assignee: got.Assignee, Reporter: got.Reporter, Watchers: got.Watchers, Type: got.Type,
			Due: got.Due, Start: got.Start, Fields: got.Fields, Relations: got.Relations}
		if !reflect.DeepEqual(g, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", what, g, want)
		}
	}
	check("created", is, want)
	check("read", get(t, tr, is.Key), want)

	third := create(t, tr, adapters.Issue{Summary: "parent"})
	none := adapters.User{}
	up, err := tr.Update(ctx, is.Key, adapters.Patch{
		Assignee: &none, Due: new(""), Type: new("Task"),
		Fields:          map[string]adapters.FieldValue{"Tier": {}, "Effort": {Kind: adapters.KindNumber, Text: "3"}},
		AddRelations:    []adapters.Relation{{Kind: adapters.RelParent, Key: third.Key}, {Kind: adapters.RelParent, Key: third.Key}},
		RemoveRelations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: other.Key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want.Assignee, want.Due, want.Type = nil, "", "Task"
	want.Fields = map[string]adapters.FieldValue{
		"Effort":    {Kind: adapters.KindNumber, Text: "3"},
		"Platforms": {Kind: adapters.KindOptions, Options: []string{"linux", "mac"}},
		"Reviewer":  {Kind: adapters.KindUser, User: &bob},
	}
	want.Relations = []adapters.Relation{{Kind: adapters.RelParent, Key: third.Key, Summary: "parent"}}
	check("updated", up, want)
	// The same patch again changes nothing: no new revision.
	before := get(t, tr, is.Key).Updated
	if again, err := tr.Update(ctx, is.Key, adapters.Patch{Type: new("Task"), AddRelations: want.Relations}); err != nil || !again.Updated.Equal(before) {
		t.Fatalf("a no-op patch: %v, updated %v (was %v)", err, again.Updated, before)
	}
	tr.Close()
	tr = openTest(t, dir, Options{})
	check("after reopen", get(t, tr, is.Key), want)
}

func TestFieldsRejected(t *testing.T) {
	ctx := context.Background()
	tr := newTest(t)
	is := create(t, tr, adapters.Issue{Summary: "x"})
	for name, p := range map[string]adapters.Patch{
		"bad due date":       {Due: new("31.01.2027")},
		"bad start date":     {Start: new("tomorrow")},
		"bad number":         {Fields: map[string]adapters.FieldValue{"Effort": {Kind: adapters.KindNumber, Text: "lots"}}},
		"bad date field":     {Fields: map[string]adapters.FieldValue{"When": {Kind: adapters.KindDate, Text: "2027-13-01"}}},
		"unknown kind":       {Fields: map[string]adapters.FieldValue{"X": {Kind: "colour", Text: "red"}}},
		"empty field name":   {Fields: map[string]adapters.FieldValue{" ": {Text: "x"}}},
		"unknown relation":   {AddRelations: []adapters.Relation{{Kind: "owns", Key: is.Key}}},
		"missing issue":      {AddRelations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: "LOCAL-99"}}},
		"foreign key":        {AddRelations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: "RM-3"}}},
		"related to itself":  {AddRelations: []adapters.Relation{{Kind: adapters.RelRelates, Key: is.Key}}},
		"remove bad kind":    {RemoveRelations: []adapters.Relation{{Kind: "", Key: is.Key}}},
		"create-only fields": {Due: new("2027-02-30")},
	} {
		_, err := tr.Update(ctx, is.Key, p)
		if !errors.Is(err, adapters.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "y", Due: "soon"}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("create with a bad date: %v", err)
	}
}

func TestDeletedCommentAndFileIDsAreNotReused(t *testing.T) {
	ctx := context.Background()
	tr := newTest(t)
	is := create(t, tr, adapters.Issue{Summary: "x", Comments: []adapters.Comment{{Body: "one"}, {Body: "two"}}})
	up, err := tr.Update(ctx, is.Key, adapters.Patch{DeleteComments: []string{"2", "7"}})
	if err != nil || len(up.Comments) != 1 || up.Comments[0].Body != "one" {
		t.Fatalf("delete: %v, %+v", err, up.Comments)
	}
	up, err = tr.Update(ctx, is.Key, adapters.Patch{AddComments: []adapters.Comment{{Body: "three"}}})
	if err != nil || up.Comments[1].ID != "3" {
		t.Fatalf("the comment after a deleted one got ID %q (%v), want 3", up.Comments[1].ID, err)
	}
	f, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "a.txt"}, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if up, err = tr.Update(ctx, is.Key, adapters.Patch{DeleteAttachments: []string{f.ID}}); err != nil || len(up.Attachments) != 0 {
		t.Fatalf("delete file: %v, %+v", err, up.Attachments)
	}
	if _, err := tr.OpenAttachment(ctx, is.Key, f.ID); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("a deleted file still opens: %v", err)
	}
	g, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "b.txt"}, strings.NewReader("other"))
	if err != nil || g.ID == f.ID {
		t.Fatalf("the file after a deleted one got ID %q (%v), the deleted one had %q", g.ID, err, f.ID)
	}
}
