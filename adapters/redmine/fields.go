package redmine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// The fields of issue 16 in Redmine:
//
//	assignee   assigned_to (a user; login, name and mail from /users.json)
//	reporter   author (read only: Redmine's API cannot set it)
//	watchers   /issues/ID/watchers.json
//	type       the tracker (the same as Extra["tracker"])
//	due, start due_date, start_date
//	custom     every issue custom field but the adapter's own, by name,
//	           typed by its format (string, text, link, bool: text; int,
//	           float: number; date; list: option or options; user)
//	relations  /issues/ID/relations.json: blocks, relates, duplicates and
//	           their reverses ("precedes", "follows" and "copied" are left
//	           alone); parent and children through parent_issue_id
//	deletes    a comment is deleted by editing its note to nothing (Redmine
//	           drops such a journal); a file by DELETE /attachments/ID.json

type wireRelation struct {
	ID      int    `json:"id"`
	IssueID int    `json:"issue_id"`
	ToID    int    `json:"issue_to_id"`
	Type    string `json:"relation_type"`
}

// cfDef is an issue custom field as /custom_fields.json defines it.
type cfDef struct {
	ID       int
	Name     string
	Format   string
	Multiple bool
}

// user is a Redmine user as /users.json lists it.
type user struct {
	ID        int    `json:"id"`
	Login     string `json:"login"`
	Firstname string `json:"firstname"`
	Lastname  string `json:"lastname"`
	Mail      string `json:"mail"`
}

func (u user) person() adapters.User {
	return adapters.User{Login: u.Login, Email: u.Mail, Name: strings.TrimSpace(u.Firstname + " " + u.Lastname)}
}

// loadUsers lists the active users (administrators only; without the
// right people are known by their display names only).
func (t *Tracker) loadUsers(ctx context.Context, nc *nameCache) error {
	for offset := 0; ; {
		var list struct {
			Users []user `json:"users"`
			Total int    `json:"total_count"`
		}
		err := t.get(ctx, "/users.json", url.Values{"limit": {"100"}, "offset": {strconv.Itoa(offset)}}, &list)
		if err != nil {
			if isClass(err, adapters.ClassPermission) || errors.Is(err, adapters.ErrRejected) || errors.Is(err, adapters.ErrNotFound) {
				return nil
			}
			return err
		}
		nc.users = append(nc.users, list.Users...)
		offset += len(list.Users)
		if len(list.Users) == 0 || offset >= list.Total {
			return nil
		}
	}
}

// person is the user of ref r.
func (nc *nameCache) person(r *ref) *adapters.User {
	if r == nil || r.ID == 0 {
		return nil
	}
	if nc != nil {
		for _, u := range nc.users {
			if u.ID == r.ID {
				p := u.person()
				return &p
			}
		}
	}
	return &adapters.User{Name: r.Name}
}

// userID finds the Redmine user matching p: by email or login, else by
// display name.
func (nc *nameCache) userID(p adapters.User) (int, error) {
	for _, u := range nc.users {
		if p.Matches(u.person()) {
			return u.ID, nil
		}
	}
	for _, u := range nc.users {
		if p.Name != "" && strings.EqualFold(p.Name, u.person().Name) {
			return u.ID, nil
		}
	}
	return 0, fmt.Errorf("%q is not a Redmine user (matched by mail, login or name): %w", p.Label(), adapters.ErrRejected)
}

func (nc *nameCache) knows(p adapters.User) bool {
	_, err := nc.userID(p)
	return err == nil
}

// warnOnce logs msg the first time what happens.
func (t *Tracker) warnOnce(what, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.warned == nil {
		t.warned = map[string]bool{}
	}
	if !t.warned[what] {
		t.warned[what] = true
		t.log.Warn(msg)
	}
}

func (nc *nameCache) cfByName(name string) (cfDef, bool) {
	for _, d := range nc.cfs {
		if d.Name == name {
			return d, true
		}
	}
	return cfDef{}, false
}

func (nc *nameCache) own(id int) bool {
	return id != 0 && (id == nc.twinCF || id == nc.labelsCF || id == nc.markerCF)
}

