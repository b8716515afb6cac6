package rules

import (
	"fmt"
	"slices"

	"go.starlark.net/starlark"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// Files in the default rules. Outgoing, every file of the issue whose
// digest the tracker knows leaves with its global ID (the SyncID it came
// with, or Self + "/" + its tracker ID). Incoming, the files that the merge
// added (every file on a first sync) and that the issue does not have, by
// global ID or by digest, are attached, with the author "Alice (PeerName)".
// Rule files see files as described below; DefaultOutgoingScript and
// DefaultIncomingScript handle them as the defaults do.

// FileSyncID is the global ID of a tracker file: the ID it came with, or
// the one this node mints for a file attached here.
func FileSyncID(self string, a adapters.Attachment) string {
	if a.SyncID != "" {
		return a.SyncID
	}
	return self + "/" + a.ID
}

// outgoingFiles is the default rule's files of an issue, without clocks.
func (s *Set) outgoingFiles(is adapters.Issue) []replica.Attachment {
	var out []replica.Attachment
	for _, a := range is.Attachments {
		if a.Digest == "" || a.Filename == "" {
			continue // unreadable in the tracker: nothing to offer
		}
		out = append(out, replica.Attachment{
			ID:          FileSyncID(s.self, a),
			Filename:    a.Filename,
			ContentType: a.ContentType,
			Size:        a.Size,
			Digest:      a.Digest,
			Author:      a.Author,
			Created:     a.Created.UnixMilli(),
		})
	}
	return out
}

// incomingFiles is the default rule's files to attach: the merged
// replica's files named in ids (all when ids is nil) that cur does not have.
func (s *Set) incomingFiles(cur *adapters.Issue, merged replica.Replica, ids []string) []adapters.Attachment {
	var out []adapters.Attachment
	want := func(string) bool { return true }
	if ids != nil || cur != nil {
		set := make(map[string]bool, len(ids))
		for _, id := range ids {
			set[id] = true
		}
		want = func(id string) bool { return set[id] }
	}
	for _, f := range merged.Attachments {
		if !want(f.ID) || (cur != nil && HasFile(s.self, cur.Attachments, f.ID, f.Digest)) {
			continue
		}
		out = append(out, incomingFile(s.peerName, f))
	}
	return out
}

// HasFile reports whether files hold the file with that global ID, or its
// bytes (by digest).
func HasFile(self string, files []adapters.Attachment, id, digest string) bool {
	for _, a := range files {
		if FileSyncID(self, a) == id || (digest != "" && a.Digest == digest) {
			return true
		}
	}
	return false
}

// incomingFile turns a replica file into what is attached to the issue.
func incomingFile(peerName string, f replica.Attachment) adapters.Attachment {
	author := f.Author
	if author == "" {
		author = "someone"
	}
	if peerName != "" {
		author = fmt.Sprintf("%s (%s)", author, peerName)
	}
	return adapters.Attachment{
		SyncID: f.ID, Filename: f.Filename, ContentType: f.ContentType,
		Size: f.Size, Digest: f.Digest, Author: author, Created: fromMillis(f.Created),
	}
}

// --- files in rule files -----------------------------------------------------
//
// Outgoing: issue.attachments lists the issue's files (read-only values with
// id, sync_id, filename, content_type, size, digest, author, created);
// replica.attachments takes a list of them (files without a digest are
// left out). Incoming: replica.attachments lists the received files (id is
// global); issue.attachments lists the issue's files and takes a list of
// the issue's files and received ones: the received ones the issue does not
// have (by global ID or digest) are attached. Files left out of the list
// are not deleted. merge_attachments(issue, replica, ids=None) is the
// issue's files plus the replica's (those in ids, when given) that it lacks.

// fileValue is a tracker file. sync_id is its global ID.
type fileValue struct {
	a   adapters.Attachment
	gid string
}

var fileAttrs = []string{"author", "content_type", "created", "digest", "filename", "id", "size", "sync_id"}

func (v *fileValue) String() string        { return fmt.Sprintf("<attachment %s %q>", v.gid, v.a.Filename) }
func (v *fileValue) Type() string          { return "attachment" }
func (v *fileValue) Freeze()               {}
func (v *fileValue) Truth() starlark.Bool  { return starlark.True }
func (v *fileValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: attachment") }
func (v *fileValue) AttrNames() []string   { return slices.Clone(fileAttrs) }

func (v *fileValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "id":
		return starlark.String(v.a.ID), nil
	case "sync_id":
		return starlark.String(v.gid), nil
	case "created":
		return unixMillis(v.a.Created), nil
	}
	return fileAttr(name, v.a.Filename, v.a.ContentType, v.a.Digest, v.a.Author, v.a.Size, v.a.Created.UnixMilli()), nil
}

// replicaFileValue is a file of a received replica. Its id is global.
type replicaFileValue struct{ f replica.Attachment }

func (v *replicaFileValue) String() string {
	return fmt.Sprintf("<replica attachment %s %q>", v.f.ID, v.f.Filename)
}
func (v *replicaFileValue) Type() string         { return "replica_attachment" }
func (v *replicaFileValue) Freeze()              {}
func (v *replicaFileValue) Truth() starlark.Bool { return starlark.True }
func (v *replicaFileValue) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable type: replica_attachment")
}
func (v *replicaFileValue) AttrNames() []string { return slices.Clone(fileAttrs) }

