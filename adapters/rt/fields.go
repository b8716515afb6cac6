package rt

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/issuemesh/issuemesh/adapters"
)

// The fields of issue 16 in RT:
//
//	assignee   Owner (a user name; "Nobody" is unassigned)
//	reporter   Creator (read only)
//	watchers   the Requestors (set as a whole)
//	due, start Due and Starts (dates; RT's "not set" is 1970-01-01)
//	custom     every ticket custom field but the adapter's own, by name, as
//	           text (RT's freeform and select fields hold strings; one with
//	           several values is read as options)
//	relations  links: DependsOn is blocked-by, DependedOnBy blocks,
//	           RefersTo and ReferredToBy relates, MemberOf parent, Members
//	           child; RT has no duplicates link, so one is rejected
//
// RT has no issue types, cannot delete a transaction (a comment) nor an
// attachment: Lacks declares them.

// wireLink is a link of a ticket as REST2 lists it in _hyperlinks.
type wireLink struct {
	Ref  string     `json:"ref"`
	Type string     `json:"type"`
	ID   flexString `json:"id"`
}

// rtNoDate is how RT shows a date that is not set.
const rtNoDate = "1970-01-01"

var linkKinds = map[string]string{
	"depends-on": adapters.RelBlockedBy, "depended-on-by": adapters.RelBlocks,
	"refers-to": adapters.RelRelates, "referred-to-by": adapters.RelRelates,
	"parent": adapters.RelParent, "member-of": adapters.RelParent,
	"child": adapters.RelChild, "has-member": adapters.RelChild, "members": adapters.RelChild,
}

// linkFields are the REST2 fields that add (or, with "Delete", remove) a
// link of kind; relates is both directions.
func linkFields(kind string) []string {
	switch kind {
	case adapters.RelBlocks:
		return []string{"DependedOnBy"}
	case adapters.RelBlockedBy:
		return []string{"DependsOn"}
	case adapters.RelRelates:
		return []string{"RefersTo", "ReferredToBy"}
	case adapters.RelParent:
		return []string{"MemberOf"}
	case adapters.RelChild:
		return []string{"Members"}
	}
	return nil
}

func person(o *obj) *adapters.User {
	if o == nil || o.ID == "" || string(o.ID) == "Nobody" {
		return nil
	}
	return &adapters.User{Login: string(o.ID)}
}

// userName is the RT user name (or email) for p.
func userName(p adapters.User) string {
	if p.Login != "" {
		return p.Login
	}
	return p.Email
}

// hasUser reports whether RT has a user of that name.
func (t *Tracker) hasUser(ctx context.Context, name string) bool {
	var u struct {
		Name string `json:"Name"`
	}
	return t.get(ctx, "/user/"+url.PathEscape(name), nil, &u) == nil && u.Name != ""
}

func date(s string) string {
	if len(s) < 10 || s[:10] == rtNoDate {
		return ""
	}
	return s[:10]
}

func own(name string) bool { return name == TwinField || name == LabelsField || name == MarkerField }

// fillFields sets the fields of issue 16 of is from w.
func fillFields(is *adapters.Issue, w *wireTicket) {
	is.Assignee = person(w.Owner)
	is.Reporter = person(w.Creator)
	for i := range w.Requestor {
		if p := person(&w.Requestor[i]); p != nil {
			is.Watchers = append(is.Watchers, *p)
		}
	}
	is.Due, is.Start = date(w.Due), date(w.Starts)
	for _, c := range w.CustomFields {
		if own(c.Name) || len(c.Values) == 0 {
			continue
		}
		if is.Fields == nil {
			is.Fields = map[string]adapters.FieldValue{}
		}
		if len(c.Values) > 1 {
			is.Fields[c.Name] = adapters.FieldValue{Kind: adapters.KindOptions, Options: slices.Clone(c.Values)}
		} else if c.Values[0] != "" {
			is.Fields[c.Name] = adapters.FieldValue{Text: c.Values[0]}
		}
	}
	for _, l := range w.Links {
		kind, ok := linkKinds[l.Ref]
		if !ok || l.Type != "ticket" {
			continue
		}
		r := adapters.Relation{Kind: kind, Key: string(l.ID)}
		if !hasRelation(is.Relations, r) {
			is.Relations = append(is.Relations, r)
		}
	}
}

func hasRelation(rs []adapters.Relation, r adapters.Relation) bool {
	return slices.ContainsFunc(rs, func(x adapters.Relation) bool { return x.Kind == r.Kind && x.Key == r.Key })
}

