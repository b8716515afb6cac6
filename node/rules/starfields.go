package rules

// The fields of issue 16 as rule files see them: people as user values,
// type and dates as strings, custom fields as field values (a kind and a
// typed value), relations as relation values; and the helpers user(),
// field(), map_user() and note().
//
//	issue.assignee, issue.reporter   a user (email, login, name), or None
//	issue.watchers                   a list of users
//	issue.type, issue.due, issue.start  strings ("" for none; dates YYYY-MM-DD)
//	issue.fields                     a dict: custom field name -> field
//	issue.relations                  a list of relations (kind, key, summary)
//	replica.assignee, ... as above; replica["cf.NAME"] a field (the shared
//	name), replica.fields the same as a dict by shared name, and
//	replica.relations (kind, twin, key, summary: twin is the other issue's
//	twin ID when it is synced, else key and summary name it at the sender)
//
// A field has kind ("" for text, "number", "date", "option", "options",
// "user") and value: a string (text, date, option), an int or float
// (number), a list of strings (options), a user (user), or None when it has
// no value. field(kind, value) makes one; a string, a number, a list of
// strings or a user assigned where a field goes is text, number, options or
// user.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// --- user --------------------------------------------------------------------

// userValue is a person: email, login and display name.
type userValue struct{ u replica.User }

var userAttrs = []string{"email", "login", "name"}

func (v *userValue) String() string       { return v.u.String() }
func (v *userValue) Type() string         { return "user" }
func (v *userValue) Freeze()              {}
func (v *userValue) Truth() starlark.Bool { return starlark.Bool(!v.u.IsZero()) }
func (v *userValue) Hash() (uint32, error) {
	return starlark.String(v.u.Email + "\x00" + v.u.Login).Hash()
}
func (v *userValue) AttrNames() []string { return slices.Clone(userAttrs) }

func (v *userValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "email":
		return starlark.String(v.u.Email), nil
	case "login":
		return starlark.String(v.u.Login), nil
	case "name":
		return starlark.String(v.u.Name), nil
	}
	return nil, nil
}

// CompareSameType: two users are equal when they have the same email and
// login (the display name is not an identity; a person known by a name
// alone equals the same name), as Hash agrees.
func (v *userValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	o := y.(*userValue)
	same := v.u.Email == o.u.Email && v.u.Login == o.u.Login && (v.u.Email != "" || v.u.Login != "" || v.u.Name == o.u.Name)
	switch op {
	case syntax.EQL:
		return same, nil
	case syntax.NEQ:
		return !same, nil
	}
	return false, fmt.Errorf("users cannot be ordered")
}

// userOrNone is a person as rules read it: None for nobody.
func userOrNone(u replica.User) starlark.Value {
	if u.IsZero() {
		return starlark.None
	}
	return &userValue{u: u}
}

func usersList(us []replica.User) *starlark.List {
	vs := make([]starlark.Value, len(us))
	for i, u := range us {
		vs[i] = &userValue{u: u}
	}
	l := starlark.NewList(vs)
	l.Freeze()
	return l
}

// asUser converts what a rule assigns to a person: a user, or a string (an
// email when it has an @, else a login; "" for nobody).
func asUser(what string, x starlark.Value) (replica.User, error) {
	switch x := x.(type) {
	case *userValue:
		return x.u, nil
	case starlark.String:
		s := strings.TrimSpace(string(x))
		if strings.Contains(s, "@") {
			return replica.User{Email: s}, nil
		}
		return replica.User{Login: s}, nil
	}
	return replica.User{}, fmt.Errorf("%s must be a user (user(email=..., login=..., name=...)) or a string, got %s", what, x.Type())
}

func asUsers(what string, x starlark.Value) ([]replica.User, error) {
	switch x.(type) {
	case *starlark.List, starlark.Tuple:
	default:
		return nil, fmt.Errorf("%s must be a list of users, got %s", what, x.Type())
	}
	var out []replica.User
	it := x.(starlark.Iterable).Iterate()
	defer it.Done()
	var e starlark.Value
	for i := 0; it.Next(&e); i++ {
		u, err := asUser(fmt.Sprintf("%s[%d]", what, i), e)
		if err != nil {
			return nil, err
		}
		if !u.IsZero() {
			out = append(out, u)
		}
	}
	return out, nil
}

// userBuiltin is user(email="", login="", name=""), or user(s) for a
// string as asUser reads it.
func userBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 1 && len(kwargs) == 0 {
		u, err := asUser("user()", args[0])
		return &userValue{u: u}, err
	}
	var u replica.User
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "email?", &u.Email, "login?", &u.Login, "name?", &u.Name); err != nil {
		return nil, err
	}
	return &userValue{u: u}, nil
}