func kindOf(d cfDef) string {
	switch d.Format {
	case "int", "float":
		return adapters.KindNumber
	case "date":
		return adapters.KindDate
	case "list", "enumeration", "version":
		if d.Multiple {
			return adapters.KindOptions
		}
		return adapters.KindOption
	case "user":
		return adapters.KindUser
	}
	return adapters.KindText
}

// fieldValue is the typed value of a custom field as Redmine gives it.
func (nc *nameCache) fieldValue(d cfDef, v any) adapters.FieldValue {
	fv := adapters.FieldValue{Kind: kindOf(d)}
	var list []string
	switch x := v.(type) {
	case string:
		if x != "" {
			list = []string{x}
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				list = append(list, s)
			}
		}
	}
	switch fv.Kind {
	case adapters.KindOptions:
		fv.Options = list
	case adapters.KindUser:
		if len(list) > 0 {
			id, _ := strconv.Atoi(list[0])
			fv.User = nc.person(&ref{ID: id, Name: list[0]})
		}
	default:
		fv.Text = strings.Join(list, ",")
	}
	return fv
}

// wireValue is what Redmine takes for v in field d.
func (nc *nameCache) wireValue(d cfDef, v adapters.FieldValue) (any, error) {
	switch kindOf(d) {
	case adapters.KindOptions:
		if v.Options == nil {
			return []string{}, nil
		}
		return v.Options, nil
	case adapters.KindUser:
		if v.User == nil || v.User.IsZero() {
			return "", nil
		}
		id, err := nc.userID(*v.User)
		if err != nil {
			return nil, fmt.Errorf("custom field %q: %w", d.Name, err)
		}
		return strconv.Itoa(id), nil
	}
	if v.Kind == adapters.KindOptions {
		return strings.Join(v.Options, ","), nil
	}
	return v.Text, nil
}

// relationOf is r as seen from issue id, false for kinds left alone.
func relationOf(r wireRelation, id int) (adapters.Relation, bool) {
	fwd := map[string]string{"blocks": adapters.RelBlocks, "blocked": adapters.RelBlockedBy, "relates": adapters.RelRelates,
		"duplicates": adapters.RelDuplicates, "duplicated": adapters.RelDuplicatedBy}
	kind, ok := fwd[r.Type]
	if !ok {
		return adapters.Relation{}, false
	}
	other := r.ToID
	if r.ToID == id && r.IssueID != id {
		other = r.IssueID
		kind = reverse(kind)
	}
	return adapters.Relation{Kind: kind, Key: strconv.Itoa(other)}, true
}

func reverse(kind string) string {
	switch kind {
	case adapters.RelBlocks:
		return adapters.RelBlockedBy
	case adapters.RelBlockedBy:
		return adapters.RelBlocks
	case adapters.RelDuplicates:
		return adapters.RelDuplicatedBy
	case adapters.RelDuplicatedBy:
		return adapters.RelDuplicates
	case adapters.RelParent:
		return adapters.RelChild
	case adapters.RelChild:
		return adapters.RelParent
	}
	return kind
}

// wireKind is the relation_type Redmine takes for kind, "" for none.
func wireKind(kind string) string {
	return map[string]string{adapters.RelBlocks: "blocks", adapters.RelBlockedBy: "blocked", adapters.RelRelates: "relates",
		adapters.RelDuplicates: "duplicates", adapters.RelDuplicatedBy: "duplicated"}[kind]
}

