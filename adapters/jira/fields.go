package jira

// The fields of issue 16 in Jira:
//
//	type        fields.issuetype (by name; new issues: Options.IssueType)
//	assignee,   fields.assignee, fields.reporter: account IDs on Cloud
//	reporter    (User.Login is the accountId), user names on Data Center
//	            (User.Login is the name); a person from elsewhere is found
//	            by GET /user/search (email, login, then display name) and
//	            cached; one Jira does not know is left out with a warning,
//	            never an error that blocks the twin
//	due         fields.duedate (YYYY-MM-DD)
//	custom      every field of GET /field (read once, cached) whose kind
//	            maps, by its name: the system fields Components and Fix
//	            versions (Data Center: Component/s, Fix Version/s) and
//	            Affects versions as options, and the custom fields of
//	            Jira's own types (text field, text area, URL, number, date
//	            picker, select list, radio buttons, multi-select,
//	            checkboxes, labels, user picker)
//	relations   fields.issuelinks of the link types Blocks, Relates and
//	            Duplicate (others are left alone), written with POST
//	            /issueLink and removed with DELETE /issueLink/{id};
//	            fields.parent (a sub-task's parent, or an epic: Jira Cloud
//	            keeps both in parent); children: fields.subtasks, and on
//	            Cloud an epic's children by one search (parent = KEY, epics
//	            only); Data Center's Epic Link (Jira Software) is not mapped
//	deletes     DELETE /issue/{key}/comment/{id}, DELETE /attachment/{id}
//
// A reporter is written only with the Modify reporter permission (asked
// once); without it Jira would refuse the whole edit. Watchers and a start
// date are declared lacking (lacks.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// wireType is an issue type as an issue carries it; HierarchyLevel is
// Cloud's (1: an epic, 0: a standard type, -1: a sub-task).
type wireType struct {
	Name           string `json:"name"`
	Subtask        bool   `json:"subtask"`
	HierarchyLevel int    `json:"hierarchyLevel"`
}

// epicChildren adds to an epic on Jira Cloud its children, which Jira
// does not list in the epic's fields (only sub-tasks are): one search,
// parent = KEY, on epics only. Data Center links epics through the Epic
// Link field of Jira Software, which is not mapped.
func (t *Tracker) epicChildren(ctx context.Context, w wireIssue, is *adapters.Issue) error {
	if !t.cloud || w.Fields.IssueType == nil || w.Fields.IssueType.HierarchyLevel != 1 {
		return nil
	}
	q := fmt.Sprintf(`parent = %s ORDER BY key ASC`, w.Key)
	for tok := ""; ; {
		ws, next, err := t.search(ctx, q, tok, 100)
		if err != nil {
			return fmt.Errorf("jira: the children of epic %s: %w", w.Key, err)
		}
		for _, c := range ws {
			r := adapters.Relation{Kind: adapters.RelChild, Key: c.Key, Summary: c.Fields.Summary}
			if !hasRelation(is.Relations, r) {
				is.Relations = append(is.Relations, r)
			}
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// knownType checks an issue type against the project's (GET /project,
// read once).
func (t *Tracker) knownType(ctx context.Context, typ string) error {
	t.mu.Lock()
	types := t.types
	t.mu.Unlock()
	if types == nil {
		var proj struct {
			IssueTypes []named `json:"issueTypes"`
		}
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-projectidorkey-get
		if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/project/" + t.opts.Project}, &proj); err != nil {
			return fmt.Errorf("jira: read project %s: %w", t.opts.Project, err)
		}
		types = []string{}
		for _, it := range proj.IssueTypes {
			types = append(types, it.Name)
		}
		t.mu.Lock()
		t.types = types
		t.mu.Unlock()
	}
	if len(types) > 0 && !slices.Contains(types, typ) {
		return fmt.Errorf("jira: issue type %q is not one of project %s's (%s); map it with the connection's type_map: %w", typ, t.opts.Project, strings.Join(types, ", "), adapters.ErrRejected)
	}
	return nil
}

// fieldDef is a field as GET /field lists it
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get).
type fieldDef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Custom bool   `json:"custom"`
	Schema struct {
		Type   string `json:"type"`
		Items  string `json:"items"`
		Custom string `json:"custom"`
		System string `json:"system"`
	} `json:"schema"`
	kind string // the adapters.Kind* it maps to
}

