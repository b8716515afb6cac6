package rules

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.starlark.net/starlark"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// The Starlark values that rules see. Each run builds its own, so the lazy
// caches in them are never shared between goroutines.

func frozenStrings(ss []string) *starlark.List {
	vs := make([]starlark.Value, len(ss))
	for i, s := range ss {
		vs[i] = starlark.String(s)
	}
	l := starlark.NewList(vs)
	l.Freeze()
	return l
}

// unixMillis is how rules see a time: Unix milliseconds, 0 for none.
func unixMillis(t time.Time) starlark.Value {
	if t.IsZero() {
		return starlark.MakeInt(0)
	}
	return starlark.MakeInt64(t.UnixMilli())
}

// copyList returns a new, mutable list holding the elements of a list,
// tuple or set, and other values as they are. Rules assign copies, so that
// a list assigned from a read-only value (replica.labels, issue.comments)
// can still be appended to, and changing the source later changes nothing.
func copyList(x starlark.Value) starlark.Value {
	switch x.(type) {
	case *starlark.List, starlark.Tuple, *starlark.Set:
	default:
		return x
	}
	it := x.(starlark.Iterable).Iterate()
	defer it.Done()
	elems := make([]starlark.Value, 0, starlark.Len(x))
	var e starlark.Value
	for it.Next(&e) {
		elems = append(elems, e)
	}
	return starlark.NewList(elems)
}

// --- issue (read-only) -------------------------------------------------------

// issueView is the read-only issue of outgoing rules and triggers.
type issueView struct {
	is       *adapters.Issue
	self     string
	rule     string
	labels   starlark.Value
	extra    starlark.Value
	comments starlark.Value
	files    starlark.Value
}

var issueAttrs = []string{"assignee", "attachments", "comments", "created", "description", "due", "extra", "fields", "key", "labels", "priority", "relations", "reporter", "start", "status", "summary", "type", "updated", "watchers"}

// personOrNone is a tracker's person as rules read it (starfields.go).
func personOrNone(u *adapters.User) starlark.Value {
	if u == nil {
		return starlark.None
	}
	return userOrNone(toReplicaUser(*u))
}

func adapterUsers(us []adapters.User) []replica.User {
	out := make([]replica.User, len(us))
	for i, u := range us {
		out[i] = toReplicaUser(u)
	}
	return out
}

func (v *issueView) String() string        { return fmt.Sprintf("<issue %s>", v.is.Key) }
func (v *issueView) Type() string          { return "issue" }
func (v *issueView) Freeze()               {}
func (v *issueView) Truth() starlark.Bool  { return starlark.True }
func (v *issueView) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: issue") }
func (v *issueView) AttrNames() []string   { return slices.Clone(issueAttrs) }

func (v *issueView) Attr(name string) (starlark.Value, error) {
	is := v.is
	switch name {
	case "key":
		return starlark.String(is.Key), nil
	case "summary":
		return starlark.String(is.Summary), nil
	case "description":
		return starlark.String(is.Description), nil
	case "status":
		return starlark.String(is.Status), nil
	case "priority":
		return starlark.String(is.Priority), nil
	case "created":
		return unixMillis(is.Created), nil
	case "updated":
		return unixMillis(is.Updated), nil
	case "labels":
		if v.labels == nil {
			v.labels = frozenStrings(is.Labels)
		}
		return v.labels, nil
	case "extra":
		if v.extra == nil {
			v.extra = dictOf(is.Extra)
		}
		return v.extra, nil
	case "comments":
		if v.comments == nil {
			cs := make([]starlark.Value, len(is.Comments))
			for i, c := range is.Comments {
				cs[i] = newCommentValue(v.self, c)
			}
			l := starlark.NewList(cs)
			l.Freeze()
			v.comments = l
		}
		return v.comments, nil
	case "attachments":
		if v.files == nil {
			v.files = issueFiles(v.self, is.Attachments, true)
		}
		return v.files, nil
	case replica.FieldAssignee:
		return personOrNone(is.Assignee), nil
	case replica.FieldReporter:
		return personOrNone(is.Reporter), nil
	case replica.FieldWatchers:
		return usersList(adapterUsers(is.Watchers)), nil
	case replica.FieldType:
		return starlark.String(is.Type), nil
	case replica.FieldDue:
		return starlark.String(is.Due), nil
	case replica.FieldStart:
		return starlark.String(is.Start), nil
	case "fields":
		return fieldsDict(is.Fields, true), nil
	case replica.FieldRelations:
		return issueRelations(is.Relations, true), nil
	}
	return nil, starlark.NoSuchAttrError(fmt.Sprintf("issue has no field %q (tracker-specific fields are in issue.extra)", name))
}