// fillFields sets the fields of issue 16 of is from w.
func fillFields(is *adapters.Issue, w *wireIssue, nc *nameCache) {
	is.Assignee = nc.person(w.AssignedTo)
	is.Reporter = nc.person(w.Author)
	for _, r := range w.Watchers {
		if p := nc.person(&r); p != nil {
			is.Watchers = append(is.Watchers, *p)
		}
	}
	if w.Tracker != nil {
		is.Type = w.Tracker.Name
	}
	if w.DueDate != nil {
		is.Due = *w.DueDate
	}
	if w.StartDate != nil {
		is.Start = *w.StartDate
	}
	if nc != nil {
		for _, cv := range w.CustomFields {
			if nc.own(cv.ID) {
				continue
			}
			d, ok := nc.cfByName(cv.Name)
			if !ok {
				d = cfDef{ID: cv.ID, Name: cv.Name}
			}
			if v := nc.fieldValue(d, cv.Value); !v.IsZero() {
				if is.Fields == nil {
					is.Fields = map[string]adapters.FieldValue{}
				}
				is.Fields[cv.Name] = v
			}
		}
	}
	if w.Parent != nil && w.Parent.ID != 0 {
		is.Relations = append(is.Relations, adapters.Relation{Kind: adapters.RelParent, Key: strconv.Itoa(w.Parent.ID)})
	}
	for _, r := range w.Relations {
		if rel, ok := relationOf(r, w.ID); ok {
			is.Relations = append(is.Relations, rel)
		}
	}
	for _, c := range w.Children {
		is.Relations = append(is.Relations, adapters.Relation{Kind: adapters.RelChild, Key: strconv.Itoa(c.ID), Summary: c.Subject})
	}
}

// fieldsPatch adds to f (and cfs) what p changes of the fields of issue 16.
func (t *Tracker) fieldsPatch(nc *nameCache, cur adapters.Issue, p adapters.Patch, f fields, cfs *[]map[string]any) error {
	if p.Assignee != nil {
		switch {
		case !p.Assignee.IsZero() && !nc.knows(*p.Assignee):
			// Not fatal: the twin must not block on a person Redmine
			// does not know (the rules keep the name visible).
			t.warnOnce("assignee "+p.Assignee.Label(), fmt.Sprintf("Redmine has no user %q: the assignee is left as it is", p.Assignee.Label()))
		case p.Assignee.IsZero():
			if cur.Assignee != nil {
				f["assigned_to_id"] = ""
			}
		case cur.Assignee == nil || !cur.Assignee.Matches(*p.Assignee):
			id, err := nc.userID(*p.Assignee)
			if err != nil {
				return fmt.Errorf("assignee: %w", err)
			}
			f["assigned_to_id"] = id
		}
	}
	for _, d := range []struct {
		field    string
		now, set *string
	}{{"due_date", &cur.Due, p.Due}, {"start_date", &cur.Start, p.Start}} {
		if d.set != nil && *d.set != *d.now {
			f[d.field] = *d.set
		}
	}
	names := make([]string, 0, len(p.Fields))
	for n := range p.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := p.Fields[n]
		d, ok := nc.cfByName(n)
		if !ok || nc.own(d.ID) {
			t.warnOnce("cf "+n, fmt.Sprintf("Redmine has no issue custom field %q: its value is not kept", n))
			continue
		}
		if cur.Fields[n].Equal(v) || (v.IsZero() && cur.Fields[n].IsZero()) {
			continue
		}
		wv, err := nc.wireValue(d, v)
		if err != nil {
			return err
		}
		*cfs = append(*cfs, map[string]any{"id": d.ID, "value": wv})
	}
	for _, r := range p.RemoveRelations {
		if r.Kind == adapters.RelParent && slices.Contains(cur.Relations, adapters.Relation{Kind: r.Kind, Key: r.Key}) {
			f["parent_issue_id"] = ""
		}
	}
	for _, r := range p.AddRelations {
		if r.Kind == adapters.RelParent && !hasRelation(cur.Relations, r) {
			id, err := parseKey(r.Key)
			if err != nil {
				return fmt.Errorf("parent: %w", err)
			}
			f["parent_issue_id"] = id
		}
	}
	return nil
}

func hasRelation(rs []adapters.Relation, r adapters.Relation) bool {
	return slices.ContainsFunc(rs, func(x adapters.Relation) bool { return x.Kind == r.Kind && x.Key == r.Key })
}

