package node

// Link bookkeeping shared by the trigger and the appliers. The rules that
// turn issues into replicas and back are in package rules.

import (
	"slices"

	"github.com/issuemesh/issuemesh/replica"
)

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

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
