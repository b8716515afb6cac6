package replica

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The fields an issue holds besides summary, description, status, priority
// and labels. Adapters read and write them through the helpers below, so
// that every tracker maps the same shape:
//
//	people     assignee, reporter: KindUser, one identity in U
//	           watchers: KindUsers, the identities in U (last writer wins)
//	type       a string in S (the tracker's issue type, tracker or kind)
//	dates      due, start: KindDate, "YYYY-MM-DD" in S ("" clears)
//	custom     CustomField(name): a tracker's custom field by its name, typed
//	           by T (KindText, KindNumber, KindDate, KindOption, KindOptions,
//	           KindUser)
//	relations  a set (E) of Relation elements, see Relation
//
// A field absent from a replica was not shared; a field present with an
// empty value was cleared.
const (
	FieldAssignee  = "assignee"
	FieldReporter  = "reporter"
	FieldWatchers  = "watchers"
	FieldType      = "type"
	FieldDue       = "due"
	FieldStart     = "start"
	FieldRelations = "relations"
)

// CustomPrefix starts the replica field name of a tracker's custom field:
// the custom field "Customer tier" travels as "cf.Customer tier".
const CustomPrefix = "cf."

// CustomField returns the replica field name of the custom field name.
func CustomField(name string) string { return CustomPrefix + name }

// CustomName returns the custom field name of replica field f and whether f
// is a custom field.
func CustomName(f string) (string, bool) { return strings.CutPrefix(f, CustomPrefix) }

// Kind says what a Value holds. Kinds this version does not know are kept
// and passed on as text.
type Kind string

// The kinds of values.
const (
	KindText    Kind = ""        // S (or a plain list in L)
	KindNumber  Kind = "number"  // S: a decimal number as strconv.ParseFloat reads it, "" for none
	KindDate    Kind = "date"    // S: YYYY-MM-DD, "" for none
	KindOption  Kind = "option"  // S: the chosen option's name, "" for none
	KindOptions Kind = "options" // L: the chosen options' names
	KindUser    Kind = "user"    // U: zero or one identity
	KindUsers   Kind = "users"   // U: the identities
)

// DateLayout is the layout of a KindDate value.
const DateLayout = time.DateOnly

// User is a person as trackers know them. Trackers of different companies
// know different people: a connection's user map translates identities, and
// a receiver that knows none of them leaves the field unassigned and keeps
// the name visible (Label). Any part may be empty, not all of them.
type User struct {
	Email string `msgpack:"e,omitempty" json:"email,omitempty"`
	Login string `msgpack:"n,omitempty" json:"login,omitempty"`
	Name  string `msgpack:"d,omitempty" json:"name,omitempty"` // display name
}

// IsZero reports whether u names nobody.
func (u User) IsZero() bool { return u == User{} }

// Label is how u is shown to a person: the display name, else the login,
// else the email.
func (u User) Label() string { return cmp.Or(u.Name, u.Login, u.Email) }

// String is Label with the email or login in brackets where there is one
// besides, e.g. "Ann Lee <ann@example.com>".
func (u User) String() string {
	other := cmp.Or(u.Email, u.Login)
	if l := u.Label(); l != other && other != "" {
		return l + " <" + other + ">"
	}
	return u.Label()
}

// UserValue returns the value of a KindUser field holding u (nobody when u
// is zero).
func UserValue(u User) Value {
	v := Value{T: KindUser}
	if !u.IsZero() {
		v.U = []User{u}
	}
	return v
}

// UsersValue returns the value of a KindUsers field holding us.
func UsersValue(us []User) Value {
	return Value{T: KindUsers, U: slices.Clone(us)}
}

// User returns the person of a KindUser value, zero for nobody.
func (v Value) User() User {
	if len(v.U) == 0 {
		return User{}
	}
	return v.U[0]
}

// DateValue returns the value of a KindDate field, "" clearing it.
func DateValue(date string) Value { return Value{T: KindDate, S: date} }

