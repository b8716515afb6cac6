package local

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/issuemesh/issuemesh/adapters"
)

// The local tracker keeps every field of adapters/fields.go: people, type,
// dates, custom fields of any kind, relations between its own issues, and
// comment and file deletions. A relation is kept on the issue it was added
// to (the other issue shows it only when it was related back).

// person is a User as stored.
type person struct {
	Email string `msgpack:"e,omitempty"`
	Login string `msgpack:"n,omitempty"`
	Name  string `msgpack:"d,omitempty"`
}

// fieldValue is a custom field's value as stored.
type fieldValue struct {
	Kind    string   `msgpack:"k,omitempty"`
	Text    string   `msgpack:"t,omitempty"`
	Options []string `msgpack:"o,omitempty"`
	User    *person  `msgpack:"u,omitempty"`
}

// relation is a link to another local issue, by number.
type relation struct {
	Kind string `msgpack:"k"`
	Num  uint64 `msgpack:"n"`
}

// fields are the record's fields beyond the core ones; record embeds them
// (msgpack inlines an embedded struct's fields).
type fields struct {
	Assignee  *person               `msgpack:"as,omitempty"`
	Reporter  *person               `msgpack:"rp,omitempty"`
	Watchers  []person              `msgpack:"w,omitempty"`
	Type      string                `msgpack:"ty,omitempty"`
	Due       string                `msgpack:"du,omitempty"`
	Start     string                `msgpack:"sd,omitempty"`
	Custom    map[string]fieldValue `msgpack:"cf,omitempty"`
	Relations []relation            `msgpack:"rl,omitempty"`
}

var relationKinds = []string{adapters.RelBlocks, adapters.RelBlockedBy, adapters.RelRelates,
	adapters.RelDuplicates, adapters.RelDuplicatedBy, adapters.RelParent, adapters.RelChild}

var fieldKinds = []string{adapters.KindText, adapters.KindNumber, adapters.KindDate,
	adapters.KindOption, adapters.KindOptions, adapters.KindUser}

func toPerson(u *adapters.User) *person {
	if u == nil || u.IsZero() {
		return nil
	}
	return &person{u.Email, u.Login, u.Name}
}

func (p *person) user() *adapters.User {
	if p == nil {
		return nil
	}
	return &adapters.User{Email: p.Email, Login: p.Login, Name: p.Name}
}

// setFields fills is with the record's fields (no memory shared).
func (f *fields) setFields(is *adapters.Issue, prefix string) {
	is.Assignee, is.Reporter = f.Assignee.user(), f.Reporter.user()
	for _, w := range f.Watchers {
		is.Watchers = append(is.Watchers, *w.user())
	}
	is.Type, is.Due, is.Start = f.Type, f.Due, f.Start
	if len(f.Custom) > 0 {
		is.Fields = make(map[string]adapters.FieldValue, len(f.Custom))
		for name, v := range f.Custom {
			is.Fields[name] = adapters.FieldValue{Kind: v.Kind, Text: v.Text, Options: slices.Clone(v.Options), User: v.User.user()}
		}
	}
	for _, r := range f.Relations {
		is.Relations = append(is.Relations, adapters.Relation{Kind: r.Kind, Key: formatKey(prefix, r.Num)})
	}
}

// issueOf is r as an issue, with the summary of each related issue, read
// in txn (a relation that leaves as a reference shows what it points to).
func (t *Tracker) issueOf(txn *badger.Txn, r *record) adapters.Issue {
	is := r.issue(t.prefix)
	for i, rel := range r.Relations {
		if o, err := t.getRecord(txn, rel.Num); err == nil && o != nil {
			is.Relations[i].Summary = o.Summary
		}
	}
	return is
}

// checkDate refuses what is not "" or YYYY-MM-DD.
func checkDate(what, field, s string) error {
	if s == "" {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return rejectf("%s: %s %q is not a date as YYYY-MM-DD", what, field, s)
	}
	return nil
}

// checkValue validates a custom field's value for its kind.
func checkValue(what, name string, v adapters.FieldValue) error {
	if strings.TrimSpace(name) == "" {
		return rejectf("%s: a custom field has an empty name", what)
	}
	if !slices.Contains(fieldKinds, v.Kind) {
		return rejectf("%s: custom field %q has kind %q, want one of text (empty), number, date, option, options, user", what, name, v.Kind)
	}
	switch v.Kind {
	case adapters.KindNumber:
		if _, err := strconv.ParseFloat(v.Text, 64); v.Text != "" && err != nil {
			return rejectf("%s: custom field %q: %q is not a number", what, name, v.Text)
		}
	case adapters.KindDate:
		return checkDate(what, "custom field "+strconv.Quote(name), v.Text)
	}
	return nil
}

