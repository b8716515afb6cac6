package rules

// The default rules for the fields of issue 16: people, type, dates and
// custom fields, and comment deletions.
//
// People: Options.UserMap maps this tracker's people (an email or a login)
// to the partner's (both ways). Outgoing, a mapped person leaves as the
// partner's identity (with the display name); others leave as they are.
// Incoming, a person the map gives back lands as that local person; when
// there is a map and it does not know the person, the field is left
// unassigned and the person stays visible in a note "assignee at PEER: Name
// <email>" (notes.go: in issue.extra where the tracker keeps any extra
// field, else an internal comment written once), never an error that
// blocks the twin. Without
// a map, people land as they came and the tracker's adapter matches them.
//
// Type: Options.TypeMap maps this tracker's issue types to the shared ones
// (and back), as StatusMap does statuses. Custom fields: Options.FieldMap
// renames this tracker's custom fields to the shared names (and back); the
// value keeps its kind. Relations leave as references (key and summary),
// which the sync engine turns into twin relations where the other issue is
// synced.
//
// Comments deleted at the partner are not erased here: the comment's body
// becomes a visible note "[deleted at PEER]" followed by the last text.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// fieldMaps are a Set's maps for the fields of issue 16.
type fieldMaps struct {
	userOut, userIn   map[string]string
	typeOut, typeIn   map[string]string
	fieldOut, fieldIn map[string]string
}

func (m *fieldMaps) compile(o Options) error {
	m.userOut, m.typeOut, m.fieldOut = copyMap(o.UserMap), copyMap(o.TypeMap), copyMap(o.FieldMap)
	var err error
	if m.userIn, err = invert("user_map", m.userOut); err != nil {
		return err
	}
	if m.typeIn, err = invert("type_map", m.typeOut); err != nil {
		return err
	}
	m.fieldIn, err = invert("field_map", m.fieldOut)
	return err
}

// DeletedNote is how a comment deleted at the partner reads by default.
func DeletedNote(peer, body string) string {
	if peer == "" {
		peer = "the partner"
	}
	return fmt.Sprintf("[deleted at %s]\n%s", peer, body)
}

func toReplicaUser(u adapters.User) replica.User {
	return replica.User{Email: u.Email, Login: u.Login, Name: u.Name}
}

func toAdapterUser(u replica.User) adapters.User {
	return adapters.User{Email: u.Email, Login: u.Login, Name: u.Name}
}

// mapUser looks u up in m by email, then login; the mapped identity is an
// email when it has an @, else a login, and keeps u's display name.
func mapUser(m map[string]string, u adapters.User) (adapters.User, bool) {
	for _, k := range []string{u.Email, u.Login} {
		if v, ok := m[k]; ok && k != "" {
			out := adapters.User{Name: u.Name}
			if strings.Contains(v, "@") {
				out.Email = v
			} else {
				out.Login = v
			}
			return out, true
		}
	}
	return u, false
}

// outUser is a person as it leaves.
func (m *fieldMaps) outUser(u *adapters.User) replica.Value {
	if u == nil || u.IsZero() {
		return replica.UserValue(replica.User{})
	}
	mu, _ := mapUser(m.userOut, *u)
	return replica.UserValue(toReplicaUser(mu))
}

// inUser is a person as it lands: the local person, or nil (unassigned)
// with the visible name when the user map does not know them.
func (m *fieldMaps) inUser(v replica.Value) (u *adapters.User, unknown string) {
	ru := v.User()
	if ru.IsZero() {
		return &adapters.User{}, ""
	}
	au := toAdapterUser(ru)
	if mu, ok := mapUser(m.userIn, au); ok {
		return &mu, ""
	}
	if _, ours := mapUser(m.userOut, au); ours {
		return &au, "" // one of this side's people (the partner mapped them already)
	}
	if len(m.userIn) > 0 {
		return &adapters.User{}, ru.String()
	}
	return &au, ""
}