func (v *issueView) SetField(name string, _ starlark.Value) error {
	if v.rule == ruleOutgoing {
		return fmt.Errorf("issue is read-only in outgoing rules: set replica.%s to share a value", name)
	}
	return fmt.Errorf("issue is read-only in a %s", v.rule)
}

// --- comment (read-only) -----------------------------------------------------

// commentValue is a tracker comment. sync_id is its global ID: the one it
// came with by sync, or self/id for a comment written here ("" for a new
// comment that has neither).
type commentValue struct {
	c   adapters.Comment
	gid string
}

func newCommentValue(self string, c adapters.Comment) *commentValue {
	gid := c.SyncID
	if gid == "" && c.ID != "" {
		gid = self + "/" + c.ID
	}
	return &commentValue{c: c, gid: gid}
}

var commentAttrs = []string{"author", "body", "created", "id", "internal", "sync_id", "updated"}

func (v *commentValue) String() string {
	return fmt.Sprintf("<comment %s by %s: %q>", v.gid, v.c.Author, v.c.Body)
}
func (v *commentValue) Type() string          { return "comment" }
func (v *commentValue) Freeze()               {}
func (v *commentValue) Truth() starlark.Bool  { return starlark.True }
func (v *commentValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: comment") }
func (v *commentValue) AttrNames() []string   { return slices.Clone(commentAttrs) }

func (v *commentValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "id":
		return starlark.String(v.c.ID), nil
	case "sync_id":
		return starlark.String(v.gid), nil
	case "author":
		return starlark.String(v.c.Author), nil
	case "body":
		return starlark.String(v.c.Body), nil
	case "created":
		return unixMillis(v.c.Created), nil
	case "updated":
		return unixMillis(v.c.Updated), nil
	case "internal":
		return starlark.Bool(v.c.Internal), nil
	}
	return nil, nil
}

// --- replica (read-only) -----------------------------------------------------

// replicaView is the read-only replica of incoming rules: fields as
// attributes (None when absent), replica["name"] for any name, comments.
type replicaView struct {
	r        *replica.Replica
	cache    map[string]starlark.Value
	comments starlark.Value
}

func (v *replicaView) String() string        { return "<replica>" }
func (v *replicaView) Type() string          { return "replica" }
func (v *replicaView) Freeze()               {}
func (v *replicaView) Truth() starlark.Bool  { return starlark.True }
func (v *replicaView) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: replica") }

func (v *replicaView) AttrNames() []string {
	names := slices.Sorted(maps.Keys(v.r.Fields))
	return append(names, "attachments", "comments", "fields")
}

func (v *replicaView) field(name string) (starlark.Value, bool) {
	if x, ok := v.cache[name]; ok {
		return x, true
	}
	f, ok := v.r.Fields[name]
	if !ok {
		return nil, false
	}
	var x starlark.Value = starlark.String(f.S)
	if f.L != nil || name == replica.FieldLabels {
		x = frozenStrings(f.L)
	}
	if typed := replicaFieldValue(v.r, name, f); typed != nil { // starfields.go
		x = typed
	}
	if v.cache == nil {
		v.cache = make(map[string]starlark.Value)
	}
	v.cache[name] = x
	return x, true
}

func (v *replicaView) Attr(name string) (starlark.Value, error) {
	if name == "attachments" {
		return replicaFiles(v.r.Attachments), nil
	}
	if name == "fields" {
		return replicaFields(v.r), nil
	}
	if name == "comments" {
		if v.comments == nil {
			cs := make([]starlark.Value, len(v.r.Comments))
			for i := range v.r.Comments {
				cs[i] = &replicaCommentValue{c: v.r.Comments[i]}
			}
			l := starlark.NewList(cs)
			l.Freeze()
			v.comments = l
		}
		return v.comments, nil
	}
	if x, ok := v.field(name); ok {
		return x, nil
	}
	return starlark.None, nil
}

// Get implements replica["name"] and "name" in replica.
func (v *replicaView) Get(k starlark.Value) (starlark.Value, bool, error) {
	name, ok := starlark.AsString(k)
	if !ok {
		return nil, false, fmt.Errorf("replica field names are strings, got %s", k.Type())
	}
	x, ok := v.field(name)
	return x, ok, nil
}

func (v *replicaView) SetField(name string, _ starlark.Value) error {
	return fmt.Errorf("replica is read-only in incoming rules: set issue.%s instead", name)
}

// replicaCommentValue is a comment of a received replica. Its id is global.
type replicaCommentValue struct{ c replica.Comment }

var replicaCommentAttrs = []string{"author", "body", "created", "deleted", "id", "internal", "sync_id"}

