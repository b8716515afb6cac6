package replica

import (
	"cmp"
	"maps"
	"slices"
)

// Str returns the string value of field name and whether the field is
// present.
func (r Replica) Str(name string) (string, bool) {
	v, ok := r.Fields[name]
	return v.S, ok
}

// List returns a copy of the list value of field name and whether the field
// is present.
func (r Replica) List(name string) ([]string, bool) {
	v, ok := r.Fields[name]
	return slices.Clone(v.L), ok
}

// Set sets field name to v, allocating Fields if needed. v.L is stored as
// given, not copied.
func (r *Replica) Set(name string, v Value) {
	if r.Fields == nil {
		r.Fields = make(map[string]Value)
	}
	r.Fields[name] = v
}

// Clone returns a deep copy of r: changing the copy never changes r.
func (r Replica) Clone() Replica {
	var out Replica
	if r.Fields != nil {
		out.Fields = make(map[string]Value, len(r.Fields))
		for name, v := range r.Fields {
			v.L = slices.Clone(v.L)
			v.E = maps.Clone(v.E)
			v.U = slices.Clone(v.U)
			if v.Lost != nil {
				x := cloneSide(*v.Lost)
				v.Lost = &x
			}
			out.Fields[name] = v
		}
	}
	out.Comments = slices.Clone(r.Comments)
	out.Attachments = slices.Clone(r.Attachments)
	return out
}

// Comment returns the comment with the given ID and whether there is one.
// Should r hold the ID twice, the version Merge would keep is returned.
func (r Replica) Comment(id string) (Comment, bool) {
	var (
		found Comment
		ok    bool
	)
	for _, c := range r.Comments {
		if c.ID == id && (!ok || commentWins(c, found)) {
			found, ok = c, true
		}
	}
	return found, ok
}

// SameValues reports whether a and b hold the same values, ignoring clocks:
// the same field names with equal S and L (a nil and an empty list are
// equal), the same comment IDs with equal Body, Author, Internal and
// Created, and the same attachment IDs with equal metadata, in any order.
func SameValues(a, b Replica) bool {
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	for name, va := range a.Fields {
		vb, ok := b.Fields[name]
		if !ok || !sameValue(va, vb) {
			return false
		}
	}
	ca, cb := commentsByID(a.Comments), commentsByID(b.Comments)
	if len(ca) != len(cb) {
		return false
	}
	for id, x := range ca {
		y, ok := cb[id]
		if !ok || !sameComment(x, y) {
			return false
		}
	}
	return sameAttachments(a.Attachments, b.Attachments)
}

// Changes lists what Merge changed: the names of the fields and the IDs of
// the comments whose value in the result differs from the base (new ones
// included), each sorted. A newer clock on an equal value is not a change.
//
// Conflicts lists the conflicts the merge opened or changed: fields whose
// merged value carries a concurrent loser (Value.Lost) that the base did not
// hold for that winner. They are not changes of value by themselves.
type Changes struct {
	Fields      []string
	Comments    []string
	Attachments []string // IDs of files new to the base (or newly deleted)
	Conflicts   []Conflict
}

// Empty reports whether Merge changed no value.
func (c Changes) Empty() bool {
	return len(c.Fields) == 0 && len(c.Comments) == 0 && len(c.Attachments) == 0
}