// fieldsSet adds to set (and cfs) what p changes of the fields of issue
// 16.
//
// What RT lacks (Lacks) or does not know (a custom field, a duplicates
// link) is skipped with a warning, once, never an error that blocks a
// twin: the type, the reporter, comment and file deletes.
func (t *Tracker) fieldsSet(ctx context.Context, q *queueInfo, cur adapters.Issue, p adapters.Patch, set map[string]any, cfs map[string]string) error {
	if p.Assignee != nil {
		switch {
		case p.Assignee.IsZero():
			if cur.Assignee != nil {
				set["Owner"] = "Nobody"
			}
		case cur.Assignee == nil || !cur.Assignee.Matches(*p.Assignee):
			if userName(*p.Assignee) == "" {
				return fmt.Errorf("assignee %q: RT needs a user name or email: %w", p.Assignee.Label(), adapters.ErrRejected)
			}
			set["Owner"] = userName(*p.Assignee)
		}
	}
	if p.Watchers != nil {
		// A requestor is an email (RT makes a user of it) or the name of
		// a user RT has: RT answers 500 to a name it does not know.
		names := []string{}
		for _, u := range *p.Watchers {
			switch {
			case u.Email != "":
				names = append(names, u.Email)
			case u.Login != "" && t.hasUser(ctx, u.Login):
				names = append(names, u.Login)
			default:
				t.warnOnce("requestor "+u.Label(), fmt.Sprintf("RT has no user %q and no email is known: not a requestor", u.Label()))
			}
		}
		set["Requestor"] = names
	}
	for _, d := range []struct {
		field    string
		now, set *string
	}{{"Due", &cur.Due, p.Due}, {"Starts", &cur.Start, p.Start}} {
		if d.set == nil || *d.set == *d.now {
			continue
		}
		v := *d.set
		if v == "" {
			v = rtNoDate
		}
		set[d.field] = v + " 00:00:00"
	}
	for n, v := range p.Fields {
		if own(n) || !slices.Contains(q.ticketCFs, n) {
			t.warnOnce("cf "+n, fmt.Sprintf("RT queue %s has no ticket custom field %q: its value is not kept", q.name, n))
			continue
		}
		if cur.Fields[n].Equal(v) || (v.IsZero() && cur.Fields[n].IsZero()) {
			continue
		}
		switch {
		case v.Kind == adapters.KindOptions:
			cfs[n] = strings.Join(v.Options, ",")
		case v.User != nil:
			cfs[n] = userName(*v.User)
		default:
			cfs[n] = v.Text
		}
	}
	links := map[string][]int{}
	edit := func(r adapters.Relation, prefix string) error {
		fs := linkFields(r.Kind)
		if fs == nil {
			t.warnOnce("link "+r.Kind, fmt.Sprintf("RT has no %s link (it links depends-on, refers-to and member-of): not kept", r.Kind))
			return nil
		}
		id, err := parseKey(r.Key)
		if err != nil {
			return fmt.Errorf("relation %s: %w", r.Kind, err)
		}
		if prefix == "Add" {
			fs = fs[:1]
		}
		for _, f := range fs {
			links[prefix+f] = append(links[prefix+f], id)
		}
		return nil
	}
	for _, r := range p.RemoveRelations {
		if hasRelation(cur.Relations, r) {
			if err := edit(r, "Delete"); err != nil {
				return err
			}
		}
	}
	for _, r := range p.AddRelations {
		if !hasRelation(cur.Relations, r) {
			if err := edit(r, "Add"); err != nil {
				return err
			}
		}
	}
	for k, v := range links {
		set[k] = v
	}
	return nil
}

// Lacks declares what of the fields of issue 16 RT cannot hold: the
// contract suite skips it with this reason, `tracker check` reports it and
// the rules leave it out.
func (t *Tracker) Lacks() map[adapters.Feature]string {
	return map[adapters.Feature]string{
		adapters.FeatType:          "RT has no issue types (a ticket's kind is its queue)",
		adapters.FeatTypedFields:   "RT's ticket custom fields hold text: a number, date or option lands as its text",
		adapters.FeatReporter:      "RT's REST2 API cannot change a ticket's creator: the reporter is read (Creator), not written",
		adapters.FeatCommentDelete: "RT cannot delete a transaction (a comment) through its API",
		adapters.FeatFileDelete:    "RT cannot delete an attachment through its API",
	}
}
