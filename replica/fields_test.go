package replica

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fullIssue is a replica with every kind of field this version knows.
func fullIssue() Replica {
	c := func(w int64) Clock { return Clock{Wall: w, Peer: "p"} }
	ann := User{Email: "ann@example.com", Login: "ann", Name: "Ann Lee"}
	rels := []Relation{
		{Kind: Blocks, Twin: "twin-2"},
		{Kind: Parent, Twin: "twin-0"},
		{Kind: RelatesTo, Key: "LOCAL-9", Summary: "not synced, with spaces"},
	}
	r := Replica{}
	set := func(name string, v Value, w int64) {
		v.Clock = c(w)
		r.Set(name, v)
	}
	set(FieldAssignee, UserValue(ann), 1)
	set(FieldReporter, UserValue(User{Login: "bob"}), 2)
	set(FieldWatchers, UsersValue([]User{ann, {Email: "cy@example.com"}}), 3)
	set(FieldType, Value{S: "Bug"}, 4)
	set(FieldDue, DateValue("2027-01-31"), 5)
	set(FieldStart, DateValue(""), 6)
	set(CustomField("Customer tier"), Value{T: KindOption, S: "Gold"}, 7)
	set(CustomField("Effort"), Value{T: KindNumber, S: "-2.5"}, 8)
	set(CustomField("Platforms"), Value{T: KindOptions, L: []string{"linux", "mac"}}, 9)
	set(CustomField("Reviewer"), UserValue(ann), 10)
	set(CustomField("Shipped"), Value{T: KindDate, S: "2026-12-24"}, 11)
	rv := RelationsValue(rels)
	rv.E = map[string]Elem{}
	for _, s := range rv.L {
		rv.E[s] = Elem{Clock: c(12)}
	}
	rv.E[Relation{Kind: Duplicates, Twin: "twin-3"}.Elem()] = Elem{Del: true, Clock: c(12)}
	set(FieldRelations, rv, 12)
	// A conflict: the status was edited here and at q at once.
	r.Set(FieldStatus, Value{S: "Done", Clock: c(20), Base: c(13),
		Lost: &Side{S: "Blocked", Clock: Clock{Wall: 19, Peer: "q"}}})
	r.Comments = []Comment{
		{ID: "p/1", Body: "edited", Clock: c(21)},
		{ID: "p/2", Body: "", Deleted: true, Clock: c(22)},
	}
	r.Attachments = []Attachment{{ID: "p/9", Filename: "a.txt", Size: 1, Digest: strings.Repeat("ab", 32), Deleted: true, Clock: c(23)}}
	return r
}

func TestNewFieldsSurviveTheCodec(t *testing.T) {
	e := Event{V: Version, ID: "e", Twin: "t", Origin: "p", Replica: fullIssue()}
	b := mustMarshalEvent(t, e)
	got, err := UnmarshalEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", got.Replica, e.Replica)
	}
	// The reflection decoder (what the store's twin codec is checked
	// against) reads the same.
	var viaLib Event
	if err := Unmarshal(b, &viaLib); err != nil || !reflect.DeepEqual(viaLib, e) {
		t.Fatalf("msgpack reads our bytes as %+v (%v)", viaLib.Replica, err)
	}
	if got, err := UnmarshalEvent(rawMarshal(t, e)); err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("we read msgpack's bytes as %+v (%v)", got.Replica, err)
	}
	// And the helpers read back what was set.
	r := got.Replica
	if u := r.Fields[FieldAssignee].User(); u.Login != "ann" || u.String() != "Ann Lee <ann@example.com>" {
		t.Errorf("assignee %+v (%q)", u, u.String())
	}
	if d, ok := r.Fields[FieldDue].Date(); !ok || d.Day() != 31 {
		t.Errorf("due %v %v", d, ok)
	}
	if _, ok := r.Fields[FieldStart].Date(); ok {
		t.Error("a cleared start date reads as a date")
	}
	wantRels := []Relation{
		{Kind: Blocks, Twin: "twin-2"},
		{Kind: Parent, Twin: "twin-0"},
		{Kind: RelatesTo, Key: "LOCAL-9", Summary: "not synced, with spaces"},
	}
	if rels := r.Relations(); !reflect.DeepEqual(rels, wantRels) {
		t.Errorf("relations %+v, want %+v", rels, wantRels)
	}
	if cs := r.Conflicts(); len(cs) != 1 || cs[0].Field != FieldStatus || cs[0].Loser.S != "Blocked" || cs[0].Winner.S != "Done" {
		t.Errorf("conflicts %+v", cs)
	}
}