// Merge joins the replica in into base and reports which values changed.
//
// Every field is a last-writer-wins register: the value with the greater
// Clock wins. A field absent from in is left as base has it; Merge never
// deletes a field. A list field that carries its elements as a set (E, see
// Value) is joined element by element instead: for each element the add or
// remove with the greater clock wins (on equal clocks the remove), and L is
// then the present elements, sorted, so concurrent adds and removes of
// labels on different nodes all take effect. The field's Clock and S are
// still those of the newest edit. A list without E (from a node that
// predates sets) is a register; once either side has elements, the result
// holds the joined set. Comments are united by ID, and the version with the
// greater Clock wins; comments are never deleted. The result's comments are
// sorted by (Created, ID). Attachments are united by ID the same way (their
// metadata never changes; the greater clock picks the copy kept), sorted by
// (Created, ID).
//
// On equal clocks base is kept. Equal clocks with different values can only
// come from a writer that reused a clock (a node restarted with its wall
// clock stepped back and its HLC not restored); then the greater value wins,
// compared field by field, so that all nodes still agree.
//
// A set may carry a floor and a pruned mark (prune.go): an element that
// one side lacks although it is clocked at or under that side's pruned mark
// stays out, and tombstones at or under the greater mark are dropped.
//
// Conflicts: a register value also carries the greatest value that was
// concurrent with it and lost (Value.Lost; concurrent means newer than what
// the winner's writer replaced, Value.Base). It is kept by the same join, so
// every node holding the same values holds the same conflict, and Changes
// lists the conflicts this merge opened. This relies on one clock naming
// one edit (a writer never reuses a clock for another value with another
// Base); values converge even when one does, conflict records may then
// differ.
//
// Merge is a join on values and clocks: commutative, associative and
// idempotent, so nodes that receive the same replicas in any order, with
// duplicates, end with the same result. The result is normalised (empty
// lists, maps and slices are nil; one comment per ID; comments sorted) and
// shares no memory with base or in, which Merge does not modify.
func Merge(base, in Replica) (Replica, Changes) {
	var (
		out Replica
		ch  Changes
	)
	if len(base.Fields)+len(in.Fields) > 0 {
		out.Fields = make(map[string]Value, max(len(base.Fields), len(in.Fields)))
		for name, v := range base.Fields {
			out.Fields[name] = cloneValue(v)
		}
		for name, v := range in.Fields {
			b, ok := out.Fields[name]
			if !ok {
				out.Fields[name] = cloneValue(v)
				ch.Fields = append(ch.Fields, name)
				continue
			}
			m := mergeValue(b, v)
			out.Fields[name] = m
			if !sameValue(m, b) {
				ch.Fields = append(ch.Fields, name)
			}
			if m.Lost != nil && (m.Clock != b.Clock || !sameSide(m.Lost, b.Lost)) {
				ch.Conflicts = append(ch.Conflicts, Conflict{Field: name, Winner: SideOf(m), Loser: cloneSide(*m.Lost)})
			}
		}
		slices.Sort(ch.Fields)
		slices.SortFunc(ch.Conflicts, func(a, b Conflict) int { return cmp.Compare(a.Field, b.Field) })
	}
	out.Attachments, ch.Attachments = mergeAttachments(base.Attachments, in.Attachments)

	n := len(base.Comments) + len(in.Comments)
	if n == 0 {
		return out, ch
	}
	comments := make([]Comment, 0, n)
	idx := make(map[string]int, n)
	for _, c := range base.Comments {
		if j, ok := idx[c.ID]; ok {
			if commentWins(c, comments[j]) {
				comments[j] = c
			}
			continue
		}
		idx[c.ID] = len(comments)
		comments = append(comments, c)
	}
	nb := len(comments)
	baseNorm := base.Comments // comments[:nb] before in is applied
	if nb != len(base.Comments) {
		baseNorm = slices.Clone(comments)
	}
	for _, c := range in.Comments {
		if j, ok := idx[c.ID]; ok {
			if commentWins(c, comments[j]) {
				comments[j] = c
			}
			continue
		}
		idx[c.ID] = len(comments)
		comments = append(comments, c)
	}
	for i, c := range comments {
		if i >= nb || !sameComment(c, baseNorm[i]) {
			ch.Comments = append(ch.Comments, c.ID)
		}
	}
	slices.Sort(ch.Comments)
	slices.SortFunc(comments, func(a, b Comment) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
	})
	out.Comments = comments
	return out, ch
}

// cloneValue copies v with its own list and set, normalised: an empty list
// or set becomes nil, and with a set the list is derived from it.
func cloneValue(v Value) Value {
	if len(v.U) == 0 {
		v.U = nil
	} else {
		v.U = slices.Clone(v.U)
	}
	if len(v.E) > 0 {
		v.E = maps.Clone(v.E)
		v.L = present(v.E)
		v.Lost = nil // a set has no conflicts: its elements merge
		return v
	}
	v.Lost = lostOf(v, v, v) // a copy, and only if it is a conflict
	v.E = nil
	if len(v.L) == 0 {
		v.L = nil
	} else {
		v.L = slices.Clone(v.L)
	}
	return v
}