// Date returns the date of a KindDate value, and false when it has none.
func (v Value) Date() (time.Time, bool) {
	t, err := time.Parse(DateLayout, v.S)
	return t, err == nil
}

// ParseDate checks that s is "" or a date as YYYY-MM-DD, for input from a
// person or a tracker; its error names the layout.
func ParseDate(s string) error {
	if s == "" {
		return nil
	}
	if _, err := time.Parse(DateLayout, s); err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return nil
}

// validateKind checks a value against its kind.
func validateKind(v *Value) error {
	switch v.T {
	case KindNumber:
		if v.S != "" {
			if _, err := strconv.ParseFloat(v.S, 64); err != nil {
				return malformed("number %q is not a decimal number", v.S)
			}
		}
	case KindDate:
		if err := ParseDate(v.S); err != nil {
			return malformed("%v", err)
		}
	case KindUser:
		if len(v.U) > 1 {
			return malformed("a user field holds %d people, at most one", len(v.U))
		}
	default:
		if len(v.T) > MaxIDLen {
			return checkID("kind", string(v.T))
		}
	}
	if len(v.U) == 0 {
		return nil
	}
	return validateUsers(v.U)
}

func validateUsers(us []User) error {
	if len(us) > MaxUsers {
		return malformed("%d people, the limit is %d", len(us), MaxUsers)
	}
	for i, u := range us {
		if u.IsZero() {
			return malformed("person %d of %d has no email, login or name", i+1, len(us))
		}
		for _, s := range [...]string{u.Email, u.Login, u.Name} {
			if len(s) > MaxIDLen {
				return fmt.Errorf("person %d of %d: %w", i+1, len(us), checkID("person's email, login or name", s))
			}
		}
	}
	return nil
}

// ---- relations ----

// RelationKind is how an issue relates to another: "A blocks B" is
// Relation{Kind: Blocks, Twin: B} in A's relations.
type RelationKind string

// The relation kinds, each with its reverse (Reverse).
const (
	Blocks       RelationKind = "blocks"
	BlockedBy    RelationKind = "blocked-by"
	RelatesTo    RelationKind = "relates"
	Duplicates   RelationKind = "duplicates"
	DuplicatedBy RelationKind = "duplicated-by"
	Parent       RelationKind = "parent" // the other issue is this one's parent
	Child        RelationKind = "child"  // the other issue is a child of this one
)

// RelationKinds lists the kinds in the order people read them.
var RelationKinds = [...]RelationKind{Blocks, BlockedBy, RelatesTo, Duplicates, DuplicatedBy, Parent, Child}

// Reverse returns the kind seen from the other issue: blocks and
// blocked-by, duplicates and duplicated-by, parent and child swap; relates
// stays.
func (k RelationKind) Reverse() RelationKind {
	switch k {
	case Blocks:
		return BlockedBy
	case BlockedBy:
		return Blocks
	case Duplicates:
		return DuplicatedBy
	case DuplicatedBy:
		return Duplicates
	case Parent:
		return Child
	case Child:
		return Parent
	}
	return k
}

// Valid reports whether k is one of RelationKinds.
func (k RelationKind) Valid() bool { return slices.Contains(RelationKinds[:], k) }

// ParseRelationKind reads a kind as a person types it.
func ParseRelationKind(s string) (RelationKind, error) {
	k := RelationKind(strings.ToLower(strings.TrimSpace(s)))
	if !k.Valid() {
		names := make([]string, len(RelationKinds))
		for i, k := range RelationKinds {
			names[i] = string(k)
		}
		return "", fmt.Errorf("relation kind %q is not one of %s", s, strings.Join(names, ", "))
	}
	return k, nil
}