// applyFields applies the field part of p to r, given how to find the
// number of a related issue, and reports whether anything changed.
func (r *record) applyFields(what string, p adapters.Patch, relNum func(key string) (uint64, error)) (changed bool, err error) {
	setPerson := func(dst **person, u *adapters.User) {
		if u == nil {
			return
		}
		if n := toPerson(u); !equalPerson(*dst, n) {
			*dst, changed = n, true
		}
	}
	setPerson(&r.Assignee, p.Assignee)
	setPerson(&r.Reporter, p.Reporter)
	if p.Watchers != nil {
		var ws []person
		for _, u := range *p.Watchers {
			if n := toPerson(&u); n != nil && !slices.Contains(ws, *n) {
				ws = append(ws, *n)
			}
		}
		if !slices.Equal(ws, r.Watchers) {
			r.Watchers, changed = ws, true
		}
	}
	for _, d := range []struct {
		dst  *string
		v    *string
		name string
	}{{&r.Type, p.Type, "type"}, {&r.Due, p.Due, "due date"}, {&r.Start, p.Start, "start date"}} {
		if d.v == nil {
			continue
		}
		if d.name != "type" {
			if err := checkDate(what, d.name, *d.v); err != nil {
				return false, err
			}
		}
		if *d.dst != *d.v {
			*d.dst, changed = *d.v, true
		}
	}
	for name, v := range p.Fields {
		if err := checkValue(what, name, v); err != nil {
			return false, err
		}
		old, had := r.Custom[name]
		switch {
		case v.IsZero():
			if had {
				delete(r.Custom, name)
				changed = true
			}
		default:
			nv := fieldValue{Kind: v.Kind, Text: v.Text, Options: slices.Clone(v.Options), User: toPerson(v.User)}
			if !had || !equalField(old, nv) {
				if r.Custom == nil {
					r.Custom = map[string]fieldValue{}
				}
				r.Custom[name], changed = nv, true
			}
		}
	}
	if len(r.Custom) == 0 {
		r.Custom = nil
	}
	rel := func(i int, x adapters.Relation, verb string) (relation, error) {
		if !slices.Contains(relationKinds, x.Kind) {
			return relation{}, rejectf("%s: %s relation %d: kind %q is not one of %s", what, verb, i+1, x.Kind, strings.Join(relationKinds, ", "))
		}
		num, err := relNum(x.Key)
		if err != nil {
			return relation{}, err
		}
		if num == r.Num {
			return relation{}, rejectf("%s: an issue cannot be related to itself", what)
		}
		return relation{Kind: x.Kind, Num: num}, nil
	}
	for i, x := range p.RemoveRelations {
		rr, err := rel(i, x, "remove")
		if err != nil {
			return false, err
		}
		if j := slices.Index(r.Relations, rr); j >= 0 {
			r.Relations, changed = slices.Delete(r.Relations, j, j+1), true
		}
	}
	for i, x := range p.AddRelations {
		rr, err := rel(i, x, "add")
		if err != nil {
			return false, err
		}
		if !slices.Contains(r.Relations, rr) {
			r.Relations, changed = append(r.Relations, rr), true
		}
	}
	if len(r.Relations) == 0 {
		r.Relations = nil
	}
	for _, id := range p.DeleteComments {
		n, perr := strconv.ParseUint(id, 10, 64)
		if j := slices.IndexFunc(r.Comments, func(c comment) bool { return c.ID == n }); perr == nil && j >= 0 {
			r.NextComment = max(r.NextComment, r.Comments[len(r.Comments)-1].ID+1)
			r.Comments, changed = slices.Delete(r.Comments, j, j+1), true
		}
	}
	for _, id := range p.DeleteAttachments {
		n, perr := strconv.ParseUint(id, 10, 64)
		if j := slices.IndexFunc(r.Attachments, func(a attachment) bool { return a.ID == n }); perr == nil && j >= 0 {
			r.NextFile = max(r.NextFile, r.Attachments[len(r.Attachments)-1].ID+1)
			r.Attachments, changed = slices.Delete(r.Attachments, j, j+1), true
		}
	}
	return changed, nil
}

func equalPerson(a, b *person) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func equalField(a, b fieldValue) bool {
	return a.Kind == b.Kind && a.Text == b.Text && slices.Equal(a.Options, b.Options) && equalPerson(a.User, b.User)
}

// createPatch is the field part of a Create as a patch (relations aside).
func createPatch(in adapters.Issue) adapters.Patch {
	p := adapters.Patch{Assignee: in.Assignee, Reporter: in.Reporter, Fields: in.Fields}
	if in.Watchers != nil {
		p.Watchers = &in.Watchers
	}
	for _, d := range []struct {
		dst **string
		v   string
	}{{&p.Type, in.Type}, {&p.Due, in.Due}, {&p.Start, in.Start}} {
		if d.v != "" {
			*d.dst = &d.v
		}
	}
	return p
}

// Lacks says that the local tracker has every feature of adapters.Lacking.
func (t *Tracker) Lacks() map[adapters.Feature]string { return nil }

// KeepsExtraNotes says that the local tracker keeps any Extra key, so the
// sync's notes (adapters.ExtraNotes) are kept there.
func (t *Tracker) KeepsExtraNotes() bool { return true }