// customTypes are the custom field types of Jira's own that map to a kind
// (https://support.atlassian.com/jira-cloud-administration/docs/custom-fields-types-in-company-managed-projects/).
var customTypes = map[string]string{
	"textfield": adapters.KindText, "textarea": adapters.KindText, "url": adapters.KindText,
	"float": adapters.KindNumber, "datepicker": adapters.KindDate,
	"select": adapters.KindOption, "radiobuttons": adapters.KindOption,
	"multiselect": adapters.KindOptions, "multicheckboxes": adapters.KindOptions, "labels": adapters.KindOptions,
	"userpicker": adapters.KindUser,
}

// systemOptions are the system fields kept as options by their names.
var systemOptions = []string{"components", "fixVersions", "versions"}

func kindOfField(d fieldDef) (string, bool) {
	if !d.Custom {
		if slices.Contains(systemOptions, d.ID) {
			return adapters.KindOptions, true
		}
		return "", false
	}
	k, ok := customTypes[strings.TrimPrefix(d.Schema.Custom, "com.atlassian.jira.plugin.system.customfieldtypes:")]
	return k, ok
}

// fieldDefs lists the fields that map, read once (GET /field).
func (t *Tracker) fieldDefs(ctx context.Context) ([]fieldDef, error) {
	t.mu.Lock()
	defs := t.fields
	t.mu.Unlock()
	if defs != nil {
		return defs, nil
	}
	var all []fieldDef
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/field"}, &all); err != nil {
		return nil, fmt.Errorf("jira: list the fields (GET /field): %w", err)
	}
	defs = []fieldDef{}
	for _, d := range all {
		if k, ok := kindOfField(d); ok {
			d.kind = k
			defs = append(defs, d)
		}
	}
	t.mu.Lock()
	t.fields = defs
	t.mu.Unlock()
	return defs, nil
}

func fieldByName(defs []fieldDef, name string) (fieldDef, bool) {
	for _, d := range defs {
		if d.Name == name {
			return d, true
		}
	}
	for _, d := range defs {
		if strings.EqualFold(d.Name, name) {
			return d, true
		}
	}
	return fieldDef{}, false
}

// fieldList is the fields parameter of reads: the adapter's own and every
// field that maps.
func (t *Tracker) fieldList(ctx context.Context) ([]string, error) {
	defs, err := t.fieldDefs(ctx)
	if err != nil {
		return nil, err
	}
	out := strings.Split(issueFields, ",")
	for _, d := range defs {
		if !slices.Contains(out, d.ID) {
			out = append(out, d.ID)
		}
	}
	return out, nil
}

// wireLink is an entry of fields.issuelinks
// (https://developer.atlassian.com/cloud/jira/platform/issue-linking-model/):
// on the issue a link starts from, the other issue is outwardIssue; on
// the issue it leads to, inwardIssue.
type wireLink struct {
	ID   string `json:"id"`
	Type struct {
		Name    string `json:"name"`
		Inward  string `json:"inward"`
		Outward string `json:"outward"`
	} `json:"type"`
	InwardIssue  *wireRef `json:"inwardIssue,omitempty"`
	OutwardIssue *wireRef `json:"outwardIssue,omitempty"`
}

type wireRef struct {
	Key    string `json:"key"`
	Fields struct {
		Summary string `json:"summary"`
	} `json:"fields"`
}

// linkKinds: link type name -> the relation kinds (outward, inward).
var linkKinds = map[string][2]string{
	"Blocks":    {adapters.RelBlocks, adapters.RelBlockedBy},
	"Relates":   {adapters.RelRelates, adapters.RelRelates},
	"Duplicate": {adapters.RelDuplicates, adapters.RelDuplicatedBy},
}

