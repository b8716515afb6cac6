package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// DefaultOutgoingScript is the default outgoing rule written in Starlark: it
// behaves as the built-in default for the core fields, comments and files
// (not the fields of issue 16: see fields.go) and is a starting point for a
// connection's own rule.
const DefaultOutgoingScript = `# outgoing: issue -> replica. Only what is set here leaves the node.
replica.summary = issue.summary
replica.description = issue.description
replica.status = map_value(issue.status, connection.status_map)
replica.priority = map_value(issue.priority, connection.priority_map)
replica.labels = issue.labels
replica.comments = [c for c in issue.comments if not c.internal]
replica.attachments = issue.attachments
`

// DefaultIncomingScript is the default incoming rule written in Starlark: it
// behaves as the built-in default for the core fields, comments and files
// (up to the order of added comments; not the fields of issue 16) and is
// a starting point for a connection's own rule.
const DefaultIncomingScript = `# incoming: replica -> issue. Touch only what the merge changed, so that a
# local edit not shared yet is not overwritten.
def wanted(name):
    return first_sync or name in changed.fields

if wanted("summary"):
    issue.summary = replica.summary
if wanted("description"):
    issue.description = replica.description
if wanted("status"):
    issue.status = map_value(replica.status, connection.status_map_inverse)
if wanted("priority"):
    issue.priority = map_value(replica.priority, connection.priority_map_inverse)
if wanted("labels"):
    issue.labels = merge_labels(issue, replica, previous)
issue.comments = merge_comments(issue, replica, None if first_sync else changed.comments)
issue.attachments = merge_attachments(issue, replica, None if first_sync else changed.attachments)
`

// coreFields are the string fields the default rules sync.
var coreFields = [...]string{replica.FieldSummary, replica.FieldDescription, replica.FieldStatus, replica.FieldPriority}

func issueField(is *adapters.Issue, name string) *string {
	switch name {
	case replica.FieldSummary:
		return &is.Summary
	case replica.FieldDescription:
		return &is.Description
	case replica.FieldStatus:
		return &is.Status
	case replica.FieldPriority:
		return &is.Priority
	}
	return nil
}

// outMap returns the local -> shared map of a field, or nil.
func (s *Set) outMap(field string) map[string]string {
	switch field {
	case replica.FieldStatus:
		return s.statusOut
	case replica.FieldPriority:
		return s.prioOut
	}
	return nil
}

// inMap returns the shared -> local map of a field, or nil.
func (s *Set) inMap(field string) map[string]string {
	switch field {
	case replica.FieldStatus:
		return s.statusIn
	case replica.FieldPriority:
		return s.prioIn
	}
	return nil
}

// defaultOutgoing is the default outgoing rule: the issue's shared fields
// (status and priority through their maps) and comments, without clocks.
func (s *Set) defaultOutgoing(is adapters.Issue) replica.Replica {
	var r replica.Replica
	for _, f := range coreFields {
		r.Set(f, replica.Value{S: mapThrough(s.outMap(f), *issueField(&is, f))})
	}
	labels := slices.Clone(is.Labels)
	slices.Sort(labels)
	r.Set(replica.FieldLabels, replica.Value{L: labels})
	for _, c := range is.Comments {
		if c.Internal {
			continue
		}
		r.Comments = append(r.Comments, replica.Comment{
			ID:      commentSyncID(s.self, c),
			Author:  c.Author,
			Body:    c.Body,
			Created: c.Created.UnixMilli(),
		})
	}
	r.Attachments = s.outgoingFiles(is)
	s.outgoingFields(is, &r)
	return r
}

func (s *Set) defaultIncoming(in Incoming) Result {
	if in.Issue == nil {
		is := s.incomingCreate(in.Replica)
		s.createRelations(in, &is)
		return Result{Create: &is, Attach: s.incomingFiles(nil, in.Replica, nil)}
	}
	p := s.incomingPatch(*in.Issue, in.Replica, in.Previous, in.Changed)
	s.incomingRelations(in, &p)
	return Result{Patch: p, Attach: s.incomingFiles(in.Issue, in.Replica, in.Changed.Attachments)}
}