// applyAfter makes the changes of p that have their own requests:
// relations other than a parent, comment and file deletes, watchers.
func (t *Tracker) applyAfter(ctx context.Context, nc *nameCache, w *wireIssue, cur adapters.Issue, p adapters.Patch) (bool, error) {
	sent := false
	do := func(method, path string, body any) error {
		sent = true
		_, err := t.c.Do(ctx, rest.Request{Method: method, Path: path, Body: body, Idempotent: method != http.MethodPost}, nil)
		if method == http.MethodDelete && errors.Is(err, adapters.ErrNotFound) {
			return nil
		}
		return err
	}
	for _, r := range p.RemoveRelations {
		switch r.Kind {
		case adapters.RelParent:
		case adapters.RelChild:
			if hasRelation(cur.Relations, r) {
				if err := do(http.MethodPut, "/issues/"+r.Key+".json", map[string]any{"issue": map[string]any{"parent_issue_id": ""}}); err != nil {
					return sent, fmt.Errorf("remove child %s: %w", r.Key, err)
				}
			}
		default:
			for _, wr := range w.Relations {
				if rel, ok := relationOf(wr, w.ID); ok && rel.Kind == r.Kind && rel.Key == r.Key {
					if err := do(http.MethodDelete, fmt.Sprintf("/relations/%d.json", wr.ID), nil); err != nil {
						return sent, fmt.Errorf("remove relation %s %s: %w", r.Kind, r.Key, err)
					}
				}
			}
		}
	}
	for _, r := range p.AddRelations {
		if hasRelation(cur.Relations, r) || r.Kind == adapters.RelParent {
			continue
		}
		other, err := parseKey(r.Key)
		if err != nil {
			return sent, fmt.Errorf("relation %s: %w", r.Kind, err)
		}
		if r.Kind == adapters.RelChild {
			if err := do(http.MethodPut, fmt.Sprintf("/issues/%d.json", other), map[string]any{"issue": map[string]any{"parent_issue_id": w.ID}}); err != nil {
				return sent, fmt.Errorf("add child %d: %w", other, err)
			}
			continue
		}
		kind := wireKind(r.Kind)
		if kind == "" {
			return sent, fmt.Errorf("relation kind %q is not one Redmine holds: %w", r.Kind, adapters.ErrRejected)
		}
		body := map[string]any{"relation": map[string]any{"issue_to_id": other, "relation_type": kind}}
		if err := do(http.MethodPost, fmt.Sprintf("/issues/%d/relations.json", w.ID), body); err != nil {
			return sent, fmt.Errorf("add relation %s %d: %w", r.Kind, other, err)
		}
	}
	for _, id := range p.DeleteComments {
		if !slices.ContainsFunc(cur.Comments, func(c adapters.Comment) bool { return c.ID == id }) {
			continue // gone already
		}
		body := map[string]any{"journal": map[string]any{"notes": ""}}
		if err := do(http.MethodPut, "/journals/"+url.PathEscape(id)+".json", body); err != nil {
			return sent, fmt.Errorf("delete comment %s: %w", id, err)
		}
	}
	for _, id := range p.DeleteAttachments {
		if !slices.ContainsFunc(cur.Attachments, func(a adapters.Attachment) bool { return a.ID == id }) {
			continue
		}
		if err := do(http.MethodDelete, "/attachments/"+url.PathEscape(id)+".json", nil); err != nil {
			return sent, fmt.Errorf("delete file %s: %w", id, err)
		}
	}
	// Watchers last: Redmine may make the key's user a watcher of an
	// issue it changes (the user's "auto watch" preference).
	if p.Watchers != nil {
		var want []int
		for _, u := range *p.Watchers {
			id, err := nc.userID(u)
			if err != nil {
				t.warnOnce("watcher "+u.Label(), fmt.Sprintf("Redmine has no user %q: not a watcher", u.Label()))
				continue
			}
			want = append(want, id)
		}
		for _, r := range w.Watchers {
			if !slices.Contains(want, r.ID) {
				if err := do(http.MethodDelete, fmt.Sprintf("/issues/%d/watchers/%d.json", w.ID, r.ID), nil); err != nil {
					return sent, fmt.Errorf("remove watcher %d: %w", r.ID, err)
				}
			}
		}
		for _, id := range want {
			if !slices.ContainsFunc(w.Watchers, func(r ref) bool { return r.ID == id }) {
				if err := do(http.MethodPost, fmt.Sprintf("/issues/%d/watchers.json", w.ID), map[string]any{"user_id": id}); err != nil {
					return sent, fmt.Errorf("add watcher %d: %w", id, err)
				}
			}
		}
	}
	return sent, nil
}