// linkOf is the relation of l, false for link types left alone.
func linkOf(l wireLink) (adapters.Relation, bool) {
	k, ok := linkKinds[l.Type.Name]
	switch {
	case !ok:
		return adapters.Relation{}, false
	case l.OutwardIssue != nil:
		return adapters.Relation{Kind: k[0], Key: l.OutwardIssue.Key, Summary: l.OutwardIssue.Fields.Summary}, true
	case l.InwardIssue != nil:
		return adapters.Relation{Kind: k[1], Key: l.InwardIssue.Key, Summary: l.InwardIssue.Fields.Summary}, true
	}
	return adapters.Relation{}, false
}

// person is u as the replica knows people.
func (t *Tracker) person(u *wireUser) *adapters.User {
	if u == nil {
		return nil
	}
	p := adapters.User{Login: u.Name, Email: u.EmailAddress, Name: u.DisplayName}
	if t.cloud {
		p.Login = u.AccountID
	}
	if p.IsZero() {
		return nil
	}
	return &p
}

// fillFields sets the fields of issue 16 of is from w.
func (t *Tracker) fillFields(is *adapters.Issue, w wireIssue) {
	f := w.Fields
	if f.IssueType != nil {
		is.Type = f.IssueType.Name
	}
	is.Assignee, is.Reporter, is.Due = t.person(f.Assignee), t.person(f.Reporter), f.DueDate
	t.mu.Lock()
	defs := t.fields
	t.mu.Unlock()
	for _, d := range defs {
		raw, ok := f.Raw[d.ID]
		if !ok {
			continue
		}
		if v := t.fieldValue(d, raw); !v.IsZero() {
			if is.Fields == nil {
				is.Fields = map[string]adapters.FieldValue{}
			}
			is.Fields[d.Name] = v
		}
	}
	if f.Parent != nil && f.Parent.Key != "" {
		is.Relations = append(is.Relations, adapters.Relation{Kind: adapters.RelParent, Key: f.Parent.Key, Summary: f.Parent.Fields.Summary})
	}
	for _, l := range f.IssueLinks {
		if r, ok := linkOf(l); ok {
			is.Relations = append(is.Relations, r)
		}
	}
	for _, s := range f.Subtasks {
		is.Relations = append(is.Relations, adapters.Relation{Kind: adapters.RelChild, Key: s.Key, Summary: s.Fields.Summary})
	}
}

// fieldValue is the typed value of field d as Jira gives it.
func (t *Tracker) fieldValue(d fieldDef, raw json.RawMessage) adapters.FieldValue {
	v := adapters.FieldValue{Kind: d.kind}
	if len(raw) == 0 || string(raw) == "null" {
		return v
	}
	switch d.kind {
	case adapters.KindText:
		var rt rawText
		if raw[0] == '"' && !strings.HasSuffix(d.Schema.Custom, ":textarea") {
			_ = jsonUnmarshal(raw, &v.Text) // a one-line field is not markup
		} else if jsonUnmarshal(raw, &rt) == nil {
			v.Text = rt.Text
		}
	case adapters.KindNumber:
		var n float64
		if jsonUnmarshal(raw, &n) == nil {
			v.Text = strconv.FormatFloat(n, 'f', -1, 64)
		}
	case adapters.KindDate:
		_ = jsonUnmarshal(raw, &v.Text)
	case adapters.KindOption:
		var o struct {
			Value string `json:"value"`
		}
		_ = jsonUnmarshal(raw, &o)
		v.Text = o.Value
	case adapters.KindOptions:
		var list []json.RawMessage
		_ = jsonUnmarshal(raw, &list)
		for _, e := range list {
			var s string
			var o struct{ Value, Name string }
			if jsonUnmarshal(e, &s) == nil {
				v.Options = append(v.Options, s)
			} else if jsonUnmarshal(e, &o) == nil {
				v.Options = append(v.Options, o.Value+o.Name)
			}
		}
	case adapters.KindUser:
		var u wireUser
		if jsonUnmarshal(raw, &u) == nil {
			v.User = t.person(&u)
		}
	}
	return v
}