func TestNewFieldsValidation(t *testing.T) {
	bad := []struct {
		name string
		v    Value
		want string
	}{
		{"date not YYYY-MM-DD", Value{T: KindDate, S: "31/01/2027"}, `date "31/01/2027" is not YYYY-MM-DD`},
		{"number not a number", Value{T: KindNumber, S: "ten"}, `number "ten" is not a decimal number`},
		{"two assignees", Value{T: KindUser, U: []User{{Login: "a"}, {Login: "b"}}}, "at most one"},
		{"nobody as a person", Value{T: KindUsers, U: []User{{}}}, "has no email, login or name"},
		{"too many people", Value{T: KindUsers, U: slices.Repeat([]User{{Login: "a"}}, MaxUsers+1)}, "limit is 100"},
		{"a huge login", Value{T: KindUser, U: []User{{Login: strings.Repeat("x", MaxIDLen+1)}}}, "limit"},
		{"a conflict with a bad person", Value{S: "x", Lost: &Side{U: []User{{}}}}, "lost value"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{V: Version, ID: "e", Twin: "t", Origin: "p", Replica: Replica{Fields: map[string]Value{"cf.x": tt.v}}}
			_, err := MarshalEvent(&e)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"cf.x"`) {
				t.Fatalf("MarshalEvent: %v, want ErrMalformed naming the field and %q", err, tt.want)
			}
			if _, err := UnmarshalEvent(rawMarshal(t, e)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("UnmarshalEvent of msgpack's bytes: %v, want ErrMalformed", err)
			}
		})
	}
	// A kind from a newer version travels as text.
	e := Event{V: Version, ID: "e", Twin: "t", Origin: "p", Replica: Replica{Fields: map[string]Value{"cf.x": {T: "colour", S: "red"}}}}
	if _, err := MarshalEvent(&e); err != nil {
		t.Fatalf("unknown kind refused: %v", err)
	}
}

func TestRelationElements(t *testing.T) {
	for _, rel := range []Relation{
		{Kind: Blocks, Twin: "01J0ABC"},
		{Kind: Child, Twin: "x"},
		{Kind: DuplicatedBy, Key: "owner/repo#3", Summary: "Crash on start"},
		{Kind: RelatesTo, Key: "RT-4"},
	} {
		got, err := ParseRelation(rel.Elem())
		if err != nil || got != rel {
			t.Errorf("%+v: element %q parses as %+v (%v)", rel, rel.Elem(), got, err)
		}
	}
	for _, s := range []string{"", "blocks", "blocks ", "owns x", "blocks @", "blocks a b"} {
		if _, err := ParseRelation(s); err == nil {
			t.Errorf("ParseRelation(%q) accepted", s)
		}
	}
	for _, k := range RelationKinds {
		if k.Reverse().Reverse() != k || !k.Reverse().Valid() {
			t.Errorf("%s: reverse %s", k, k.Reverse())
		}
	}
	if _, err := ParseRelationKind("Blocks"); err != nil {
		t.Error(err)
	}
	if _, err := ParseRelationKind("owns"); err == nil || !strings.Contains(err.Error(), "blocked-by") {
		t.Errorf("ParseRelationKind(owns): %v, want the list of kinds", err)
	}
}

// TestRelationsResolveInAnyOrder: two issues related both ways (A blocks B
// in A's replica, B blocked-by A in B's), their relations sent as sets from
// two nodes, arrive in any order, with duplicates and removals: each node
// ends with the same relations for each twin.
func TestRelationsResolveInAnyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for iter := range 300 {
		var sent []struct {
			twin string
			r    Replica
		}
		for i := range 6 + rng.IntN(6) {
			twin := []string{"A", "B"}[rng.IntN(2)]
			other := map[string]string{"A": "B", "B": "A"}[twin]
			kind := RelationKinds[rng.IntN(len(RelationKinds))]
			el := Relation{Kind: kind, Twin: other}.Elem()
			clk := Clock{Wall: int64(i), Peer: []string{"p", "q"}[rng.IntN(2)]}
			v := Value{Clock: clk, E: map[string]Elem{el: {Del: rng.IntN(3) == 0, Clock: clk}}}
			sent = append(sent, struct {
				twin string
				r    Replica
			}{twin, Replica{Fields: map[string]Value{FieldRelations: v}}})
		}
		want := map[string]Replica{}
		for _, s := range sent {
			want[s.twin] = merged(want[s.twin], s.r)
		}
		for node := range 3 {
			order := slices.Clone(sent)
			order = append(order, sent[rng.IntN(len(sent))])
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			got := map[string]Replica{}
			for _, s := range order {
				got[s.twin] = merged(got[s.twin], s.r)
			}
			for twin := range want {
				if !reflect.DeepEqual(got[twin].Relations(), want[twin].Relations()) {
					t.Fatalf("iteration %d node %d twin %s: relations %+v, want %+v", iter, node, twin, got[twin].Relations(), want[twin].Relations())
				}
			}
		}
	}
}

func TestMergeConflicts(t *testing.T) {
	at := func(w int64, p string) Clock { return Clock{Wall: w, Peer: p} }
	base := Value{S: "Open", Clock: at(10, "p")}
	ours := Value{S: "Done", Clock: at(20, "p"), Base: base.Clock}
	theirs := Value{S: "Blocked", Clock: at(21, "q"), Base: base.Clock}
	after := Value{S: "Closed", Clock: at(30, "p"), Base: theirs.Clock} // saw theirs
	third := Value{S: "Waiting", Clock: at(22, "r"), Base: base.Clock}
	noBase := Value{S: "Blocked", Clock: at(21, "q")} // from an older node
	one := func(v Value) Replica { return Replica{Fields: map[string]Value{FieldStatus: v}} }
	tests := []struct {
		name       string
		edits      []Value
		wantWinner string
		wantLoser  string // "" for no conflict
	}{
		{"sequential edits", []Value{base, ours, after}, "Closed", ""},
		{"concurrent edits", []Value{base, ours, theirs}, "Blocked", "Done"},
		{"concurrent, other order", []Value{base, theirs, ours}, "Blocked", "Done"},
		{"three at once: the greatest loser", []Value{ours, third, theirs}, "Waiting", "Blocked"},
		{"three at once, reversed", []Value{theirs, third, ours}, "Waiting", "Blocked"},
		{"a later edit that saw the winner closes it", []Value{ours, theirs, after}, "Closed", ""},
		{"no base: no conflict claimed", []Value{base, ours, noBase}, "Blocked", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st Replica
			var opened []Conflict
			for _, v := range tt.edits {
				var ch Changes
				st, ch = Merge(st, one(v))
				opened = append(opened, ch.Conflicts...)
				// A duplicate opens nothing.
				if _, again := Merge(st, one(v)); len(again.Conflicts) != 0 {
					t.Fatalf("a duplicate of %q opened %+v", v.S, again.Conflicts)
				}
			}
			if got := st.Fields[FieldStatus].S; got != tt.wantWinner {
				t.Fatalf("winner %q, want %q", got, tt.wantWinner)
			}
			cs := st.Conflicts()
			if tt.wantLoser == "" {
				if len(cs) != 0 {
					t.Fatalf("conflicts %+v, want none", cs)
				}
				return
			}
			if len(cs) != 1 || cs[0].Loser.S != tt.wantLoser || cs[0].Winner.S != tt.wantWinner {
				t.Fatalf("conflicts %+v, want %q over %q", cs, tt.wantWinner, tt.wantLoser)
			}
			if last := opened[len(opened)-1]; last.ID() != cs[0].ID() {
				t.Fatalf("last conflict opened %s, state holds %s", last.ID(), cs[0].ID())
			}
		})
	}
	// The node that already holds the winner and receives the loser
	// records the same conflict as the node that received the winner.
	a, chA := Merge(one(ours), one(theirs))
	b, chB := Merge(one(theirs), one(ours))
	if len(chA.Conflicts) != 1 || len(chB.Conflicts) != 1 || chA.Conflicts[0].ID() != chB.Conflicts[0].ID() {
		t.Fatalf("the two nodes record %+v and %+v", chA.Conflicts, chB.Conflicts)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("states differ: %+v %+v", a, b)
	}
	if !chB.Empty() || chA.Empty() {
		t.Fatalf("value changes: %+v on the node that had the loser, %+v on the one that had the winner", chA, chB)
	}
	// Sets never conflict: their elements merge.
	s1 := Value{E: map[string]Elem{"x": {Clock: at(20, "p")}}, Clock: at(20, "p"), Base: at(10, "p")}
	s2 := Value{E: map[string]Elem{"y": {Clock: at(21, "q")}}, Clock: at(21, "q"), Base: at(10, "p")}
	if st := merged(Replica{Fields: map[string]Value{FieldLabels: s1}}, Replica{Fields: map[string]Value{FieldLabels: s2}}); len(st.Conflicts()) != 0 {
		t.Fatalf("a set conflicts: %+v", st.Conflicts())
	}
}

func TestCommentAndFileDeletionsWin(t *testing.T) {
	at := func(w int64) Clock { return Clock{Wall: w, Peer: "p"} }
	c := Comment{ID: "p/1", Body: "hello", Clock: at(1)}
	del := c
	del.Deleted, del.Clock = true, at(2)
	for _, order := range [][]Comment{{c, del}, {del, c}, {del, c, c}} {
		var st Replica
		for _, x := range order {
			st = merged(st, Replica{Comments: []Comment{x}})
		}
		if got, _ := st.Comment("p/1"); !got.Deleted {
			t.Fatalf("order %+v: the deletion was lost: %+v", order, got)
		}
	}
	f := Attachment{ID: "p/2", Filename: "a", Digest: strings.Repeat("0", 64), Clock: at(1)}
	fd := f
	fd.Deleted, fd.Clock = true, at(2)
	_, ch := Merge(Replica{Attachments: []Attachment{f}}, Replica{Attachments: []Attachment{fd}})
	if !slices.Equal(ch.Attachments, []string{"p/2"}) {
		t.Fatalf("a deleted file is not a change: %+v", ch)
	}
	if st := merged(Replica{Attachments: []Attachment{fd}}, Replica{Attachments: []Attachment{f}}); !st.Attachments[0].Deleted {
		t.Fatal("a late copy brought a deleted file back")
	}
}

// TestManyPeopleRefusedBeforeAllocating: a value that declares more people
// than MaxUsers is refused by the decoder before it allocates them.
func TestManyPeopleRefusedBeforeAllocating(t *testing.T) {
	e := Event{V: Version, ID: "e", Twin: "t", Origin: "p", Replica: Replica{Fields: map[string]Value{
		"w": {T: KindUsers, U: slices.Repeat([]User{{Login: "a"}}, MaxUsers+1)},
	}}}
	b := rawMarshal(t, e)
	var err error
	n := allocatedBytes(func() { _, err = UnmarshalEvent(b) })
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "person limit") {
		t.Fatalf("UnmarshalEvent: %v, want the person limit", err)
	}
	if n > 16<<10 {
		t.Fatalf("refusing %d people allocated %d bytes", MaxUsers+1, n)
	}
}
