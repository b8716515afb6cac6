package rules

// The oracle: node/rules.go's default rules as they were when this package
// was written, copied so that the defaults here can be checked against them
// without importing node.

import (
	"fmt"
	"slices"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

func oracleIssueField(is *adapters.Issue, name string) *string {
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

func oracleCommentSyncID(self string, c adapters.Comment) string {
	if c.SyncID != "" {
		return c.SyncID
	}
	return self + "/" + c.ID
}

func oracleOutgoing(self string, is adapters.Issue) replica.Replica {
	var r replica.Replica
	for _, f := range coreFields {
		r.Set(f, replica.Value{S: *oracleIssueField(&is, f)})
	}
	labels := slices.Clone(is.Labels)
	slices.Sort(labels)
	r.Set(replica.FieldLabels, replica.Value{L: labels})
	for _, c := range is.Comments {
		if c.Internal {
			continue
		}
		r.Comments = append(r.Comments, replica.Comment{
			ID:      oracleCommentSyncID(self, c),
			Author:  c.Author,
			Body:    c.Body,
			Created: c.Created.UnixMilli(),
		})
	}
	return r
}

func oracleIncomingCreate(self, peerName string, merged replica.Replica, twin string) adapters.Issue {
	is := adapters.Issue{TwinID: twin}
	for _, f := range coreFields {
		if v, ok := merged.Fields[f]; ok {
			*oracleIssueField(&is, f) = v.S
		}
	}
	if v, ok := merged.Fields[replica.FieldLabels]; ok {
		is.Labels = slices.Clone(v.L)
	}
	for _, c := range merged.Comments {
		is.Comments = append(is.Comments, oracleIncomingComment(self, peerName, c))
	}
	return is
}

func oracleIncomingPatch(self, peerName string, cur adapters.Issue, merged, previous replica.Replica, ch replica.Changes) adapters.Patch {
	var p adapters.Patch
	for _, f := range ch.Fields {
		v := merged.Fields[f]
		switch f {
		case replica.FieldLabels:
			// The set's changes since previous, applied to the issue's labels.
			removed := map[string]bool{}
			for _, l := range previous.Fields[f].L {
				removed[l] = !slices.Contains(v.L, l)
			}
			var l []string
			for _, x := range cur.Labels {
				if !removed[x] {
					l = append(l, x)
				}
			}
			for _, x := range v.L {
				if _, had := removed[x]; !had && !slices.Contains(l, x) {
					l = append(l, x)
				}
			}
			if !slices.Equal(sortedCopy(cur.Labels), sortedCopy(l)) {
				p.Labels = &l
			}
		default:
			if ptr := oracleIssueField(&cur, f); ptr != nil && *ptr != v.S {
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
		if existing, ok := oracleFindComment(self, cur, id); ok {
			if existing.Body != c.Body {
				p.EditComments = append(p.EditComments, adapters.Comment{ID: existing.ID, Body: c.Body, Internal: existing.Internal})
			}
			continue
		}
		p.AddComments = append(p.AddComments, oracleIncomingComment(self, peerName, c))
	}
	return p
}

func oracleFindComment(self string, is adapters.Issue, syncID string) (adapters.Comment, bool) {
	for _, c := range is.Comments {
		if oracleCommentSyncID(self, c) == syncID {
			return c, true
		}
	}
	return adapters.Comment{}, false
}

func oracleIncomingComment(_, peerName string, c replica.Comment) adapters.Comment {
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