// mapUser implements map_user(person, mapping, default): the person the
// mapping (a user map such as connection.user_map_inverse) gives for the
// person's email or login, keeping the display name; default when it has
// none (the person unchanged when default is not given). None maps to
// None.
func mapUserBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var person, mappingV, def starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "person", &person, "mapping", &mappingV, "default?", &def); err != nil {
		return nil, err
	}
	if person == starlark.None {
		return starlark.None, nil
	}
	u, err := asUser("map_user: person", person)
	if err != nil {
		return nil, err
	}
	d, ok := mappingV.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("map_user: the mapping must be a dict, got %s", mappingV.Type())
	}
	m := make(map[string]string, d.Len())
	for _, kv := range d.Items() {
		k, ok1 := starlark.AsString(kv[0])
		val, ok2 := starlark.AsString(kv[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("map_user: the mapping's keys and values must be strings, got %s: %s", kv[0].Type(), kv[1].Type())
		}
		m[k] = val
	}
	if mu, ok := mapUser(m, toAdapterUser(u)); ok {
		return &userValue{u: toReplicaUser(mu)}, nil
	}
	if def != nil {
		return def, nil
	}
	return &userValue{u: u}, nil
}

// --- custom field --------------------------------------------------------------

// fieldVal is a custom field's value with its kind.
type fieldVal struct{ v replica.Value }

var fieldAttrs = []string{"kind", "value"}

func (f *fieldVal) String() string {
	return fmt.Sprintf("field(%q, %s)", string(f.v.T), f.value().String())
}
func (f *fieldVal) Type() string          { return "field" }
func (f *fieldVal) Freeze()               {}
func (f *fieldVal) Truth() starlark.Bool  { return starlark.Bool(!emptyField(f.v)) }
func (f *fieldVal) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: field") }
func (f *fieldVal) AttrNames() []string   { return slices.Clone(fieldAttrs) }

func (f *fieldVal) Attr(name string) (starlark.Value, error) {
	switch name {
	case "kind":
		return starlark.String(f.v.T), nil
	case "value":
		return f.value(), nil
	}
	return nil, nil
}

// CompareSameType: fields are equal when kind and value are.
func (f *fieldVal) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	same := f.v.T == y.(*fieldVal).v.T && replica.SameValue(f.v, y.(*fieldVal).v)
	switch op {
	case syntax.EQL:
		return same, nil
	case syntax.NEQ:
		return !same, nil
	}
	return false, fmt.Errorf("fields cannot be ordered")
}

func emptyField(v replica.Value) bool { return v.S == "" && len(v.L) == 0 && len(v.U) == 0 }

// value is the field's value as a Starlark value of its kind.
func (f *fieldVal) value() starlark.Value {
	v := f.v
	switch v.T {
	case replica.KindNumber:
		if v.S == "" {
			return starlark.None
		}
		if i, err := strconv.ParseInt(v.S, 10, 64); err == nil {
			return starlark.MakeInt64(i)
		}
		if x, err := strconv.ParseFloat(v.S, 64); err == nil {
			return starlark.Float(x)
		}
	case replica.KindOptions:
		return frozenStrings(v.L)
	case replica.KindUser:
		return userOrNone(v.User())
	}
	if v.S == "" && v.L != nil {
		return frozenStrings(v.L)
	}
	if v.S == "" && v.T != replica.KindText {
		return starlark.None
	}
	return starlark.String(v.S)
}

// asField converts what a rule assigns to a custom field.
func asField(what string, x starlark.Value) (replica.Value, error) {
	switch x := x.(type) {
	case *fieldVal:
		return x.v, nil
	case starlark.String:
		return replica.Value{S: string(x)}, nil
	case starlark.Int, starlark.Float:
		return replica.Value{T: replica.KindNumber, S: x.String()}, nil
	case *userValue:
		return replica.UserValue(x.u), nil
	case *starlark.List, starlark.Tuple:
		l, err := stringList(what, x)
		if len(l) == 0 {
			l = nil
		}
		return replica.Value{T: replica.KindOptions, L: l}, err
	}
	return replica.Value{}, fmt.Errorf("%s must be a field (field(kind, value)), a string, a number, a list of strings or a user, got %s", what, x.Type())
}