func (v *replicaCommentValue) String() string {
	return fmt.Sprintf("<replica comment %s by %s: %q>", v.c.ID, v.c.Author, v.c.Body)
}
func (v *replicaCommentValue) Type() string         { return "replica_comment" }
func (v *replicaCommentValue) Freeze()              {}
func (v *replicaCommentValue) Truth() starlark.Bool { return starlark.True }
func (v *replicaCommentValue) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable type: replica_comment")
}
func (v *replicaCommentValue) AttrNames() []string { return slices.Clone(replicaCommentAttrs) }

func (v *replicaCommentValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "id", "sync_id":
		return starlark.String(v.c.ID), nil
	case "author":
		return starlark.String(v.c.Author), nil
	case "body":
		return starlark.String(v.c.Body), nil
	case "created":
		return starlark.MakeInt64(v.c.Created), nil
	case "internal":
		return starlark.Bool(v.c.Internal), nil
	case "deleted":
		return starlark.Bool(v.c.Deleted), nil
	}
	return nil, nil
}

// --- replica (writable, outgoing) --------------------------------------------

// outReplica is the replica an outgoing rule fills. It starts empty.
type outReplica struct {
	fields   map[string]starlark.Value
	comments starlark.Value
	files    starlark.Value
}

func (v *outReplica) String() string        { return "<replica>" }
func (v *outReplica) Type() string          { return "replica" }
func (v *outReplica) Freeze()               {}
func (v *outReplica) Truth() starlark.Bool  { return starlark.True }
func (v *outReplica) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: replica") }

func (v *outReplica) AttrNames() []string {
	names := slices.Sorted(maps.Keys(v.fields))
	return append(names, "attachments", "comments")
}

func (v *outReplica) Attr(name string) (starlark.Value, error) {
	if name == "attachments" {
		if v.files == nil {
			return starlark.None, nil
		}
		return v.files, nil
	}
	if name == "comments" {
		if v.comments == nil {
			return starlark.None, nil
		}
		return v.comments, nil
	}
	if x, ok := v.fields[name]; ok {
		return x, nil
	}
	return starlark.None, nil
}

func (v *outReplica) SetField(name string, x starlark.Value) error {
	if name == "attachments" {
		if x == starlark.None {
			v.files = nil
			return nil
		}
		if _, err := outgoingFileValues("replica.attachments", x); err != nil {
			return err
		}
		v.files = copyList(x)
		return nil
	}
	if name == "comments" {
		if x == starlark.None {
			v.comments = nil
			return nil
		}
		if _, err := replicaComments("replica.comments", x); err != nil {
			return err
		}
		v.comments = copyList(x)
		return nil
	}
	return v.setField(name, x)
}

func (v *outReplica) setField(name string, x starlark.Value) error {
	if name == "" {
		return fmt.Errorf("a replica field needs a name")
	}
	if x == starlark.None {
		delete(v.fields, name)
		return nil
	}
	if _, err := fieldValue(name, x); err != nil {
		return err
	}
	if v.fields == nil {
		v.fields = make(map[string]starlark.Value)
	}
	v.fields[name] = copyList(x)
	return nil
}

// Get implements replica["name"] and "name" in replica.
func (v *outReplica) Get(k starlark.Value) (starlark.Value, bool, error) {
	name, ok := starlark.AsString(k)
	if !ok {
		return nil, false, fmt.Errorf("replica field names are strings, got %s", k.Type())
	}
	x, ok := v.fields[name]
	return x, ok, nil
}

// SetKey implements replica["name"] = value, for names that are not
// identifiers.
func (v *outReplica) SetKey(k, x starlark.Value) error {
	name, ok := starlark.AsString(k)
	if !ok {
		return fmt.Errorf("replica field names are strings, got %s", k.Type())
	}
	if name == "comments" || name == "attachments" {
		return v.SetField(name, x)
	}
	return v.setField(name, x)
}

// --- issue (writable, incoming) ----------------------------------------------

// inIssue is the issue an incoming rule edits: a copy of the local issue, or
// an empty one on the first sync.
type inIssue struct {
	key              string
	created, updated time.Time
	scalars          [4]starlark.String // summary, description, status, priority
	labels           starlark.Value     // an iterable of strings
	extra            *starlark.Dict
	comments         starlark.Value // an iterable of comments
	files            starlark.Value // an iterable of files
	before           []adapters.Attachment
	self, peerName   string
	f16              inFields // people, type, dates, custom fields, relations (infields.go)
}

var inIssueAttrs = slices.Concat([]string{"attachments", "comments", "created", "description", "extra", "key", "labels", "priority", "status", "summary", "updated"}, inFieldNames)

