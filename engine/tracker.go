package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// Apply, tracker: the change reaches the tracker. The twin's first event
// creates the issue, marked with the twin ID, unless a crash after an
// earlier create left an issue with that marker, which is found instead
// (design.md guarantee 2); later events update it with one call for all
// the fields they change.

// write brings the tracker's issue to the merged state and returns it
// (without a key: nothing was created, the rules skipped it).
func (a *applying) write(ctx context.Context) (adapters.Issue, error) {
	tr, ev, tw := a.e.cfg.Tracker, a.ev, a.tw
	switch {
	case ev.Op == replica.OpLink:
		a.full = true
		issue, err := tr.Get(ctx, tw.LocalKey)
		if err != nil {
			return issue, err
		}
		return a.change(ctx, &issue, allChanges(a.merged), false)
	case tw.LocalKey == "":
		// First sync of this twin here.
		a.full = true
		issue, err := tr.FindByTwin(ctx, ev.Twin)
		switch {
		case err == nil:
			return a.change(ctx, &issue, allChanges(a.merged), true)
		case errors.Is(err, adapters.ErrNotFound):
			if err := a.e.notLinkedYet(a.src, ev); err != nil { // lostlink.go
				return adapters.Issue{}, err
			}
			return a.change(ctx, nil, a.ch, true)
		}
		return issue, err
	}
	// The patch is computed from the issue as read, and says so (IfRev):
	// a person's edit made between the read and the write is not
	// overwritten by a patch computed without it (the labels a patch sets
	// are the whole list). The issue is read again and the patch computed
	// anew (TestApplyKeepsEditMadeDuringApply).
	ch := a.ch
	for attempt := 1; ; attempt++ {
		issue, err := tr.Get(ctx, tw.LocalKey)
		if err != nil {
			return issue, err
		}
		// What the issue is to this link before the change: what the
		// change alters is told apart from local edits not shared yet.
		a.before = nil
		if b, skip, err := a.e.cfg.Rules.Outgoing(a.link, issue); err == nil && !skip {
			a.before = &b
		}
		a.ch = ch
		a.ch.Fields = slices.Clone(ch.Fields) // the steps below change it; a retry starts again from ch
		var kept []string
		if len(a.newer) > 0 && a.before != nil {
			a.ch, kept = keepFields(*a.before, &a.merged, a.ch, a.newer)
			a.ch.Conflicts = append(slices.Clone(a.ch.Conflicts), keptConflicts(a.previous, a.merged, kept)...)
		}
		if a.before != nil {
			a.ch = a.keepLocalEdits(*a.before, a.ch) // conflicts.go
		}
		out, err := a.change(ctx, &issue, a.ch, false)
		if errors.Is(err, adapters.ErrChanged) && attempt < maxRereads {
			continue
		}
		a.kept = append(a.kept, kept...)
		return out, err
	}
}

// maxRereads is how often an apply reads an issue that keeps changing
// under it before it gives up (transient: the event is tried again later).
const maxRereads = 5

// change runs the incoming rules on cur (nil: no issue here yet) and
// creates or updates the issue as they say.
func (a *applying) change(ctx context.Context, cur *adapters.Issue, ch replica.Changes, first bool) (adapters.Issue, error) {
	res, skip, err := a.incoming(cur, ch, first) // rules.go
	switch {
	case err != nil:
		return adapters.Issue{}, err
	case skip && cur == nil:
		return adapters.Issue{}, nil
	case skip:
		return *cur, nil
	}
	tr, twin := a.e.cfg.Tracker, a.ev.Twin
	if cur == nil {
		c := adapters.Issue{}
		if res.Create != nil {
			c = *res.Create
		}
		c.TwinID = twin
		return tr.Create(ctx, c)
	}
	patch := res.Patch
	if res.Create != nil { // rules that create on a first sync of an issue found here
		patch = patchFrom(*cur, *res.Create)
	}
	if cur.TwinID != twin {
		patch.TwinID = &twin
	}
	if patch.Empty() {
		return *cur, nil
	}
	patch.IfRev = cur.Rev
	updated, err := tr.Update(ctx, cur.Key, patch)
	if errors.Is(err, adapters.ErrChanged) {
		// Changed by a person since it was read: the caller reads it
		// again; transient if it gives up.
		err = fmt.Errorf("%w: %w", err, adapters.ErrUnavailable)
	}
	return updated, err
}