// mergeValue joins two normalised values of one field into a new one: the
// register part (Clock, S and, without sets, L) from the winner, and the
// sets element by element. A register also keeps the greatest value
// concurrent with the winner (lostOf), for conflict records.
func mergeValue(b, v Value) Value {
	out := b
	if valueWins(v, b) {
		out = v
	}
	if len(b.E)+len(v.E) == 0 {
		out = cloneValue(out)
		out.Lost = lostOf(out, b, v)
		return out
	}
	out.Lost = nil
	e := make(map[string]Elem, max(len(b.E), len(v.E)))
	maps.Copy(e, b.E)
	// An element one side lacks although it is clocked at or under that
	// side's pruned mark was removed there and its tombstone dropped
	// (prune.go): it stays out.
	wb, wv := b.Pruned(), v.Pruned()
	for s, el := range b.E {
		if _, ok := v.E[s]; !ok && !reserved(s) && !wv.IsZero() && !wv.Less(el.Clock) {
			delete(e, s)
		}
	}
	for s, el := range v.E {
		cur, ok := b.E[s]
		if !ok && !reserved(s) && !wb.IsZero() && !wb.Less(el.Clock) {
			continue
		}
		if !ok || elemWins(el, cur) {
			e[s] = el
		}
	}
	w := wb
	if w.Less(wv) {
		w = wv
	}
	dropTombstones(e, w)
	out.E = e
	out.L = present(e)
	return out
}

// elemWins reports whether el replaces cur (same element): a greater clock,
// or on equal clocks a remove.
func elemWins(el, cur Elem) bool {
	if r := el.Clock.Compare(cur.Clock); r != 0 {
		return r > 0
	}
	return el.Del && !cur.Del
}

// present lists the present elements of a set, sorted; nil if none.
func present(e map[string]Elem) []string {
	var l []string
	for s, el := range e {
		if !el.Del {
			l = append(l, s)
		}
	}
	slices.Sort(l)
	return l
}

// listOf is v's list as the register part of a value: nil for a set, whose
// list is derived from its elements as they merge (comparing it would make
// the tie-break depend on the order of merges).
func listOf(v Value) []string {
	if len(v.E) > 0 {
		return nil
	}
	return v.L
}

func sameValue(a, b Value) bool {
	return a.S == b.S && slices.Equal(a.L, b.L) && a.T == b.T && slices.Equal(a.U, b.U)
}

// valueWins reports whether v replaces cur: a greater clock, or on equal
// clocks a greater value (S, people, a plain list, kind, Base; the first
// three in the order sideWins uses), so that even two copies of one edit
// that disagree pick the same one everywhere.
func valueWins(v, cur Value) bool {
	if r := v.Clock.Compare(cur.Clock); r != 0 {
		return r > 0
	}
	return cmp.Or(cmp.Compare(v.S, cur.S), slices.CompareFunc(v.U, cur.U, compareUser),
		slices.Compare(listOf(v), listOf(cur)), cmp.Compare(v.T, cur.T),
		v.Base.Compare(cur.Base)) > 0
}

func sameComment(a, b Comment) bool {
	return a.ID == b.ID && a.Body == b.Body && a.Author == b.Author &&
		a.Internal == b.Internal && a.Created == b.Created && a.Deleted == b.Deleted
}

// commentWins reports whether c replaces cur (same ID): a greater clock, or
// on equal clocks a greater content.
func commentWins(c, cur Comment) bool {
	if r := c.Clock.Compare(cur.Clock); r != 0 {
		return r > 0
	}
	return cmp.Or(
		cmp.Compare(c.Body, cur.Body),
		cmp.Compare(c.Author, cur.Author),
		cmp.Compare(c.Created, cur.Created),
		cmpBool(c.Internal, cur.Internal),
		cmpBool(c.Deleted, cur.Deleted),
	) > 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// commentsByID indexes comments by ID, keeping the version Merge would keep.
func commentsByID(cs []Comment) map[string]Comment {
	m := make(map[string]Comment, len(cs))
	for _, c := range cs {
		if cur, ok := m[c.ID]; !ok || commentWins(c, cur) {
			m[c.ID] = c
		}
	}
	return m
}
