package rules

// The fields of issue 16 on the issue an incoming rule edits
// (starfields.go has the values), and how they turn into the create or
// the patch.

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// inFields are the fields of issue 16 of an inIssue.
type inFields struct {
	assignee, reporter starlark.Value     // a user, or None for nobody
	watchers           starlark.Value     // a list of users (or strings)
	strs               [3]starlark.String // type, due, start
	fields             *starlark.Dict     // name -> field (or what asField takes)
	relations          starlark.Value     // a list of relations
	resolve            func(replica.Relation) (string, bool)
}

var inFieldNames = []string{replica.FieldAssignee, replica.FieldReporter, replica.FieldWatchers, replica.FieldType, replica.FieldDue, replica.FieldStart, "fields", replica.FieldRelations}

func strIndex(name string) int {
	switch name {
	case replica.FieldType:
		return 0
	case replica.FieldDue:
		return 1
	case replica.FieldStart:
		return 2
	}
	return -1
}

func newInFields(is adapters.Issue) inFields {
	ws := usersList(adapterUsers(is.Watchers))
	return inFields{
		assignee: personOrNone(is.Assignee), reporter: personOrNone(is.Reporter),
		watchers:  copyList(ws),
		strs:      [3]starlark.String{starlark.String(is.Type), starlark.String(is.Due), starlark.String(is.Start)},
		fields:    fieldsDict(is.Fields, false),
		relations: issueRelations(is.Relations, false),
	}
}

// attr returns a field of issue 16 (ok false: name is not one).
func (f *inFields) attr(name string) (starlark.Value, bool) {
	if i := strIndex(name); i >= 0 {
		return f.strs[i], true
	}
	switch name {
	case replica.FieldAssignee:
		return f.assignee, true
	case replica.FieldReporter:
		return f.reporter, true
	case replica.FieldWatchers:
		return f.watchers, true
	case "fields":
		return f.fields, true
	case replica.FieldRelations:
		return f.relations, true
	}
	return nil, false
}

// set sets a field of issue 16 (ok false: name is not one). x is not None.
func (f *inFields) set(name string, x starlark.Value) (ok bool, err error) {
	what := "issue." + name
	if i := strIndex(name); i >= 0 {
		s, isStr := x.(starlark.String)
		if !isStr {
			return true, fmt.Errorf("%s must be a string, got %s", what, x.Type())
		}
		if i > 0 {
			if err := replica.ParseDate(string(s)); err != nil {
				return true, fmt.Errorf("%s: %w", what, err)
			}
		}
		f.strs[i] = s
		return true, nil
	}
	switch name {
	case replica.FieldAssignee, replica.FieldReporter:
		u, err := asUser(what, x)
		if err != nil {
			return true, err
		}
		v := userOrNone(u)
		if name == replica.FieldAssignee {
			f.assignee = v
		} else {
			f.reporter = v
		}
		return true, nil
	case replica.FieldWatchers:
		if _, err := asUsers(what, x); err != nil {
			return true, err
		}
		f.watchers = copyList(x)
		return true, nil
	case "fields":
		d, isDict := x.(*starlark.Dict)
		if !isDict {
			return true, fmt.Errorf("issue.fields must be a dict of custom fields by name, got %s", x.Type())
		}
		if _, err := customFields(d); err != nil {
			return true, err
		}
		f.fields = starlark.NewDict(d.Len())
		for _, kv := range d.Items() {
			_ = f.fields.SetKey(kv[0], kv[1]) // cannot fail: new dict, keys from a dict
		}
		return true, nil
	case replica.FieldRelations:
		if _, err := asRelations(what, x); err != nil {
			return true, err
		}
		f.relations = copyList(x)
		return true, nil
	}
	return false, nil
}

// customFields converts issue.fields; a value None clears the field.
func customFields(d *starlark.Dict) (map[string]adapters.FieldValue, error) {
	out := make(map[string]adapters.FieldValue, d.Len())
	for _, kv := range d.Items() {
		name, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("issue.fields keys are custom field names (strings), got %s", kv[0].Type())
		}
		if kv[1] == starlark.None {
			out[name] = adapters.FieldValue{}
			continue
		}
		v, err := asField(fmt.Sprintf("issue.fields[%q]", name), kv[1])
		if err != nil {
			return nil, err
		}
		out[name] = toAdapterField(v)
	}
	return out, nil
}

// toIssue fills is with the fields as the rule left them.
func (f *inFields) toIssue(is *adapters.Issue) error {
	for _, p := range []struct {
		dst **adapters.User
		v   starlark.Value
	}{{&is.Assignee, f.assignee}, {&is.Reporter, f.reporter}} {
		if u, ok := p.v.(*userValue); ok && !u.u.IsZero() {
			au := toAdapterUser(u.u)
			*p.dst = &au
		}
	}
	ws, err := asUsers("issue.watchers", f.watchers)
	if err != nil {
		return err
	}
	for _, w := range ws {
		is.Watchers = append(is.Watchers, toAdapterUser(w))
	}
	is.Type, is.Due, is.Start = string(f.strs[0]), string(f.strs[1]), string(f.strs[2])
	fields, err := customFields(f.fields)
	if err != nil {
		return err
	}
	for name, v := range fields {
		if v.IsZero() {
			continue
		}
		if is.Fields == nil {
			is.Fields = map[string]adapters.FieldValue{}
		}
		is.Fields[name] = v
	}
	rels, err := asRelations("issue.relations", f.relations)
	if err != nil {
		return err
	}
	for _, r := range rels {
		if r.key == "" {
			return fmt.Errorf("issue.relations: the relation %s to twin %s is not here: merge_relations lands relations by their keys here", r.kind, r.twin)
		}
		is.Relations = append(is.Relations, adapters.Relation{Kind: r.kind, Key: r.key})
	}
	return nil
}