// incomingCreate is the default incoming rule for a twin this node does not
// have yet: an issue with every shared field and comment.
func (s *Set) incomingCreate(merged replica.Replica) adapters.Issue {
	var is adapters.Issue
	for _, f := range coreFields {
		if v, ok := merged.Fields[f]; ok {
			*issueField(&is, f) = mapThrough(s.inMap(f), v.S)
		}
	}
	if v, ok := merged.Fields[replica.FieldLabels]; ok {
		is.Labels = slices.Clone(v.L)
	}
	for _, c := range merged.Comments {
		ic := incomingComment(s.peerName, c)
		if c.Deleted {
			ic.Body = DeletedNote(s.peerName, c.Body)
		}
		is.Comments = append(is.Comments, ic)
	}
	s.createFields(merged, &is)
	return is
}

// incomingPatch is the default incoming rule for an existing issue: the
// fields and comments that the merge changed and that differ from the issue.
func (s *Set) incomingPatch(cur adapters.Issue, merged replica.Replica, previous *replica.Replica, ch replica.Changes) adapters.Patch {
	var p adapters.Patch
	for _, f := range ch.Fields {
		v := merged.Fields[f]
		switch f {
		case replica.FieldLabels:
			var prev []string
			if previous != nil {
				prev = previous.Fields[f].L
			}
			if l := applyDelta(cur.Labels, prev, v.L); !slices.Equal(sortedCopy(cur.Labels), sortedCopy(l)) {
				p.Labels = &l
			}
		default:
			if ptr := issueField(&cur, f); ptr != nil {
				val := mapThrough(s.inMap(f), v.S)
				if *ptr == val {
					continue
				}
				switch f {
				case replica.FieldSummary:
					p.Summary = &val
				case replica.FieldDescription:
					p.Description = &val
				case replica.FieldStatus:
					p.Status = &val
				case replica.FieldPriority:
					p.Priority = &val
				}
			}
		}
	}
	for _, id := range ch.Comments {
		c, ok := merged.Comment(id)
		if !ok {
			continue
		}
		if existing, ok := findComment(s.self, cur.Comments, id); ok {
			if c.Deleted {
				if e, ok := s.deletedComment(existing, c); ok {
					p.EditComments = append(p.EditComments, e)
				}
				continue
			}
			if existing.Body != c.Body {
				p.EditComments = append(p.EditComments, adapters.Comment{ID: existing.ID, Body: c.Body, Internal: existing.Internal})
			}
			continue
		}
		if c.Deleted {
			continue // deleted before it arrived: nothing to show
		}
		p.AddComments = append(p.AddComments, incomingComment(s.peerName, c))
	}
	s.incomingFields(cur, merged, ch.Fields, &p)
	return p
}

// applyDelta applies to the issue's labels what the merge changed in the
// set: the labels added since prev are added, those removed are removed,
// and the others stay as the issue has them (a label added here or by
// another peer and not yet known to this one is kept).
func applyDelta(cur, prev, next []string) []string {
	out := make([]string, 0, len(cur)+len(next))
	for _, l := range cur {
		if slices.Contains(next, l) || !slices.Contains(prev, l) {
			out = append(out, l)
		}
	}
	for _, l := range next {
		if !slices.Contains(prev, l) && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func findComment(self string, cs []adapters.Comment, syncID string) (adapters.Comment, bool) {
	for _, c := range cs {
		if commentSyncID(self, c) == syncID {
			return c, true
		}
	}
	return adapters.Comment{}, false
}

// incomingComment turns a replica comment into a tracker comment. The
// original author and the peer it came from are both kept readable:
// "Alice (partner)".
func incomingComment(peerName string, c replica.Comment) adapters.Comment {
	author := c.Author
	if author == "" {
		author = "someone"
	}
	if peerName != "" {
		author = fmt.Sprintf("%s (%s)", author, peerName)
	}
	return adapters.Comment{SyncID: c.ID, Author: author, Body: c.Body, Created: fromMillis(c.Created)}
}

func fromMillis(ms int64) time.Time {
	if ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