// outgoingFields adds the fields of issue 16 to the default outgoing
// replica: those the issue has. A field the issue no longer has is left
// out; the sync engine, which knows what was shared before, sends that as
// a clear (engine/clears.go).
func (s *Set) outgoingFields(is adapters.Issue, r *replica.Replica) {
	m := &s.fields
	if is.Assignee != nil && !is.Assignee.IsZero() {
		r.Set(replica.FieldAssignee, m.outUser(is.Assignee))
	}
	if is.Reporter != nil && !is.Reporter.IsZero() {
		r.Set(replica.FieldReporter, m.outUser(is.Reporter))
	}
	if len(is.Watchers) > 0 {
		us := make([]replica.User, 0, len(is.Watchers))
		for _, w := range is.Watchers {
			mu, _ := mapUser(m.userOut, w)
			us = append(us, toReplicaUser(mu))
		}
		r.Set(replica.FieldWatchers, replica.UsersValue(us))
	}
	if is.Type != "" {
		r.Set(replica.FieldType, replica.Value{S: mapThrough(m.typeOut, is.Type)})
	}
	if is.Due != "" {
		r.Set(replica.FieldDue, replica.DateValue(is.Due))
	}
	if is.Start != "" {
		r.Set(replica.FieldStart, replica.DateValue(is.Start))
	}
	for name, fv := range is.Fields {
		r.Set(replica.CustomField(mapThrough(m.fieldOut, name)), m.outValue(fv))
	}
	if len(is.Relations) > 0 {
		rels := make([]replica.Relation, 0, len(is.Relations))
		for _, rel := range is.Relations {
			rels = append(rels, replica.Relation{Kind: replica.RelationKind(rel.Kind), Key: rel.Key, Summary: rel.Summary})
		}
		r.Set(replica.FieldRelations, replica.RelationsValue(rels))
	}
}

func (m *fieldMaps) outValue(fv adapters.FieldValue) replica.Value {
	switch fv.Kind {
	case adapters.KindOptions:
		return replica.Value{T: replica.KindOptions, L: slices.Clone(fv.Options)}
	case adapters.KindUser:
		v := m.outUser(fv.User)
		return v
	}
	return replica.Value{T: replica.Kind(fv.Kind), S: fv.Text}
}

func (m *fieldMaps) inValue(v replica.Value) (adapters.FieldValue, string) {
	switch v.T {
	case replica.KindOptions:
		return adapters.FieldValue{Kind: adapters.KindOptions, Options: slices.Clone(v.L)}, ""
	case replica.KindUser:
		u, unknown := m.inUser(v)
		return adapters.FieldValue{Kind: adapters.KindUser, User: u}, unknown
	case replica.KindNumber, replica.KindDate, replica.KindOption:
		return adapters.FieldValue{Kind: string(v.T), Text: v.S}, ""
	}
	return adapters.FieldValue{Text: v.S}, ""
}

// incomingFields sets on p the fields of issue 16 that the merge changed
// (all present ones when changed is nil, on a first sync) and that differ
// from cur.
func (s *Set) incomingFields(cur adapters.Issue, merged replica.Replica, changed []string, p *adapters.Patch) {
	m := &s.fields
	want := func(name string) (replica.Value, bool) {
		v, ok := merged.Fields[name]
		if !ok || (changed != nil && !slices.Contains(changed, name)) {
			return v, false
		}
		return v, true
	}
	note := func(what, who string) { s.note(cur, p, s.noteKey(what), who) }
	for _, f := range []struct {
		name string
		dst  **adapters.User
		cur  *adapters.User
	}{{replica.FieldAssignee, &p.Assignee, cur.Assignee}, {replica.FieldReporter, &p.Reporter, cur.Reporter}} {
		v, ok := want(f.name)
		if !ok {
			continue
		}
		u, unknown := m.inUser(v)
		note(f.name, unknown) // "" removes a note kept in extra
		if !sameUser(u, f.cur) {
			*f.dst = u
		}
	}
	if v, ok := want(replica.FieldWatchers); ok {
		var ws []adapters.User
		var unknown []string
		for _, ru := range v.U {
			if u, ok := mapUser(m.userIn, toAdapterUser(ru)); ok || len(m.userIn) == 0 {
				ws = append(ws, u)
			} else {
				unknown = append(unknown, ru.String())
			}
		}
		note(replica.FieldWatchers, strings.Join(unknown, ", "))
		if !slices.Equal(ws, cur.Watchers) {
			p.Watchers = &ws
		}
	}
	for _, f := range []struct {
		name string
		dst  **string
		cur  string
		m    map[string]string
	}{{replica.FieldType, &p.Type, cur.Type, m.typeIn}, {replica.FieldDue, &p.Due, cur.Due, nil}, {replica.FieldStart, &p.Start, cur.Start, nil}} {
		if v, ok := want(f.name); ok {
			if val := mapThrough(f.m, v.S); val != f.cur {
				*f.dst = &val
			}
		}
	}
	for name := range merged.Fields {
		shared, ok := replica.CustomName(name)
		if !ok {
			continue
		}
		v, ok := want(name)
		if !ok {
			continue
		}
		local := mapThrough(m.fieldIn, shared)
		fv, unknown := m.inValue(v)
		if unknown != "" || fv.Kind == adapters.KindUser {
			note(local, unknown)
		}
		if old, had := cur.Fields[local]; (!had && !fv.IsZero()) || (had && !old.Equal(fv)) {
			if p.Fields == nil {
				p.Fields = map[string]adapters.FieldValue{}
			}
			p.Fields[local] = fv
		}
	}
	if len(p.Extra) == 0 {
		p.Extra = nil
	}
}