// diffFields adds to p what the rule changed of the fields of issue 16.
func diffFields(before, after adapters.Issue, p *adapters.Patch) {
	for _, f := range []struct {
		dst       **adapters.User
		old, next *adapters.User
	}{{&p.Assignee, before.Assignee, after.Assignee}, {&p.Reporter, before.Reporter, after.Reporter}} {
		if !sameUser(f.old, f.next) {
			u := adapters.User{}
			if f.next != nil {
				u = *f.next
			}
			*f.dst = &u
		}
	}
	if !slices.Equal(before.Watchers, after.Watchers) && (len(before.Watchers) > 0 || len(after.Watchers) > 0) {
		ws := slices.Clone(after.Watchers)
		p.Watchers = &ws
	}
	for _, f := range []struct {
		dst       **string
		old, next string
	}{{&p.Type, before.Type, after.Type}, {&p.Due, before.Due, after.Due}, {&p.Start, before.Start, after.Start}} {
		if f.old != f.next {
			v := f.next
			*f.dst = &v
		}
	}
	set := func(name string, v adapters.FieldValue) {
		if p.Fields == nil {
			p.Fields = map[string]adapters.FieldValue{}
		}
		p.Fields[name] = v
	}
	for _, name := range slices.Sorted(maps.Keys(after.Fields)) {
		if old, had := before.Fields[name]; !had || !old.Equal(after.Fields[name]) {
			set(name, after.Fields[name])
		}
	}
	for name, old := range before.Fields {
		if _, kept := after.Fields[name]; !kept {
			set(name, adapters.FieldValue{Kind: old.Kind})
		}
	}
	same := func(a, b adapters.Relation) bool { return a.Kind == b.Kind && a.Key == b.Key }
	for _, r := range after.Relations {
		if !slices.ContainsFunc(before.Relations, func(o adapters.Relation) bool { return same(o, r) }) {
			p.AddRelations = append(p.AddRelations, r)
		}
	}
	for _, r := range before.Relations {
		if !slices.ContainsFunc(after.Relations, func(o adapters.Relation) bool { return same(o, r) }) {
			p.RemoveRelations = append(p.RemoveRelations, adapters.Relation{Kind: r.Kind, Key: r.Key})
		}
	}
}

// mergeRelations implements merge_relations(issue, replica, previous=None):
// the issue's relations with those of the replica whose other issue is here
// added, and those previous had and the replica no longer has removed, as
// the default rule lands them. The relations whose other issue is not here
// are shown in the note "relations at PEER" (notes.go).
func (s *Set) mergeRelations(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var issueV, replV, prevV starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "issue", &issueV, "replica", &replV, "previous?", &prevV); err != nil {
		return nil, err
	}
	ib, ok := issueV.(*inIssue)
	if !ok {
		return nil, fmt.Errorf("merge_relations: the first argument must be the issue, got %s", issueV.Type())
	}
	rv, ok := replV.(*replicaView)
	if !ok {
		return nil, fmt.Errorf("merge_relations: the second argument must be a received replica, got %s", replV.Type())
	}
	cur, err := asRelations("merge_relations: issue.relations", ib.f16.relations)
	if err != nil {
		return nil, err
	}
	here, refs := landRelations(rv.r.Relations(), ib.f16.resolve)
	var was []adapters.Relation
	if prevV != nil && prevV != starlark.None {
		pv, ok := prevV.(*replicaView)
		if !ok {
			return nil, fmt.Errorf("merge_relations: the third argument must be the previous replica or None, got %s", prevV.Type())
		}
		was, _ = landRelations(pv.r.Relations(), ib.f16.resolve)
	}
	in := func(rs []adapters.Relation, r relationValue) bool {
		return slices.ContainsFunc(rs, func(o adapters.Relation) bool { return o.Kind == r.kind && o.Key == r.key })
	}
	var out []starlark.Value
	for _, r := range cur {
		if in(was, r) && !in(here, r) {
			continue
		}
		out = append(out, &relationValue{kind: r.kind, key: r.key, summary: r.summary})
	}
	for _, r := range here {
		if !slices.ContainsFunc(cur, func(o relationValue) bool { return o.kind == r.Kind && o.key == r.Key }) {
			out = append(out, &relationValue{kind: r.Kind, key: r.Key})
		}
	}
	if st, _ := thread.Local(runKey).(*runState); st != nil {
		st.notes = append(st.notes, [2]string{s.relationsNote(), strings.Join(refs, "; ")})
	}
	return starlark.NewList(out), nil
}