// wireValue is what Jira takes for v in field d (nil clears it).
func (t *Tracker) wireValue(ctx context.Context, d fieldDef, v adapters.FieldValue) (any, error) {
	text := v.Text
	if v.Kind == adapters.KindOptions && d.kind != adapters.KindOptions {
		text = strings.Join(v.Options, ",")
	}
	switch d.kind {
	case adapters.KindOptions:
		opts := v.Options
		if v.Kind != adapters.KindOptions && v.Text != "" {
			opts = strings.Split(v.Text, ",")
		}
		out := []any{}
		for _, o := range opts {
			switch {
			case !d.Custom: // components and versions, by name
				out = append(out, map[string]string{"name": o})
			case d.Schema.Items == "string": // labels
				out = append(out, o)
			default:
				out = append(out, map[string]string{"value": o})
			}
		}
		return out, nil
	case adapters.KindUser:
		if v.User == nil || v.User.IsZero() {
			return nil, nil
		}
		ref, err := t.userRef(ctx, *v.User)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", d.Name, err)
		}
		return ref, nil
	}
	if text == "" {
		return nil, nil
	}
	switch d.kind {
	case adapters.KindNumber:
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("jira: field %q is a number field; %q is not a number: %w", d.Name, text, adapters.ErrRejected)
		}
		return n, nil
	case adapters.KindOption:
		return map[string]string{"value": text}, nil
	}
	if strings.HasSuffix(d.Schema.Custom, ":textarea") {
		return t.body(text), nil
	}
	return text, nil
}

// errUnknownUser: Jira has no user matching a person.
var errUnknownUser = errors.New("not a Jira user")

// userRef is the reference Jira takes for p ({"accountId"} on Cloud,
// {"name"} on Data Center), found by GET /user/search and cached.
func (t *Tracker) userRef(ctx context.Context, p adapters.User) (map[string]string, error) {
	u, err := t.findUser(ctx, p)
	if err != nil {
		return nil, err
	}
	if t.cloud {
		return map[string]string{"accountId": u.AccountID}, nil
	}
	return map[string]string{"name": u.Name}, nil
}

func (t *Tracker) findUser(ctx context.Context, p adapters.User) (wireUser, error) {
	key := p.Email + "\x00" + p.Login + "\x00" + p.Name
	t.mu.Lock()
	u, ok := t.users[key]
	t.mu.Unlock()
	if ok {
		if u == nil {
			return wireUser{}, fmt.Errorf("%q: %w", p.Label(), errUnknownUser)
		}
		return *u, nil
	}
	type query struct{ param, value string }
	var qs []query
	if t.cloud {
		if p.Login != "" {
			qs = append(qs, query{"accountId", p.Login})
		}
		for _, s := range []string{p.Email, p.Name} {
			if s != "" {
				qs = append(qs, query{"query", s})
			}
		}
	} else {
		for _, s := range []string{p.Login, p.Email, p.Name} {
			if s != "" {
				qs = append(qs, query{"username", s})
			}
		}
	}
	var found *wireUser
	for _, q := range qs {
		var list []wireUser
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-user-search/#api-rest-api-3-user-search-get
		// https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/user-findUsers
		if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/user/search", Query: url.Values{q.param: {q.value}, "maxResults": {"20"}}}, &list); err != nil {
			if errors.Is(err, adapters.ErrUnavailable) {
				return wireUser{}, fmt.Errorf("jira: find the user %q: %w", p.Label(), err)
			}
			continue
		}
		for i := range list {
			if w := t.person(&list[i]); w != nil && (w.Matches(p) || (p.Name != "" && strings.EqualFold(w.Name, p.Name))) {
				found = &list[i]
				break
			}
		}
		if found != nil {
			break
		}
	}
	t.mu.Lock()
	t.users[key] = found
	t.mu.Unlock()
	if found == nil {
		return wireUser{}, fmt.Errorf("%q (matched by account ID or user name, email, then display name): %w", p.Label(), errUnknownUser)
	}
	return *found, nil
}

