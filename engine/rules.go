package engine

import (
	"fmt"
	"slices"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
)

// Apply, incoming rules: the link's incoming rules (node/rules) turn the
// merged replica into the issue to create or the patch of the issue here.

// incoming runs the incoming rules on the current issue (nil: none here
// yet) for the changes ch. skip: the rules skip the event (the reason is
// in a.skipped).
func (a *applying) incoming(cur *adapters.Issue, ch replica.Changes, first bool) (res rules.Result, skip bool, err error) {
	in := rules.Incoming{Replica: a.merged, Changed: ch, Issue: cur, Resolve: a.resolveRelation}
	if !first {
		in.Previous = &a.previous
	}
	res, err = a.rules.Incoming(in)
	if err != nil {
		return res, false, fmt.Errorf("%w: %w", adapters.ErrRejected, err)
	}
	if res.Skip {
		a.skipped = res.Reason
		if a.skipped == "" {
			a.skipped = "skipped by the incoming rules"
		}
		return res, true, nil
	}
	a.attach = res.Attach
	return res, false, nil
}

// patchFrom is the patch that turns cur into want (for rules that return a
// whole issue where an issue exists already).
func patchFrom(cur, want adapters.Issue) adapters.Patch {
	var p adapters.Patch
	set := func(dst **string, have, w string) {
		if have != w {
			*dst = &w
		}
	}
	set(&p.Summary, cur.Summary, want.Summary)
	set(&p.Description, cur.Description, want.Description)
	set(&p.Status, cur.Status, want.Status)
	set(&p.Priority, cur.Priority, want.Priority)
	if !slices.Equal(sortedCopy(cur.Labels), sortedCopy(want.Labels)) {
		l := slices.Clone(want.Labels)
		p.Labels = &l
	}
	for _, c := range want.Comments {
		if c.SyncID != "" && slices.ContainsFunc(cur.Comments, func(x adapters.Comment) bool { return x.SyncID == c.SyncID }) {
			continue
		}
		p.AddComments = append(p.AddComments, c)
	}
	return p
}