// fieldBuiltin is field(kind, value): a custom field's value of that kind
// (value None: no value).
func fieldBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind string
	var x starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "kind", &kind, "value?", &x); err != nil {
		return nil, err
	}
	k := replica.Kind(kind)
	v := replica.Value{T: k}
	if x != starlark.None {
		switch k {
		case replica.KindText, replica.KindDate, replica.KindOption:
			s, ok := x.(starlark.String)
			if !ok {
				return nil, fmt.Errorf("field: a %q value is a string, got %s", kind, x.Type())
			}
			v.S = string(s)
			if k == replica.KindDate {
				if err := replica.ParseDate(v.S); err != nil {
					return nil, fmt.Errorf("field: %w", err)
				}
			}
		case replica.KindNumber:
			switch n := x.(type) {
			case starlark.Int, starlark.Float:
				v.S = n.String()
			case starlark.String:
				if _, err := strconv.ParseFloat(string(n), 64); err != nil {
					return nil, fmt.Errorf("field: %q is not a number", string(n))
				}
				v.S = string(n)
			default:
				return nil, fmt.Errorf("field: a number value is an int, a float or a string, got %s", x.Type())
			}
		case replica.KindOptions:
			l, err := stringList("field: the options", x)
			if err != nil {
				return nil, err
			}
			v.L = l
		case replica.KindUser:
			u, err := asUser("field: the user", x)
			if err != nil {
				return nil, err
			}
			v = replica.UserValue(u)
		default:
			return nil, fmt.Errorf("field: kind %q is not one of \"\" (text), number, date, option, options, user", kind)
		}
	}
	return &fieldVal{v: v}, nil
}

// fromAdapterField is a tracker's custom field value as a replica value
// (no user map: rules map people themselves).
func fromAdapterField(fv adapters.FieldValue) replica.Value {
	switch fv.Kind {
	case adapters.KindOptions:
		return replica.Value{T: replica.KindOptions, L: slices.Clone(fv.Options)}
	case adapters.KindUser:
		if fv.User == nil {
			return replica.UserValue(replica.User{})
		}
		return replica.UserValue(toReplicaUser(*fv.User))
	}
	return replica.Value{T: replica.Kind(fv.Kind), S: fv.Text}
}

// toAdapterField is the reverse of fromAdapterField.
func toAdapterField(v replica.Value) adapters.FieldValue {
	switch v.T {
	case replica.KindOptions:
		return adapters.FieldValue{Kind: adapters.KindOptions, Options: slices.Clone(v.L)}
	case replica.KindUser:
		u := toAdapterUser(v.User())
		return adapters.FieldValue{Kind: adapters.KindUser, User: &u}
	case replica.KindNumber, replica.KindDate, replica.KindOption:
		return adapters.FieldValue{Kind: string(v.T), Text: v.S}
	}
	return adapters.FieldValue{Text: v.S}
}

func fieldsDict(fields map[string]adapters.FieldValue, frozen bool) *starlark.Dict {
	d := starlark.NewDict(len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		_ = d.SetKey(starlark.String(name), &fieldVal{v: fromAdapterField(fields[name])}) // cannot fail: new dict
	}
	if frozen {
		d.Freeze()
	}
	return d
}

// --- relation ------------------------------------------------------------------

// relationValue is a relation of an issue (key: the other issue's key
// here) or of a replica (twin, or key and summary at the sender).
type relationValue struct {
	kind, twin, key, summary string
}

var relationAttrs = []string{"key", "kind", "summary", "twin"}

func (r *relationValue) String() string {
	if r.twin != "" {
		return fmt.Sprintf("<relation %s twin %s>", r.kind, r.twin)
	}
	return fmt.Sprintf("<relation %s %s>", r.kind, r.key)
}
func (r *relationValue) Type() string         { return "relation" }
func (r *relationValue) Freeze()              {}
func (r *relationValue) Truth() starlark.Bool { return starlark.True }
func (r *relationValue) Hash() (uint32, error) {
	return starlark.String(r.kind + " " + r.twin + " " + r.key).Hash()
}
func (r *relationValue) AttrNames() []string { return slices.Clone(relationAttrs) }

func (r *relationValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "kind":
		return starlark.String(r.kind), nil
	case "twin":
		return starlark.String(r.twin), nil
	case "key":
		return starlark.String(r.key), nil
	case "summary":
		return starlark.String(r.summary), nil
	}
	return nil, nil
}

func issueRelations(rels []adapters.Relation, frozen bool) *starlark.List {
	vs := make([]starlark.Value, len(rels))
	for i, r := range rels {
		vs[i] = &relationValue{kind: r.Kind, key: r.Key, summary: r.Summary}
	}
	l := starlark.NewList(vs)
	if frozen {
		l.Freeze()
	}
	return l
}

func replicaRelations(rels []replica.Relation) *starlark.List {
	vs := make([]starlark.Value, len(rels))
	for i, r := range rels {
		vs[i] = &relationValue{kind: string(r.Kind), twin: r.Twin, key: r.Key, summary: r.Summary}
	}
	l := starlark.NewList(vs)
	l.Freeze()
	return l
}

