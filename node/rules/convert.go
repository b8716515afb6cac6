package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// Conversions between the Starlark values of a run and Go values, and the
// results of runs.

// stringList converts a list, tuple or set of strings.
func stringList(what string, x starlark.Value) ([]string, error) {
	switch x.(type) {
	case *starlark.List, starlark.Tuple, *starlark.Set:
	default:
		return nil, fmt.Errorf("%s must be a list of strings, got %s", what, x.Type())
	}
	seq := x.(starlark.Iterable)
	out := make([]string, 0, starlark.Len(x))
	it := seq.Iterate()
	defer it.Done()
	var e starlark.Value
	for i := 0; it.Next(&e); i++ {
		s, ok := e.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("%s[%d] must be a string, got %s", what, i, e.Type())
		}
		out = append(out, string(s))
	}
	return out, nil
}

// sequence returns the elements of a list or tuple.
func sequence(what string, x starlark.Value) ([]starlark.Value, error) {
	switch x := x.(type) {
	case *starlark.List:
		out := make([]starlark.Value, x.Len())
		for i := range out {
			out[i] = x.Index(i)
		}
		return out, nil
	case starlark.Tuple:
		return x, nil
	}
	return nil, fmt.Errorf("%s must be a list of comments, got %s", what, x.Type())
}

// fieldValue converts a replica field set by an outgoing rule.
func fieldValue(name string, x starlark.Value) (replica.Value, error) {
	what := "replica." + name
	if !isIdent(name) {
		what = fmt.Sprintf("replica[%q]", name)
	}
	switch name {
	case replica.FieldSummary, replica.FieldDescription, replica.FieldStatus, replica.FieldPriority:
		s, ok := x.(starlark.String)
		if !ok {
			return replica.Value{}, fmt.Errorf("%s must be a string, got %s", what, x.Type())
		}
		return replica.Value{S: string(s)}, nil
	case replica.FieldLabels:
		l, err := stringList(what, x)
		if err != nil {
			return replica.Value{}, err
		}
		if len(l) == 0 {
			return replica.Value{}, nil
		}
		slices.Sort(l)
		return replica.Value{L: l}, nil
	}
	if v, ok, err := outgoingFieldValue(what, name, x); ok { // starfields.go
		return v, err
	}
	if s, ok := x.(starlark.String); ok {
		return replica.Value{S: string(s)}, nil
	}
	switch x.(type) {
	case *starlark.List, starlark.Tuple, *starlark.Set:
		l, err := stringList(what, x)
		if len(l) == 0 {
			l = nil
		}
		return replica.Value{L: l}, err
	}
	return replica.Value{}, fmt.Errorf("%s must be a string or a list of strings, got %s", what, x.Type())
}