func sameUser(a, b *adapters.User) bool {
	az, bz := a == nil || a.IsZero(), b == nil || b.IsZero()
	if az || bz {
		return az == bz
	}
	return *a == *b
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// createFields is incomingFields for a new issue.
func (s *Set) createFields(merged replica.Replica, is *adapters.Issue) {
	var p adapters.Patch
	s.incomingFields(adapters.Issue{}, merged, nil, &p)
	is.Assignee, is.Reporter = nonZero(p.Assignee), nonZero(p.Reporter)
	if p.Watchers != nil {
		is.Watchers = *p.Watchers
	}
	for _, f := range []struct {
		dst *string
		v   *string
	}{{&is.Type, p.Type}, {&is.Due, p.Due}, {&is.Start, p.Start}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	is.Fields = p.Fields
	is.Comments = append(is.Comments, p.AddComments...) // notes (notes.go)
	for k, v := range p.Extra {
		if is.Extra == nil {
			is.Extra = map[string]string{}
		}
		is.Extra[k] = v
	}
}

func nonZero(u *adapters.User) *adapters.User {
	if u == nil || u.IsZero() {
		return nil
	}
	return u
}

// deletedComment is the default landing of a comment deleted at the
// partner: an edit of the local copy into a visible note.
func (s *Set) deletedComment(existing adapters.Comment, c replica.Comment) (adapters.Comment, bool) {
	body := DeletedNote(s.peerName, existing.Body)
	if strings.HasPrefix(existing.Body, "[deleted at ") {
		return adapters.Comment{}, false
	}
	return adapters.Comment{ID: existing.ID, Body: body, Internal: existing.Internal}, true
}

// landRelations splits the replica's relations into those whose other
// issue is here (as relations of this tracker) and the others, shown as
// references "KIND KEY (summary)".
func landRelations(rels []replica.Relation, resolve func(replica.Relation) (string, bool)) (here []adapters.Relation, refs []string) {
	for _, rel := range rels {
		if resolve != nil {
			if key, ok := resolve(rel); ok {
				here = append(here, adapters.Relation{Kind: string(rel.Kind), Key: key})
				continue
			}
		}
		if rel.Key == "" {
			continue // a synced issue not here yet: the engine adds it when it lands
		}
		ref := string(rel.Kind) + " " + rel.Key
		if rel.Summary != "" {
			ref += " (" + rel.Summary + ")"
		}
		refs = append(refs, ref)
	}
	return here, refs
}

// relationsNote is the extra field that shows the relations whose other
// issue is not here.
func (s *Set) relationsNote() string { return s.noteKey("relations") }

// noteKey is the key of the note about field what: "assignee at PEER".
func (s *Set) noteKey(what string) string { return what + " at " + cmpOr(s.peerName, "partner") }

func (s *Set) createRelations(in Incoming, is *adapters.Issue) {
	here, refs := landRelations(in.Replica.Relations(), in.Resolve)
	is.Relations = here
	if len(refs) > 0 {
		var p adapters.Patch
		s.note(adapters.Issue{}, &p, s.relationsNote(), strings.Join(refs, "; "))
		for k, v := range p.Extra {
			if is.Extra == nil {
				is.Extra = map[string]string{}
			}
			is.Extra[k] = v
		}
		is.Comments = append(is.Comments, p.AddComments...)
	}
}

// incomingRelations lands a changed set of relations: the relations the
// issue lacks are added, those the peer removed (in Previous, not now) are
// removed, and the references are shown.
func (s *Set) incomingRelations(in Incoming, p *adapters.Patch) {
	if !slices.Contains(in.Changed.Fields, replica.FieldRelations) {
		return
	}
	cur := in.Issue
	here, refs := landRelations(in.Replica.Relations(), in.Resolve)
	for _, rel := range here {
		if !hasRelation(cur.Relations, rel) {
			p.AddRelations = append(p.AddRelations, rel)
		}
	}
	if in.Previous != nil {
		was, _ := landRelations(in.Previous.Relations(), in.Resolve)
		for _, rel := range was {
			if !hasRelation(here, rel) && hasRelation(cur.Relations, rel) {
				p.RemoveRelations = append(p.RemoveRelations, rel)
			}
		}
	}
	s.note(*cur, p, s.relationsNote(), strings.Join(refs, "; "))
}

// hasRelation reports whether rels has a relation of rel's kind to rel's
// issue (the summary a tracker gives of it does not count).
func hasRelation(rels []adapters.Relation, rel adapters.Relation) bool {
	return slices.ContainsFunc(rels, func(r adapters.Relation) bool { return r.Kind == rel.Kind && r.Key == rel.Key })
}