// asRelations converts a list of relations (or dicts with kind, key,
// summary, twin) that a rule assigns.
func asRelations(what string, x starlark.Value) ([]relationValue, error) {
	elems, err := sequence(what, x)
	if err != nil {
		return nil, fmt.Errorf("%s must be a list of relations, got %s", what, x.Type())
	}
	out := make([]relationValue, 0, len(elems))
	for i, e := range elems {
		ew := fmt.Sprintf("%s[%d]", what, i)
		var r relationValue
		switch e := e.(type) {
		case *relationValue:
			r = *e
		case *starlark.Dict:
			for _, kv := range e.Items() {
				k, _ := starlark.AsString(kv[0])
				var dst *string
				switch k {
				case "kind":
					dst = &r.kind
				case "key":
					dst = &r.key
				case "summary":
					dst = &r.summary
				case "twin":
					dst = &r.twin
				default:
					return nil, fmt.Errorf("%s: a relation has no key %q (its keys are kind, key, summary, twin)", ew, k)
				}
				if err := asString(dst, kv[1]); err != nil {
					return nil, fmt.Errorf("%s[%q]: %w", ew, k, err)
				}
			}
		default:
			return nil, fmt.Errorf("%s must be a relation or a dict, got %s", ew, e.Type())
		}
		if !replica.RelationKind(r.kind).Valid() {
			_, err := replica.ParseRelationKind(r.kind)
			return nil, fmt.Errorf("%s: %w", ew, err)
		}
		if r.key == "" && r.twin == "" {
			return nil, fmt.Errorf("%s: a relation needs the other issue's key", ew)
		}
		out = append(out, r)
	}
	return out, nil
}

// --- replica fields ----------------------------------------------------------

// replicaFieldValue is field name of a received replica as rules read it.
func replicaFieldValue(r *replica.Replica, name string, f replica.Value) starlark.Value {
	switch name {
	case replica.FieldAssignee, replica.FieldReporter:
		return userOrNone(f.User())
	case replica.FieldWatchers:
		return usersList(f.U)
	case replica.FieldRelations:
		return replicaRelations(r.Relations())
	}
	if _, ok := replica.CustomName(name); ok {
		return &fieldVal{v: f}
	}
	return nil
}

// replicaFields is replica.fields: the custom fields by shared name.
func replicaFields(r *replica.Replica) *starlark.Dict {
	names := slices.Sorted(maps.Keys(r.Fields))
	d := starlark.NewDict(len(names))
	for _, n := range names {
		if shared, ok := replica.CustomName(n); ok {
			_ = d.SetKey(starlark.String(shared), &fieldVal{v: r.Fields[n]}) // cannot fail: new dict
		}
	}
	d.Freeze()
	return d
}

// outgoingFieldValue converts what an outgoing rule set for a field of
// issue 16 (ok false: name is not one of them).
func outgoingFieldValue(what, name string, x starlark.Value) (v replica.Value, ok bool, err error) {
	switch name {
	case replica.FieldAssignee, replica.FieldReporter:
		u, err := asUser(what, x)
		return replica.UserValue(u), true, err
	case replica.FieldWatchers:
		us, err := asUsers(what, x)
		return replica.UsersValue(us), true, err
	case replica.FieldType:
		s, isStr := x.(starlark.String)
		if !isStr {
			return v, true, fmt.Errorf("%s must be a string, got %s", what, x.Type())
		}
		return replica.Value{S: string(s)}, true, nil
	case replica.FieldDue, replica.FieldStart:
		s, isStr := x.(starlark.String)
		if !isStr {
			return v, true, fmt.Errorf("%s must be a date as a string YYYY-MM-DD, got %s", what, x.Type())
		}
		if err := replica.ParseDate(string(s)); err != nil {
			return v, true, fmt.Errorf("%s: %w", what, err)
		}
		return replica.DateValue(string(s)), true, nil
	case replica.FieldRelations:
		rs, err := asRelations(what, x)
		rels := make([]replica.Relation, len(rs))
		for i, r := range rs {
			rels[i] = replica.Relation{Kind: replica.RelationKind(r.kind), Twin: r.twin, Key: r.key, Summary: r.summary}
		}
		return replica.RelationsValue(rels), true, err
	}
	if _, custom := replica.CustomName(name); custom {
		v, err := asField(what, x)
		return v, true, err
	}
	return v, false, nil
}

// --- note ----------------------------------------------------------------------

// noteBuiltin is note(key, text) in incoming rules: a visible note on the
// issue, kept as the default rules keep theirs (notes.go): in issue.extra
// where the tracker keeps any extra field, else an internal comment
// written once per text.
func noteBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key, text string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "text", &text); err != nil {
		return nil, err
	}
	if strings.TrimSpace(key) == "" {
		return nil, fmt.Errorf("note: the key is empty")
	}
	st, _ := thread.Local(runKey).(*runState)
	if st == nil {
		return nil, fmt.Errorf("note: called outside a rule run")
	}
	st.notes = append(st.notes, [2]string{key, text})
	return starlark.None, nil
}