func scalarIndex(name string) int {
	switch name {
	case replica.FieldSummary:
		return 0
	case replica.FieldDescription:
		return 1
	case replica.FieldStatus:
		return 2
	case replica.FieldPriority:
		return 3
	}
	return -1
}

func (s *Set) newInIssue(cur *adapters.Issue) *inIssue {
	v := &inIssue{self: s.self, peerName: s.peerName}
	var is adapters.Issue
	if cur != nil {
		is = *cur
	}
	v.key, v.created, v.updated = is.Key, is.Created, is.Updated
	v.scalars = [4]starlark.String{starlark.String(is.Summary), starlark.String(is.Description), starlark.String(is.Status), starlark.String(is.Priority)}
	labels := make([]starlark.Value, len(is.Labels))
	for i, l := range is.Labels {
		labels[i] = starlark.String(l)
	}
	v.labels = starlark.NewList(labels)
	v.extra = starlark.NewDict(len(is.Extra))
	for _, k := range slices.Sorted(maps.Keys(is.Extra)) {
		_ = v.extra.SetKey(starlark.String(k), starlark.String(is.Extra[k])) // cannot fail: new dict
	}
	cs := make([]starlark.Value, len(is.Comments))
	for i, c := range is.Comments {
		cs[i] = newCommentValue(s.self, c)
	}
	v.comments = starlark.NewList(cs)
	v.before = is.Attachments
	v.files = issueFiles(s.self, is.Attachments, false)
	v.f16 = newInFields(is)
	return v
}

func (v *inIssue) String() string        { return fmt.Sprintf("<issue %s>", v.key) }
func (v *inIssue) Type() string          { return "issue" }
func (v *inIssue) Freeze()               {}
func (v *inIssue) Truth() starlark.Bool  { return starlark.True }
func (v *inIssue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: issue") }
func (v *inIssue) AttrNames() []string   { return slices.Clone(inIssueAttrs) }

func (v *inIssue) Attr(name string) (starlark.Value, error) {
	if i := scalarIndex(name); i >= 0 {
		return v.scalars[i], nil
	}
	switch name {
	case "key":
		return starlark.String(v.key), nil
	case "created":
		return unixMillis(v.created), nil
	case "updated":
		return unixMillis(v.updated), nil
	case "labels":
		return v.labels, nil
	case "extra":
		return v.extra, nil
	case "comments":
		return v.comments, nil
	case "attachments":
		return v.files, nil
	}
	if x, ok := v.f16.attr(name); ok {
		return x, nil
	}
	if x, found, _ := v.extra.Get(starlark.String(name)); found {
		return x, nil
	}
	return nil, starlark.NoSuchAttrError(fmt.Sprintf("issue has no field %q (tracker-specific fields are in issue.extra; assign issue.%s to set one)", name, name))
}

// SetField sets a field. None leaves the field as it is.
func (v *inIssue) SetField(name string, x starlark.Value) error {
	if x == starlark.None {
		return nil
	}
	if i := scalarIndex(name); i >= 0 {
		s, ok := x.(starlark.String)
		if !ok {
			return fmt.Errorf("issue.%s must be a string, got %s", name, x.Type())
		}
		v.scalars[i] = s
		return nil
	}
	switch name {
	case "key", "created", "updated":
		return fmt.Errorf("issue.%s is read-only: the tracker sets it", name)
	case "labels":
		if _, err := stringList("issue.labels", x); err != nil {
			return err
		}
		v.labels = copyList(x)
		return nil
	case "extra":
		d, ok := x.(*starlark.Dict)
		if !ok {
			return fmt.Errorf("issue.extra must be a dict of strings, got %s", x.Type())
		}
		if _, err := extraMap(d); err != nil {
			return err
		}
		v.extra = starlark.NewDict(d.Len())
		for _, kv := range d.Items() {
			_ = v.extra.SetKey(kv[0], kv[1]) // cannot fail: new dict, keys from a dict
		}
		return nil
	case "comments":
		if _, err := v.issueComments(x); err != nil {
			return err
		}
		v.comments = copyList(x)
		return nil
	case "attachments":
		if _, err := incomingFileValues(v.peerName, x); err != nil {
			return err
		}
		v.files = copyList(x)
		return nil
	}
	if ok, err := v.f16.set(name, x); ok {
		return err
	}
	if _, ok := x.(starlark.String); !ok {
		return fmt.Errorf("issue.%s is a tracker-specific field (issue.extra[%q]) and must be a string, got %s", name, name, x.Type())
	}
	return v.extra.SetKey(starlark.String(name), x)
}
