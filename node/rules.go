package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// The default rules: every core field and every comment that is not
// internal leaves the node, and everything received lands as it is.

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

// commentSyncID is the global ID of a tracker comment: the ID it came with,
// or the one this node mints for a comment written here.
func commentSyncID(self string, c adapters.Comment) string {
	if c.SyncID != "" {
		return c.SyncID
	}
	return self + "/" + c.ID
}

// outgoing is the default outgoing rule: the issue's shared fields and
// comments, without clocks.
func outgoing(self string, is adapters.Issue) replica.Replica {
	var r replica.Replica
	for _, f := range coreFields {
		r.Set(f, replica.Value{S: *issueField(&is, f)})
	}
	labels := slices.Clone(is.Labels)
	slices.Sort(labels)
	r.Set(replica.FieldLabels, replica.Value{L: labels})
	for _, c := range is.Comments {
		if c.Internal {
			continue
		}
		r.Comments = append(r.Comments, replica.Comment{
			ID:      commentSyncID(self, c),
			Author:  c.Author,
			Body:    c.Body,
			Created: c.Created.UnixMilli(),
		})
	}
	return r
}

// stamp brings link state up to date with a new outgoing replica: every field
// and comment whose value differs from the baseline gets a fresh clock in the
// agreed replica. It returns the names of what changed.
func stamp(agreed *replica.Replica, baseline, out replica.Replica, now func() replica.Clock) []string {
	var changed []string
	for name, v := range out.Fields {
		old, ok := baseline.Fields[name]
		if ok && old.S == v.S && slices.Equal(old.L, v.L) {
			continue
		}
		if cur, ok := agreed.Fields[name]; ok && cur.S == v.S && slices.Equal(cur.L, v.L) {
			// Already the agreed value (e.g. set by sync): nothing to tell.
			continue
		}
		v.Clock = now()
		agreed.Set(name, v)
		changed = append(changed, name)
	}
	for _, c := range out.Comments {
		if old, ok := baseline.Comment(c.ID); ok && old.Body == c.Body {
			continue
		}
		if cur, ok := agreed.Comment(c.ID); ok && cur.Body == c.Body {
			continue
		}
		c.Clock = now()
		setComment(agreed, c)
		changed = append(changed, "comment:"+c.ID)
	}
	slices.Sort(changed)
	return changed
}

func setComment(r *replica.Replica, c replica.Comment) {
	for i := range r.Comments {
		if r.Comments[i].ID == c.ID {
			r.Comments[i] = c
			return
		}
	}
	r.Comments = append(r.Comments, c)
}

// rebase records in the baseline what the outgoing rules now make of the
// issue, for the fields and comments that an incoming change touched, so
// that the change is not sent back. Fields the incoming change did not touch
// keep their old baseline, so a local edit made meanwhile is still sent.
func rebase(baseline *replica.Replica, out replica.Replica, ch replica.Changes) {
	for _, f := range ch.Fields {
		if v, ok := out.Fields[f]; ok {
			baseline.Set(f, v)
		}
	}
	for _, id := range ch.Comments {
		if c, ok := out.Comment(id); ok {
			setComment(baseline, c)
		}
	}
}

// incomingCreate is the default incoming rule for a twin this node does not
// have yet: an issue with every shared field and comment.
func incomingCreate(self, peerName string, merged replica.Replica, twin string) adapters.Issue {
	is := adapters.Issue{TwinID: twin}
	for _, f := range coreFields {
		if v, ok := merged.Fields[f]; ok {
			*issueField(&is, f) = v.S
		}
	}
	if v, ok := merged.Fields[replica.FieldLabels]; ok {
		is.Labels = slices.Clone(v.L)
	}
	for _, c := range merged.Comments {
		is.Comments = append(is.Comments, incomingComment(self, peerName, c))
	}
	return is
}

// incomingPatch is the default incoming rule for an existing issue: the
// fields and comments that the merge changed.
func incomingPatch(self, peerName string, cur adapters.Issue, merged replica.Replica, ch replica.Changes) adapters.Patch {
	var p adapters.Patch
	for _, f := range ch.Fields {
		v := merged.Fields[f]
		switch f {
		case replica.FieldLabels:
			if !slices.Equal(sortedCopy(cur.Labels), sortedCopy(v.L)) {
				l := slices.Clone(v.L)
				p.Labels = &l
			}
		default:
			if ptr := issueField(&cur, f); ptr != nil && *ptr != v.S {
				s := v.S
				switch f {
				case replica.FieldSummary:
					p.Summary = &s
				case replica.FieldDescription:
					p.Description = &s
				case replica.FieldStatus:
					p.Status = &s
				case replica.FieldPriority:
					p.Priority = &s
				}
			}
		}
	}
	for _, id := range ch.Comments {
		c, ok := merged.Comment(id)
		if !ok {
			continue
		}
		if existing, ok := findComment(self, cur, id); ok {
			if existing.Body != c.Body {
				p.EditComments = append(p.EditComments, adapters.Comment{ID: existing.ID, Body: c.Body, Internal: existing.Internal})
			}
			continue
		}
		p.AddComments = append(p.AddComments, incomingComment(self, peerName, c))
	}
	return p
}

func findComment(self string, is adapters.Issue, syncID string) (adapters.Comment, bool) {
	for _, c := range is.Comments {
		if commentSyncID(self, c) == syncID {
			return c, true
		}
	}
	return adapters.Comment{}, false
}

// incomingComment turns a replica comment into a tracker comment. The local
// tracker keeps the author as a plain name, so the original author and the
// peer it came from are both kept readable: "Alice (partner)".
func incomingComment(self, peerName string, c replica.Comment) adapters.Comment {
	author := c.Author
	if author == "" {
		author = "someone"
	}
	if peerName != "" {
		author = fmt.Sprintf("%s (%s)", author, peerName)
	}
	var created time.Time
	if c.Created > 0 {
		created = time.UnixMilli(c.Created).UTC()
	}
	return adapters.Comment{SyncID: c.ID, Author: author, Body: c.Body, Created: created}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