// Relation is one link of an issue to another. The other end is named by
// its twin ID when it is synced too, so that the receiver finds its own twin
// of it whatever order the two issues arrive in. When it is not synced, the
// relation carries a reference instead: the key in the sender's
// tracker and its summary, for the receiver to show; once that issue syncs,
// the sender replaces the reference by the twin.
//
// In the replica, a relation is an element of the set field
// FieldRelations (see Value.E), so concurrent adds and removes of different
// relations all survive; its element string is Elem().
type Relation struct {
	Kind    RelationKind
	Twin    string // twin ID of the other issue; empty for a reference
	Key     string // a reference's key in the sender's tracker
	Summary string // a reference's summary
}

// Elem is the relation's element string: "KIND TWIN" for a twin, or
// "KIND @KEY SUMMARY" for a reference.
func (rel Relation) Elem() string {
	if rel.Twin != "" {
		return string(rel.Kind) + " " + rel.Twin
	}
	return string(rel.Kind) + " @" + rel.Key + " " + rel.Summary
}

// IsRef reports whether the relation is a reference to an unsynced issue.
func (rel Relation) IsRef() bool { return rel.Twin == "" }

// ParseRelation reads an element string written by Elem.
func ParseRelation(s string) (Relation, error) {
	kind, rest, ok := strings.Cut(s, " ")
	rel := Relation{Kind: RelationKind(kind)}
	switch {
	case !ok || !rel.Kind.Valid():
		return Relation{}, fmt.Errorf("relation %q: want \"KIND TWIN\" or \"KIND @KEY SUMMARY\" with a known kind", s)
	case strings.HasPrefix(rest, "@"):
		rel.Key, rel.Summary, _ = strings.Cut(rest[1:], " ")
		if rel.Key == "" {
			return Relation{}, fmt.Errorf("relation %q: the reference has no key", s)
		}
	case rest == "" || strings.ContainsAny(rest, " "):
		return Relation{}, fmt.Errorf("relation %q: the twin ID is empty or has a space", s)
	default:
		rel.Twin = rest
	}
	return rel, nil
}

// Relations returns the present relations of r, sorted by element string;
// elements that do not parse (from a newer version) are left out.
func (r Replica) Relations() []Relation {
	v := r.Fields[FieldRelations]
	l := v.L
	if len(v.E) > 0 {
		l = present(v.E)
	}
	var out []Relation
	for _, s := range l {
		if rel, err := ParseRelation(s); err == nil {
			out = append(out, rel)
		}
	}
	return out
}

// RelationsValue returns the value of FieldRelations listing rels (as a
// list: the sender's stamping turns it into a set against what it sent
// before).
func RelationsValue(rels []Relation) Value {
	l := make([]string, 0, len(rels))
	for _, rel := range rels {
		l = append(l, rel.Elem())
	}
	slices.Sort(l)
	return Value{L: slices.Compact(l)}
}

// SameValue reports whether a and b hold the same value, ignoring clocks,
// Base and Lost: the same S, L (nil and empty equal), kind and people.
func SameValue(a, b Value) bool { return sameValue(a, b) }

// ---- conflicts ----

// Side is one value of a field as a conflict record shows it: the value
// (S, L or U as its kind says) and the clock of the edit that set it, whose
// Wall is when and whose Peer is the node where it was made.
type Side struct {
	S     string   `msgpack:"s,omitempty" json:"s,omitempty"`
	L     []string `msgpack:"l,omitempty" json:"l,omitempty"`
	U     []User   `msgpack:"u,omitempty" json:"u,omitempty"`
	Clock Clock    `msgpack:"c" json:"clock"`
}

// Text renders the side's value for a person.
func (x Side) Text() string {
	switch {
	case len(x.U) > 0:
		parts := make([]string, len(x.U))
		for i, u := range x.U {
			parts[i] = u.String()
		}
		return strings.Join(parts, ", ")
	case x.L != nil:
		return strings.Join(x.L, ", ")
	}
	return x.S
}

// SideOf returns v's value and clock as a Side.
func SideOf(v Value) Side {
	return Side{S: v.S, L: slices.Clone(v.L), U: slices.Clone(v.U), Clock: v.Clock}
}

