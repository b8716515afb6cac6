package node

// Link bookkeeping shared by the trigger and the appliers. The rules that
// turn issues into replicas and back are in package rules.

import (
	"maps"
	"slices"

	"github.com/issuemesh/issuemesh/replica"
)

// stamp brings link state up to date with a new outgoing replica: every field
// and comment whose value differs from the baseline gets a fresh clock in the
// agreed replica. A list field is a set (see replica.Value): only the
// elements added or removed since the baseline get a fresh clock, so that
// concurrent edits of other elements elsewhere survive. It returns the names
// of what changed.
func stamp(agreed *replica.Replica, baseline, out replica.Replica, now func() replica.Clock) []string {
	var changed []string
	for name, v := range out.Fields {
		if isList(name, v, baseline, *agreed) {
			if stampSet(agreed, name, baseline, v, now) {
				changed = append(changed, name)
			}
			continue
		}
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
	changed = append(changed, stampFiles(agreed, baseline, out, now)...)
	slices.Sort(changed)
	return changed
}

// isList reports whether field name is a list field: the rules give it a
// list, or gave one before, or the link holds it as a set.
func isList(name string, v replica.Value, baseline, agreed replica.Replica) bool {
	if v.S != "" {
		return false
	}
	old, cur := baseline.Fields[name], agreed.Fields[name]
	return v.L != nil || old.L != nil || cur.L != nil || len(cur.E) > 0
}

// stampSet records in the agreed set of a list field the elements that the
// outgoing list v adds or removes compared with the baseline (or, where the
// baseline lacks the field, with the agreed list), each with a fresh clock.
// An element already as the agreed set has it is left alone. It reports
// whether anything changed.
func stampSet(agreed *replica.Replica, name string, baseline replica.Replica, v replica.Value, now func() replica.Clock) bool {
	cur := agreed.Fields[name]
	oldL := cur.L
	if old, ok := baseline.Fields[name]; ok {
		oldL = old.L
	}
	elems := make(map[string]replica.Elem, len(cur.E)+len(v.L))
	if len(cur.E) > 0 {
		maps.Copy(elems, cur.E)
	} else {
		// A plain list (from before sets): its elements were present as
		// of its clock.
		for _, e := range cur.L {
			elems[e] = replica.Elem{Clock: cur.Clock}
		}
	}
	var clock replica.Clock
	touch := func(e string, del bool) {
		if el, ok := elems[e]; (ok && el.Del == del) || (!ok && del) {
			return // already so
		}
		if clock.IsZero() {
			clock = now()
		}
		elems[e] = replica.Elem{Del: del, Clock: clock}
	}
	newSet := make(map[string]bool, len(v.L))
	for _, e := range v.L {
		newSet[e] = true
	}
	oldSet := make(map[string]bool, len(oldL))
	for _, e := range oldL {
		oldSet[e] = true
		if !newSet[e] {
			touch(e, true)
		}
	}
	for _, e := range v.L {
		if !oldSet[e] {
			touch(e, false)
		}
	}
	if clock.IsZero() {
		return false
	}
	l := make([]string, 0, len(elems))
	for e, el := range elems {
		if !el.Del {
			l = append(l, e)
		}
	}
	slices.Sort(l)
	if len(l) == 0 {
		l = nil
	}
	agreed.Set(name, replica.Value{S: v.S, L: l, E: elems, Clock: clock})
	return true
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
	rebaseFiles(baseline, out, ch)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