// peoplePatch adds to f the assignee and reporter p changes.
func (t *Tracker) peoplePatch(ctx context.Context, cur adapters.Issue, assignee, reporter *adapters.User, f map[string]any) error {
	for _, x := range []struct {
		field    string
		now, set *adapters.User
	}{{"assignee", cur.Assignee, assignee}, {"reporter", cur.Reporter, reporter}} {
		switch {
		case x.set == nil:
		case x.set.IsZero():
			if x.now != nil && x.field == "assignee" {
				f[x.field] = nil
			}
		case x.now != nil && x.now.Matches(*x.set):
		case x.field == "reporter" && !t.mayModifyReporter(ctx):
			t.warnOnce("reporter permission", fmt.Sprintf("jira: the user lacks the Modify reporter permission in project %s: reporters are not written", t.opts.Project))
		default:
			ref, err := t.userRef(ctx, *x.set)
			if errors.Is(err, errUnknownUser) {
				// Not fatal: the twin must not block on a person Jira does
				// not know (the rules keep the name visible).
				t.warnOnce(x.field+" "+x.set.Label(), fmt.Sprintf("jira: %s: %v; the %s is left as it is", x.field, err, x.field))
				continue
			}
			if err != nil {
				return err
			}
			f[x.field] = ref
		}
	}
	return nil
}

// mayModifyReporter asks once whether the user may set reporters
// (MODIFY_REPORTER; without it Jira refuses the whole create or edit).
func (t *Tracker) mayModifyReporter(ctx context.Context) bool {
	t.mu.Lock()
	may := t.reporterOK
	t.mu.Unlock()
	if may != nil {
		return *may
	}
	var perms struct {
		Permissions map[string]struct {
			Have bool `json:"havePermission"`
		} `json:"permissions"`
	}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/mypermissions",
		Query: url.Values{"projectKey": {t.opts.Project}, "permissions": {"MODIFY_REPORTER"}}}, &perms); err != nil {
		return true // not known: let Jira say
	}
	ok := perms.Permissions["MODIFY_REPORTER"].Have
	t.mu.Lock()
	t.reporterOK = &ok
	t.mu.Unlock()
	return ok
}

// fieldsPatch adds to f what p changes of the fields of issue 16 that the
// issue edit takes: people, type, due date, custom fields and the parent.
func (t *Tracker) fieldsPatch(ctx context.Context, cur adapters.Issue, p adapters.Patch, f map[string]any) error {
	if err := t.peoplePatch(ctx, cur, p.Assignee, p.Reporter, f); err != nil {
		return err
	}
	if p.Type != nil && *p.Type != "" && *p.Type != cur.Type {
		if err := t.knownType(ctx, *p.Type); err != nil {
			return err
		}
		f["issuetype"] = map[string]string{"name": *p.Type}
	}
	if p.Due != nil && *p.Due != cur.Due {
		if *p.Due == "" {
			f["duedate"] = nil
		} else {
			f["duedate"] = *p.Due
		}
	}
	if len(p.Fields) > 0 {
		defs, err := t.fieldDefs(ctx)
		if err != nil {
			return err
		}
		for _, n := range slices.Sorted(maps.Keys(p.Fields)) {
			v := p.Fields[n]
			d, ok := fieldByName(defs, n)
			if !ok {
				t.warnOnce("cf "+n, fmt.Sprintf("jira: the project has no field %q of a kind issuemesh maps: its value is not kept", n))
				continue
			}
			if c := cur.Fields[d.Name]; c.Equal(v) || (v.IsZero() && c.IsZero()) {
				continue
			}
			wv, err := t.wireValue(ctx, d, v)
			if errors.Is(err, errUnknownUser) {
				t.warnOnce("cf "+n+" "+v.User.Label(), fmt.Sprintf("jira: %v; the field is left as it is", err))
				continue
			}
			if err != nil {
				return err
			}
			f[d.ID] = wv
		}
	}
	for _, r := range p.RemoveRelations {
		if r.Kind == adapters.RelParent && hasRelation(cur.Relations, r) {
			f["parent"] = nil
		}
	}
	for _, r := range p.AddRelations {
		if r.Kind == adapters.RelParent && !hasRelation(cur.Relations, r) {
			if !keyRE.MatchString(r.Key) {
				return fmt.Errorf("jira: parent %q is not an issue key: %w", r.Key, adapters.ErrRejected)
			}
			f["parent"] = map[string]string{"key": r.Key}
		}
	}
	return nil
}

func hasRelation(rs []adapters.Relation, r adapters.Relation) bool {
	return slices.ContainsFunc(rs, func(x adapters.Relation) bool { return x.Kind == r.Kind && x.Key == r.Key })
}