// Conflict is what Merge found when two edits of one field were concurrent:
// neither writer had seen the other's value (each edit's Base is older than
// the other's Clock). Winner is the value every node keeps (the greater
// clock, as without conflicts); Loser is the greatest concurrent value that
// lost. Both come from the merged state (Value.Lost), so every node that
// holds the same state reports the same conflict, whatever order it
// received the edits in.
type Conflict struct {
	Field  string `msgpack:"f" json:"field"`
	Winner Side   `msgpack:"w" json:"winner"`
	Loser  Side   `msgpack:"l" json:"loser"`
}

// ID names the conflict the same way on every node: field, winner's clock,
// loser's clock.
func (c Conflict) ID() string {
	return c.Field + "@" + c.Winner.Clock.String() + "/" + c.Loser.Clock.String()
}

// Conflicts lists the open conflicts of r: the fields whose value carries a
// concurrent loser, sorted by field.
func (r Replica) Conflicts() []Conflict {
	var out []Conflict
	for name, v := range r.Fields {
		if v.Lost != nil {
			out = append(out, Conflict{Field: name, Winner: SideOf(v), Loser: cloneSide(*v.Lost)})
		}
	}
	slices.SortFunc(out, func(a, b Conflict) int { return cmp.Compare(a.Field, b.Field) })
	return out
}

// concurrent reports whether a value with clock c was unknown to the writer
// of w: it is newer than what w replaced. A writer that did not say what it
// replaced (zero Base: a first value, or a node of an older version) is taken
// to have seen everything, so no conflict is claimed without evidence.
func concurrent(c Clock, w Value) bool {
	return !w.Base.IsZero() && w.Base.Less(c) && c.Less(w.Clock)
}

// lostOf picks the Lost of the winner w of merging a and b (one of them is
// w, up to its Lost): the greatest of the other value and both Losts that is
// concurrent with w, or nil. This is the greatest concurrent value of all the
// values ever merged into the state, so the pick does not depend on the order
// of merges.
func lostOf(w, a, b Value) *Side {
	if w.Base.IsZero() {
		return nil // the common case: nothing to compare, nothing to copy
	}
	var (
		best  Side
		found bool
	)
	consider := func(x Side) {
		if concurrent(x.Clock, w) && (!found || sideWins(x, best)) {
			best, found = x, true
		}
	}
	for _, v := range [...]Value{a, b} {
		// w itself is not concurrent with w. The side shares v's lists
		// until it is picked and copied.
		consider(Side{S: v.S, L: v.L, U: v.U, Clock: v.Clock})
		// A Lost that is not concurrent with its own value is no conflict
		// record (Merge never writes one) and is dropped, whatever the
		// order of merges.
		if v.Lost != nil && concurrent(v.Lost.Clock, v) {
			consider(*v.Lost)
		}
	}
	if !found {
		return nil
	}
	c := cloneSide(best)
	return &c
}

func sideWins(x, cur Side) bool {
	if r := x.Clock.Compare(cur.Clock); r != 0 {
		return r > 0
	}
	return cmp.Or(cmp.Compare(x.S, cur.S), slices.CompareFunc(x.U, cur.U, compareUser), slices.Compare(x.L, cur.L)) > 0
}

func cloneSide(x Side) Side {
	x.L = slices.Clone(x.L)
	x.U = slices.Clone(x.U)
	if len(x.L) == 0 {
		x.L = nil
	}
	if len(x.U) == 0 {
		x.U = nil
	}
	return x
}

func sameSide(a, b *Side) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Clock == b.Clock && a.S == b.S && slices.Equal(a.L, b.L) && slices.Equal(a.U, b.U)
}

func compareUser(a, b User) int {
	return cmp.Or(cmp.Compare(a.Email, b.Email), cmp.Compare(a.Login, b.Login), cmp.Compare(a.Name, b.Name))
}
