package rules

import (
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// On a tracker that keeps no free extra fields (Redmine, RT, the forges,
// Jira), a person the user map does not know lands unassigned with the name
// in an internal comment, written once per value; a reference to an issue
// that is not synced likewise. Nothing goes to issue.extra, which those
// trackers refuse (and which would block the twin).
func TestNotesAsCommentsWhereExtraIsNotKept(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"ann@here.example": "a.lee@there.example"}
	s := mustCompile(t, "", "", o)
	zed := replica.UserValue(replica.User{Email: "zed@there.example", Name: "Zed"})
	in := replica.Replica{Fields: map[string]replica.Value{
		replica.FieldSummary:   {S: "x"},
		replica.FieldAssignee:  zed,
		replica.FieldWatchers:  replica.UsersValue([]replica.User{{Email: "a.lee@there.example"}, {Login: "yan"}}),
		replica.FieldRelations: replica.RelationsValue([]replica.Relation{{Kind: replica.Blocks, Key: "PX-9", Summary: "elsewhere"}}),
	}}
	res, err := s.Incoming(Incoming{Replica: in, Changed: allChanges(in)})
	if err != nil || res.Create == nil {
		t.Fatalf("Incoming: %+v %v", res, err)
	}
	c := res.Create
	if c.Assignee != nil || len(c.Extra) != 0 {
		t.Errorf("created with assignee %+v, extra %v; want unassigned and no extra", c.Assignee, c.Extra)
	}
	want := map[string]string{
		NoteID("assignee at partner", "Zed <zed@there.example>"):  "assignee at partner: Zed <zed@there.example>",
		NoteID("watchers at partner", "yan"):                      "watchers at partner: yan",
		NoteID("relations at partner", "blocks PX-9 (elsewhere)"): "relations at partner: blocks PX-9 (elsewhere)",
	}
	if len(c.Comments) != len(want) {
		t.Fatalf("created with comments %+v, want the %d notes", c.Comments, len(want))
	}
	for _, cm := range c.Comments {
		if want[cm.SyncID] != cm.Body || !cm.Internal || cm.Author != NoteAuthor {
			t.Errorf("note %+v, want one of %v, internal, by %s", cm, want, NoteAuthor)
		}
	}
	if len(c.Watchers) != 1 || c.Watchers[0].Email != "ann@here.example" {
		t.Errorf("watchers %+v, want the known one", c.Watchers)
	}

	// The next sync of the same value writes no second note; a new unknown
	// value writes a new one; a known person writes none and assigns.
	cur := *c
	cur.Key = "RM-1"
	for i := range cur.Comments {
		cur.Comments[i].ID = "j" + string(rune('1'+i))
	}
	for _, tc := range []struct {
		name     string
		assignee replica.Value
		notes    int
		assigned string
	}{
		{"same unknown person", zed, 0, ""},
		{"another unknown person", replica.UserValue(replica.User{Login: "xia"}), 1, ""},
		{"a known person", replica.UserValue(replica.User{Email: "a.lee@there.example"}), 0, "ann@here.example"},
	} {
		in2 := in.Clone()
		in2.Set(replica.FieldAssignee, tc.assignee)
		res, err := s.Incoming(Incoming{Issue: &cur, Replica: in2, Previous: &in, Changed: replica.Changes{Fields: []string{replica.FieldAssignee, replica.FieldRelations}}})
		if err != nil {
			t.Fatal(err)
		}
		p := res.Patch
		if len(p.Extra) != 0 || len(p.AddComments) != tc.notes {
			t.Errorf("%s: extra %v, comments %+v; want no extra and %d notes", tc.name, p.Extra, p.AddComments, tc.notes)
		}
		if got := ""; p.Assignee != nil {
			if got = p.Assignee.Email; got != tc.assigned {
				t.Errorf("%s: assignee %+v, want %q", tc.name, p.Assignee, tc.assigned)
			}
		}
	}

	// The notes stay with this side: the default outgoing rules do not
	// share internal comments.
	r, _, err := s.Outgoing(cur)
	if err != nil || len(r.Comments) != 0 {
		t.Errorf("outgoing comments %+v (%v), want none", r.Comments, err)
	}
}

// Where the tracker keeps extra fields (the local tracker) the note is an
// extra field that follows the value and goes when the person is known.
func TestNotesInExtraFollowTheValue(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"ann@here.example": "a.lee@there.example"}
	o.NotesInExtra = true
	s := mustCompile(t, "", "", o)
	cur := adapters.Issue{Key: "LOCAL-1", Extra: map[string]string{"assignee at partner": "Zed"}}
	for _, tc := range []struct {
		assignee replica.Value
		extra    map[string]string
	}{
		{replica.UserValue(replica.User{Name: "Zed"}), nil},
		{replica.UserValue(replica.User{Login: "xia"}), map[string]string{"assignee at partner": "xia"}},
		{replica.UserValue(replica.User{Email: "a.lee@there.example"}), map[string]string{"assignee at partner": ""}},
	} {
		in := replica.Replica{Fields: map[string]replica.Value{replica.FieldAssignee: tc.assignee}}
		res, err := s.Incoming(Incoming{Issue: &cur, Replica: in, Changed: replica.Changes{Fields: []string{replica.FieldAssignee}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Patch.AddComments) != 0 || len(res.Patch.Extra) != len(tc.extra) {
			t.Errorf("%v: patch extra %v comments %+v, want extra %v", tc.assignee, res.Patch.Extra, res.Patch.AddComments, tc.extra)
		}
		for k, v := range tc.extra {
			if got, ok := res.Patch.Extra[k]; !ok || got != v {
				t.Errorf("%v: extra[%q] = %q, want %q", tc.assignee, k, got, v)
			}
		}
	}
}

// When both sides map people "ours: theirs", the partner sends one of this
// side's people already: they land as they are, with no note.
func TestPersonMappedByThePartnerLandsAsIs(t *testing.T) {
	o := testOptions()
	o.UserMap = map[string]string{"bea@b.example": "ann@a.example"}
	s := mustCompile(t, "", "", o)
	in := replica.Replica{Fields: map[string]replica.Value{replica.FieldAssignee: replica.UserValue(replica.User{Email: "bea@b.example"})}}
	res, err := s.Incoming(Incoming{Replica: in, Changed: allChanges(in)})
	if err != nil || res.Create == nil {
		t.Fatal(res, err)
	}
	if a := res.Create.Assignee; a == nil || a.Email != "bea@b.example" || len(res.Create.Comments) != 0 {
		t.Errorf("assignee %+v, notes %+v; want bea@b.example and no note", a, res.Create.Comments)
	}
}