func isIdent(s string) bool {
	for i, r := range s {
		if r != '_' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && (i == 0 || !('0' <= r && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// commentFields are the keys of a comment written as a dict.
type commentFields struct {
	id, syncID, author, body string
	created                  int64
	internal                 bool
}

const commentDictKeys = "id, sync_id, author, body, created, internal"

func dictComment(what string, d *starlark.Dict) (commentFields, error) {
	var f commentFields
	for _, kv := range d.Items() {
		k, ok := starlark.AsString(kv[0])
		if !ok {
			return f, fmt.Errorf("%s: a comment's keys are strings, got %s", what, kv[0].Type())
		}
		var err error
		switch k {
		case "id":
			err = asString(&f.id, kv[1])
		case "sync_id":
			err = asString(&f.syncID, kv[1])
		case "author":
			err = asString(&f.author, kv[1])
		case "body":
			err = asString(&f.body, kv[1])
		case "created":
			if kv[1] != starlark.None {
				err = starlark.AsInt(kv[1], &f.created)
			}
		case "internal":
			b, ok := kv[1].(starlark.Bool)
			if !ok {
				err = fmt.Errorf("got %s, want True or False", kv[1].Type())
			}
			f.internal = bool(b)
		default:
			return f, fmt.Errorf("%s: a comment has no key %q (its keys are %s)", what, k, commentDictKeys)
		}
		if err != nil {
			return f, fmt.Errorf("%s[%q]: %w", what, k, err)
		}
	}
	return f, nil
}

func asString(dst *string, x starlark.Value) error {
	if x == starlark.None {
		return nil
	}
	s, ok := x.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s, want a string", x.Type())
	}
	*dst = string(s)
	return nil
}

// replicaComments converts the comments an outgoing rule shares. A comment
// from issue.comments leaves with its global ID, as in the default rule.
func replicaComments(what string, x starlark.Value) ([]replica.Comment, error) {
	elems, err := sequence(what, x)
	if err != nil {
		return nil, err
	}
	out := make([]replica.Comment, 0, len(elems))
	for i, e := range elems {
		ew := fmt.Sprintf("%s[%d]", what, i)
		switch c := e.(type) {
		case *commentValue:
			if c.gid == "" {
				return nil, fmt.Errorf("%s is a comment the tracker has not stored yet: it has no ID to share it with", ew)
			}
			out = append(out, replica.Comment{ID: c.gid, Author: c.c.Author, Body: c.c.Body, Created: c.c.Created.UnixMilli(), Internal: c.c.Internal})
		case *replicaCommentValue:
			rc := c.c
			rc.Clock = replica.Clock{}
			out = append(out, rc)
		case *starlark.Dict:
			f, err := dictComment(ew, c)
			if err != nil {
				return nil, err
			}
			id := f.id
			if id == "" {
				id = f.syncID
			} else if f.syncID != "" && f.syncID != id {
				return nil, fmt.Errorf("%s: id %q and sync_id %q differ; a shared comment has one global ID", ew, f.id, f.syncID)
			}
			if id == "" {
				return nil, fmt.Errorf("%s needs an \"id\": a global ID that stays the same for this comment, e.g. c.sync_id", ew)
			}
			out = append(out, replica.Comment{ID: id, Author: f.author, Body: f.body, Created: f.created, Internal: f.internal})
		default:
			return nil, fmt.Errorf("%s must be a comment (from issue.comments) or a dict, got %s", ew, e.Type())
		}
	}
	return out, nil
}

// buildReplica converts what an outgoing rule set.
func (s *Set) buildReplica(rb *outReplica) (replica.Replica, error) {
	var r replica.Replica
	for _, name := range slices.Sorted(maps.Keys(rb.fields)) {
		v, err := fieldValue(name, rb.fields[name])
		if err != nil {
			return replica.Replica{}, fmt.Errorf("after the rule ran: %w", err)
		}
		r.Set(name, v)
	}
	if rb.comments != nil {
		cs, err := replicaComments("replica.comments", rb.comments)
		if err != nil {
			return replica.Replica{}, fmt.Errorf("after the rule ran: %w", err)
		}
		if len(cs) > 0 {
			r.Comments = cs
		}
	}
	if rb.files != nil {
		fs, err := outgoingFileValues("replica.attachments", rb.files)
		if err != nil {
			return replica.Replica{}, fmt.Errorf("after the rule ran: %w", err)
		}
		r.Attachments = s.outgoingFiles(adapters.Issue{Attachments: fs})
	}
	return r, nil
}

// issueComments converts the comments of an incoming rule's issue.
func (v *inIssue) issueComments(x starlark.Value) ([]adapters.Comment, error) {
	elems, err := sequence("issue.comments", x)
	if err != nil {
		return nil, err
	}
	out := make([]adapters.Comment, 0, len(elems))
	for i, e := range elems {
		c, err := v.issueComment(fmt.Sprintf("issue.comments[%d]", i), e)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (v *inIssue) issueComment(what string, e starlark.Value) (adapters.Comment, error) {
	switch c := e.(type) {
	case *commentValue:
		return c.c, nil
	case *replicaCommentValue:
		return incomingComment(v.peerName, c.c), nil
	case *starlark.Dict:
		f, err := dictComment(what, c)
		if err != nil {
			return adapters.Comment{}, err
		}
		return adapters.Comment{ID: f.id, SyncID: f.syncID, Author: f.author, Body: f.body, Created: fromMillis(f.created), Internal: f.internal}, nil
	}
	return adapters.Comment{}, fmt.Errorf("%s must be a comment or a dict, got %s", what, e.Type())
}

func extraMap(d *starlark.Dict) (map[string]string, error) {
	if d.Len() == 0 {
		return nil, nil
	}
	m := make(map[string]string, d.Len())
	for _, kv := range d.Items() {
		k, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("issue.extra keys must be strings, got %s", kv[0].Type())
		}
		s, ok := kv[1].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("issue.extra[%q] must be a string, got %s", k, kv[1].Type())
		}
		m[k] = string(s)
	}
	return m, nil
}

// toIssue converts the issue as an incoming rule left it.
func (v *inIssue) toIssue() (adapters.Issue, error) {
	is := adapters.Issue{
		Key: v.key, Created: v.created, Updated: v.updated,
		Summary: string(v.scalars[0]), Description: string(v.scalars[1]),
		Status: string(v.scalars[2]), Priority: string(v.scalars[3]),
	}
	var err error
	if is.Labels, err = stringList("issue.labels", v.labels); err != nil {
		return is, err
	}
	if len(is.Labels) == 0 {
		is.Labels = nil
	}
	if is.Extra, err = extraMap(v.extra); err != nil {
		return is, err
	}
	if is.Comments, err = v.issueComments(v.comments); err != nil {
		return is, err
	}
	if len(is.Comments) == 0 {
		is.Comments = nil
	}
	return is, v.f16.toIssue(&is)
}

// diff turns the issue an incoming rule left into a Result: the issue to
// create on the first sync, otherwise the patch from before to it.
func (s *Set) diff(before *adapters.Issue, ib *inIssue) (Result, error) {
	after, err := ib.toIssue()
	if err != nil {
		return Result{}, fmt.Errorf("after the rule ran: %w", err)
	}
	if before == nil {
		after.Key = ""
		for i := range after.Comments {
			after.Comments[i].ID = "" // the tracker assigns them
		}
		attach, err := ib.attachDiff()
		return Result{Create: &after, Attach: attach}, err
	}
	var p adapters.Patch
	setIfChanged := func(dst **string, old, cur string) {
		if old != cur {
			c := cur
			*dst = &c
		}
	}
	setIfChanged(&p.Summary, before.Summary, after.Summary)
	setIfChanged(&p.Description, before.Description, after.Description)
	setIfChanged(&p.Status, before.Status, after.Status)
	setIfChanged(&p.Priority, before.Priority, after.Priority)
	if !slices.Equal(sortedCopy(before.Labels), sortedCopy(after.Labels)) {
		l := slices.Clone(after.Labels)
		p.Labels = &l
	}
	for k, v := range after.Extra {
		if old, ok := before.Extra[k]; !ok || old != v {
			if p.Extra == nil {
				p.Extra = make(map[string]string)
			}
			p.Extra[k] = v
		}
	}
	for k := range before.Extra {
		if _, ok := after.Extra[k]; !ok {
			if p.Extra == nil {
				p.Extra = make(map[string]string)
			}
			p.Extra[k] = ""
		}
	}

	byID := make(map[string]adapters.Comment, len(before.Comments))
	byGID := make(map[string]adapters.Comment, len(before.Comments))
	for _, c := range before.Comments {
		byID[c.ID] = c
		byGID[commentSyncID(s.self, c)] = c
	}
	edited := map[string]int{} // comment ID -> index in p.EditComments
	added := map[string]bool{} // sync IDs added
	edit := func(existing adapters.Comment, body string) {
		if j, ok := edited[existing.ID]; ok {
			p.EditComments[j].Body = body
			return
		}
		if existing.Body == body {
			return
		}
		edited[existing.ID] = len(p.EditComments)
		p.EditComments = append(p.EditComments, adapters.Comment{ID: existing.ID, Body: body, Internal: existing.Internal})
	}
	for i, c := range after.Comments {
		if c.ID != "" {
			existing, ok := byID[c.ID]
			if !ok {
				return Result{}, fmt.Errorf("after the rule ran: issue.comments[%d] has id %q, which no comment of %s has (a new comment has no id)", i, c.ID, before.Key)
			}
			edit(existing, c.Body)
			continue
		}
		if c.SyncID != "" {
			if existing, ok := byGID[c.SyncID]; ok {
				edit(existing, c.Body)
				continue
			}
			if added[c.SyncID] {
				continue
			}
			added[c.SyncID] = true
		}
		p.AddComments = append(p.AddComments, c)
	}
	diffFields(*before, after, &p) // infields.go
	// Edits back to the current body cancel out.
	p.EditComments = slices.DeleteFunc(p.EditComments, func(c adapters.Comment) bool { return byID[c.ID].Body == c.Body })
	if len(p.EditComments) == 0 {
		p.EditComments = nil
	}
	attach, err := ib.attachDiff()
	return Result{Patch: p, Attach: attach}, err
}

// mergeComments implements merge_comments(issue, replica, ids=None): the
// issue's comments merged with the replica's by global ID. A comment the
// issue has gets the replica's body; a new one is appended as the default
// rule would add it. With ids, only those replica comments are merged.
// mergeLabels is merge_labels(issue, replica, previous=None): the issue's
// labels with the labels the replica's set added and removed since
// previous (see applyDelta).
func (s *Set) mergeLabels(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var issueV, replV, prevV starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "issue", &issueV, "replica", &replV, "previous?", &prevV); err != nil {
		return nil, err
	}
	var labels starlark.Value
	switch is := issueV.(type) {
	case *inIssue:
		labels = is.labels
	case *issueView:
		labels, _ = is.Attr("labels")
	default:
		return nil, fmt.Errorf("merge_labels: the first argument must be the issue, got %s", issueV.Type())
	}
	cur, err := stringList("merge_labels: issue.labels", labels)
	if err != nil {
		return nil, err
	}
	rv, ok := replV.(*replicaView)
	if !ok {
		return nil, fmt.Errorf("merge_labels: the second argument must be a received replica, got %s", replV.Type())
	}
	var prev []string
	if prevV != nil && prevV != starlark.None {
		pv, ok := prevV.(*replicaView)
		if !ok {
			return nil, fmt.Errorf("merge_labels: the third argument must be the previous replica or None, got %s", prevV.Type())
		}
		prev = pv.r.Fields[replica.FieldLabels].L
	}
	out := applyDelta(cur, prev, rv.r.Fields[replica.FieldLabels].L)
	vals := make([]starlark.Value, len(out))
	for i, l := range out {
		vals[i] = starlark.String(l)
	}
	return starlark.NewList(vals), nil
}

func (s *Set) mergeComments(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var issueV, replV, idsV starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "issue", &issueV, "replica", &replV, "ids?", &idsV); err != nil {
		return nil, err
	}
	var comments starlark.Value
	switch is := issueV.(type) {
	case *inIssue:
		comments = is.comments
	case *issueView:
		comments, _ = is.Attr("comments")
	default:
		return nil, fmt.Errorf("merge_comments: the first argument must be the issue, got %s", issueV.Type())
	}
	rv, ok := replV.(*replicaView)
	if !ok {
		return nil, fmt.Errorf("merge_comments: the second argument must be a received replica, got %s", replV.Type())
	}
	var only map[string]bool
	if idsV != nil && idsV != starlark.None {
		ids, err := stringList("merge_comments: ids", idsV)
		if err != nil {
			return nil, err
		}
		only = make(map[string]bool, len(ids))
		for _, id := range ids {
			only[id] = true
		}
	}
	cur, err := sequence("merge_comments: issue.comments", comments)
	if err != nil {
		return nil, err
	}
	out := make([]starlark.Value, 0, len(cur)+len(rv.r.Comments))
	idx := make(map[string]int, len(cur)+len(rv.r.Comments))
	for _, c := range cur {
		gid, err := s.globalID(c)
		if err != nil {
			return nil, fmt.Errorf("merge_comments: %w", err)
		}
		if _, dup := idx[gid]; gid != "" && !dup {
			idx[gid] = len(out)
		}
		out = append(out, c)
	}
	for _, rc := range rv.r.Comments {
		if only != nil && !only[rc.ID] {
			continue
		}
		if j, ok := idx[rc.ID]; ok {
			body := rc.Body
			if rc.Deleted { // as the default rule lands it: a visible note (fields.go)
				ob := commentBodyOf(out[j])
				if strings.HasPrefix(ob, "[deleted at ") {
					continue
				}
				body = DeletedNote(s.peerName, ob)
			}
			nc, err := withBody(out[j], body)
			if err != nil {
				return nil, fmt.Errorf("merge_comments: %w", err)
			}
			out[j] = nc
			continue
		}
		if rc.Deleted {
			continue // deleted before it arrived: nothing to show
		}
		idx[rc.ID] = len(out)
		out = append(out, &commentValue{c: incomingComment(s.peerName, rc), gid: rc.ID})
	}
	return starlark.NewList(out), nil
}

// globalID is the global ID of a comment value, "" for a new comment that
// has none.
func (s *Set) globalID(c starlark.Value) (string, error) {
	switch c := c.(type) {
	case *commentValue:
		return c.gid, nil
	case *replicaCommentValue:
		return c.c.ID, nil
	case *starlark.Dict:
		f, err := dictComment("comment", c)
		if err != nil {
			return "", err
		}
		switch {
		case f.syncID != "":
			return f.syncID, nil
		case f.id != "":
			return s.self + "/" + f.id, nil
		}
		return "", nil
	}
	return "", fmt.Errorf("a comment must be a comment or a dict, got %s", c.Type())
}

// withBody returns c with its body replaced (c itself when the body is the
// same).
func withBody(c starlark.Value, body string) (starlark.Value, error) {
	switch c := c.(type) {
	case *commentValue:
		if c.c.Body == body {
			return c, nil
		}
		n := *c
		n.c.Body = body
		return &n, nil
	case *replicaCommentValue:
		if c.c.Body == body {
			return c, nil
		}
		n := *c
		n.c.Body = body
		return &n, nil
	case *starlark.Dict:
		if v, _, _ := c.Get(starlark.String("body")); v == starlark.String(body) {
			return c, nil
		}
		n := starlark.NewDict(c.Len())
		for _, kv := range c.Items() {
			_ = n.SetKey(kv[0], kv[1]) // cannot fail: new dict, keys from a dict
		}
		if err := n.SetKey(starlark.String("body"), starlark.String(body)); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("a comment must be a comment or a dict, got %s", c.Type())
}

// commentBodyOf is the body of a comment value ("" if it has none).
func commentBodyOf(c starlark.Value) string {
	switch c := c.(type) {
	case *commentValue:
		return c.c.Body
	case *replicaCommentValue:
		return c.c.Body
	case *starlark.Dict:
		v, _, _ := c.Get(starlark.String("body"))
		s, _ := starlark.AsString(v)
		return s
	}
	return ""
}