func (v *replicaFileValue) Attr(name string) (starlark.Value, error) {
	if name == "id" || name == "sync_id" {
		return starlark.String(v.f.ID), nil
	}
	return fileAttr(name, v.f.Filename, v.f.ContentType, v.f.Digest, v.f.Author, v.f.Size, v.f.Created), nil
}

func fileAttr(name, filename, contentType, digest, author string, size, created int64) starlark.Value {
	switch name {
	case "filename":
		return starlark.String(filename)
	case "content_type":
		return starlark.String(contentType)
	case "digest":
		return starlark.String(digest)
	case "author":
		return starlark.String(author)
	case "size":
		return starlark.MakeInt64(size)
	case "created":
		return starlark.MakeInt64(created)
	}
	return nil
}

// issueFiles is the list of an issue's files, frozen for read-only issues.
func issueFiles(self string, as []adapters.Attachment, frozen bool) starlark.Value {
	fs := make([]starlark.Value, len(as))
	for i, a := range as {
		fs[i] = &fileValue{a: a, gid: FileSyncID(self, a)}
	}
	l := starlark.NewList(fs)
	if frozen {
		l.Freeze()
	}
	return l
}

// replicaFiles is the frozen list of a received replica's files.
func replicaFiles(as []replica.Attachment) starlark.Value {
	fs := make([]starlark.Value, len(as))
	for i := range as {
		fs[i] = &replicaFileValue{f: as[i]}
	}
	l := starlark.NewList(fs)
	l.Freeze()
	return l
}

// outgoingFileValues converts what an outgoing rule assigned to
// replica.attachments: files of issue.attachments.
func outgoingFileValues(what string, x starlark.Value) ([]adapters.Attachment, error) {
	elems, err := sequence(what, x)
	if err != nil {
		return nil, err
	}
	out := make([]adapters.Attachment, 0, len(elems))
	for i, e := range elems {
		f, ok := e.(*fileValue)
		if !ok {
			return nil, fmt.Errorf("%s[%d] must be a file of issue.attachments, got %s", what, i, e.Type())
		}
		out = append(out, f.a)
	}
	return out, nil
}

// incomingFileValues converts what an incoming rule assigned to
// issue.attachments: the issue's files (with an ID) and received ones
// (without, their SyncID global).
func incomingFileValues(peerName string, x starlark.Value) ([]adapters.Attachment, error) {
	elems, err := sequence("issue.attachments", x)
	if err != nil {
		return nil, err
	}
	out := make([]adapters.Attachment, 0, len(elems))
	for i, e := range elems {
		switch f := e.(type) {
		case *fileValue:
			out = append(out, f.a)
		case *replicaFileValue:
			out = append(out, incomingFile(peerName, f.f))
		default:
			return nil, fmt.Errorf("issue.attachments[%d] must be a file of issue.attachments or replica.attachments, got %s", i, e.Type())
		}
	}
	return out, nil
}

// attachDiff is what the rule's issue.attachments adds: the received files
// the issue did not have.
func (v *inIssue) attachDiff() ([]adapters.Attachment, error) {
	files, err := incomingFileValues(v.peerName, v.files)
	if err != nil {
		return nil, fmt.Errorf("after the rule ran: %w", err)
	}
	var out []adapters.Attachment
	seen := map[string]bool{}
	for _, f := range files {
		if f.ID != "" || seen[f.SyncID] || HasFile(v.self, v.before, f.SyncID, f.Digest) {
			continue
		}
		seen[f.SyncID] = true
		out = append(out, f)
	}
	return out, nil
}

// mergeAttachments implements merge_attachments(issue, replica, ids=None).
func (s *Set) mergeAttachments(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var issueV, replV, idsV starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "issue", &issueV, "replica", &replV, "ids?", &idsV); err != nil {
		return nil, err
	}
	var files starlark.Value
	switch is := issueV.(type) {
	case *inIssue:
		files = is.files
	case *issueView:
		files, _ = is.Attr("attachments")
	default:
		return nil, fmt.Errorf("merge_attachments: the first argument must be the issue, got %s", issueV.Type())
	}
	rv, ok := replV.(*replicaView)
	if !ok {
		return nil, fmt.Errorf("merge_attachments: the second argument must be a received replica, got %s", replV.Type())
	}
	var only map[string]bool
	if idsV != nil && idsV != starlark.None {
		ids, err := stringList("merge_attachments: ids", idsV)
		if err != nil {
			return nil, err
		}
		only = make(map[string]bool, len(ids))
		for _, id := range ids {
			only[id] = true
		}
	}
	cur, err := sequence("merge_attachments: issue.attachments", files)
	if err != nil {
		return nil, err
	}
	have, err := incomingFileValues(s.peerName, files)
	if err != nil {
		return nil, fmt.Errorf("merge_attachments: %w", err)
	}
	for i := range have {
		if have[i].SyncID == "" {
			have[i].SyncID = FileSyncID(s.self, have[i])
		}
	}
	out := slices.Clone(cur)
	for _, f := range rv.r.Attachments {
		if (only != nil && !only[f.ID]) || HasFile(s.self, have, f.ID, f.Digest) {
			continue
		}
		have = append(have, adapters.Attachment{SyncID: f.ID, Digest: f.Digest})
		out = append(out, &replicaFileValue{f: f})
	}
	return starlark.NewList(out), nil
}