// applyAfter makes the changes of p that have their own requests: links,
// children, comment and file deletes.
func (t *Tracker) applyAfter(ctx context.Context, key string, w wireIssue, cur adapters.Issue, p adapters.Patch) error {
	do := func(method, path string, body any) error {
		_, err := t.c.Do(ctx, rest.Request{Method: method, Path: path, Body: body, Idempotent: method != http.MethodPost}, nil)
		if method == http.MethodDelete && errors.Is(err, adapters.ErrNotFound) {
			return nil // gone already
		}
		return err
	}
	for _, r := range p.RemoveRelations {
		switch r.Kind {
		case adapters.RelParent:
		case adapters.RelChild:
			if hasRelation(cur.Relations, r) {
				if err := do(http.MethodPut, t.api+"/issue/"+url.PathEscape(r.Key), map[string]any{"fields": map[string]any{"parent": nil}}); err != nil {
					return fmt.Errorf("jira: %s: remove the sub-task %s: %w", key, r.Key, err)
				}
			}
		default:
			for _, l := range w.Fields.IssueLinks {
				if rel, ok := linkOf(l); ok && rel.Kind == r.Kind && rel.Key == r.Key {
					// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-links/#api-rest-api-3-issuelink-linkid-delete
					if err := do(http.MethodDelete, t.api+"/issueLink/"+url.PathEscape(l.ID), nil); err != nil {
						return fmt.Errorf("jira: %s: remove the link %s %s: %w", key, r.Kind, r.Key, err)
					}
				}
			}
		}
	}
	for _, r := range p.AddRelations {
		if hasRelation(cur.Relations, r) || r.Kind == adapters.RelParent {
			continue
		}
		if !keyRE.MatchString(r.Key) {
			return fmt.Errorf("jira: %s: relation %s: %q is not an issue key: %w", key, r.Kind, r.Key, adapters.ErrRejected)
		}
		if r.Kind == adapters.RelChild {
			if err := do(http.MethodPut, t.api+"/issue/"+url.PathEscape(r.Key), map[string]any{"fields": map[string]any{"parent": map[string]string{"key": key}}}); err != nil {
				return fmt.Errorf("jira: %s: make %s its child: %w", key, r.Key, err)
			}
			continue
		}
		from, to, name := key, r.Key, ""
		for n, k := range linkKinds {
			switch r.Kind {
			case k[0]:
				name = n
			case k[1]:
				name, from, to = n, r.Key, key
			}
		}
		if name == "" {
			return fmt.Errorf("jira: %s: relation kind %q is not one Jira holds: %w", key, r.Kind, adapters.ErrRejected)
		}
		// The link starts at from (its outwardIssue in the request) and
		// leads to to (inwardIssue).
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-links/#api-rest-api-3-issuelink-post
		body := map[string]any{"type": map[string]string{"name": name}, "outwardIssue": map[string]string{"key": from}, "inwardIssue": map[string]string{"key": to}}
		if err := do(http.MethodPost, t.api+"/issueLink", body); err != nil {
			return fmt.Errorf("jira: %s: link %s %s: %w", key, r.Kind, r.Key, err)
		}
	}
	for _, id := range p.DeleteComments {
		if !slices.ContainsFunc(cur.Comments, func(c adapters.Comment) bool { return c.ID == id }) {
			continue
		}
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-id-delete
		if err := do(http.MethodDelete, t.api+"/issue/"+url.PathEscape(key)+"/comment/"+url.PathEscape(id), nil); err != nil {
			return fmt.Errorf("jira: %s: delete comment %s: %w", key, id, err)
		}
	}
	for _, id := range p.DeleteAttachments {
		if !slices.ContainsFunc(cur.Attachments, func(a adapters.Attachment) bool { return a.ID == id }) {
			continue
		}
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-attachments/#api-rest-api-3-attachment-id-delete
		if err := do(http.MethodDelete, t.api+"/attachment/"+url.PathEscape(id), nil); err != nil {
			return fmt.Errorf("jira: %s: delete file %s: %w", key, id, err)
		}
	}
	return nil
}

// warnOnce logs msg the first time what happens.
func (t *Tracker) warnOnce(what, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.warned[what] {
		t.warned[what] = true
		t.log.Warn(msg)
	}
}
