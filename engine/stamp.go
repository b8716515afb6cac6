package engine

// Link bookkeeping shared by the trigger and the appliers. The rules that
// turn issues into replicas and back are in package rules.

import (
	"maps"
	"slices"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// held is another link of the same twin as a share pass sees it: what the
// two sides agreed, the baseline, and what the outgoing rules make of the
// issue now. A value is held from that link when the three are equal: the
// issue shows the agreed value, whose clock is then the clock of what the
// issue holds.
type held struct {
	agreed, baseline, out replica.Replica
}

// heldValue returns the newest clock with which another link holds field
// name (zero if none does), and that link's agreed value.
func heldValue(others []held, name string) (replica.Clock, replica.Value) {
	var (
		best replica.Clock
		val  replica.Value
	)
	for _, o := range others {
		a, ok := o.agreed.Fields[name]
		if ok && reflected(o, name) && best.Less(a.Clock) {
			best, val = a.Clock, a
		}
	}
	return best, val
}

func cloneLost(x *replica.Side) *replica.Side {
	if x == nil {
		return nil
	}
	c := *x
	c.L, c.U = slices.Clone(c.L), slices.Clone(c.U)
	return &c
}

// reflected reports whether the other link's agreed value of field name is
// what the issue shows it.
func reflected(o held, name string) bool {
	a, ok1 := o.agreed.Fields[name]
	b, ok2 := o.baseline.Fields[name]
	v, ok3 := o.out.Fields[name]
	return ok1 && ok2 && ok3 && sameAsSet(a, b) && sameAsSet(b, v)
}

// heldElem returns the newest clock with which another link holds element e
// of list field name as present (del false) or removed (del true).
func heldElem(others []held, name, e string, del bool) replica.Clock {
	var best replica.Clock
	for _, o := range others {
		if !reflected(o, name) {
			continue
		}
		a := o.agreed.Fields[name]
		c, ok := elemState(a, e, del)
		if ok && best.Less(c) {
			best = c
		}
	}
	return best
}

// elemState returns the clock of element e of a list field if the field has
// it in that state (removed or present).
func elemState(v replica.Value, e string, del bool) (replica.Clock, bool) {
	if len(v.E) > 0 {
		el, ok := v.E[e]
		return el.Clock, ok && el.Del == del
	}
	if !del && slices.Contains(v.L, e) {
		return v.Clock, true // a plain list: present as of its clock
	}
	return replica.Clock{}, false
}

// heldComment returns the newest clock with which another link holds the
// comment as it is.
func heldComment(others []held, c replica.Comment) replica.Clock {
	var best replica.Clock
	for _, o := range others {
		a, ok1 := o.agreed.Comment(c.ID)
		b, ok2 := o.baseline.Comment(c.ID)
		v, ok3 := o.out.Comment(c.ID)
		if ok1 && ok2 && ok3 && a.Body == c.Body && b.Body == c.Body && v.Body == c.Body && best.Less(a.Clock) {
			best = a.Clock
		}
	}
	return best
}

// sameAsSet compares two values ignoring clocks and the order of lists.
func sameAsSet(a, b replica.Value) bool {
	if a.S != b.S || len(a.L) != len(b.L) {
		return false
	}
	if slices.Equal(a.L, b.L) {
		return true
	}
	return slices.Equal(sortedCopy(a.L), sortedCopy(b.L))
}

// stamp brings link state up to date with a new outgoing replica: every
// field and comment whose value differs from the baseline gets a clock in
// the agreed replica. A list field is a set (see replica.Value): only the
// elements added or removed since the baseline get a clock, so that
// concurrent edits of other elements elsewhere survive. It returns the names
// of what changed.
//
// The clock is the edit's own: where another link of the twin holds the
// value (it came from there, by sync), its clock travels on, so that a node
// passing a change between its peers never makes an old value look new (a
// full mesh then converges, DESIGN 5.5); a local edit gets now(). A held
// clock is used only where it is newer than the link's agreed one, so the
// link itself always takes the value.
func stamp(agreed *replica.Replica, baseline, out replica.Replica, now func() replica.Clock, others []held) []string {
	clockFor := func(heldAt, cur replica.Clock) replica.Clock {
		if cur.Less(heldAt) {
			return heldAt
		}
		return now()
	}
	var changed []string
	for name, v := range out.Fields {
		if isList(name, v, baseline, *agreed) {
			if stampSet(agreed, name, baseline, v, func(e string, del bool, cur replica.Clock) replica.Clock {
				return clockFor(heldElem(others, name, e, del), cur)
			}) {
				changed = append(changed, name)
			}
			continue
		}
		old, ok := baseline.Fields[name]
		if ok && replica.SameValue(old, v) {
			continue
		}
		cur, ok := agreed.Fields[name]
		if ok && replica.SameValue(cur, v) {
			// Already the agreed value (e.g. set by sync): nothing to tell.
			continue
		}
		heldAt, hv := heldValue(others, name)
		v.Clock = clockFor(heldAt, cur.Clock)
		// What this edit replaced, for conflict detection (replica.Conflict).
		// A value passed on from another link is the same edit there and
		// here: it keeps the Base its writer gave it and the conflict it
		// carries, so that every node that merges it finds the same
		// conflict whatever path it came by (DESIGN 5.11). A local edit
		// replaced what this link held.
		if v.Clock == heldAt && !heldAt.IsZero() {
			v.Base, v.Lost = hv.Base, cloneLost(hv.Lost)
		} else {
			v.Base = cur.Clock
		}
		agreed.Set(name, v)
		changed = append(changed, name)
	}
	for _, c := range out.Comments {
		if old, ok := baseline.Comment(c.ID); ok && old.Body == c.Body {
			continue
		}
		cur, ok := agreed.Comment(c.ID)
		if ok && cur.Body == c.Body {
			continue
		}
		c.Clock = clockFor(heldComment(others, c), cur.Clock)
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
// baseline lacks the field, with the agreed list), each with the clock
// clockOf gives it (from the element's current clock). An element already
// as the agreed set has it is left alone. It reports whether anything
// changed.
func stampSet(agreed *replica.Replica, name string, baseline replica.Replica, v replica.Value, clockOf func(e string, del bool, cur replica.Clock) replica.Clock) bool {
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
	floor := cur.Floor()
	var newest replica.Clock
	touch := func(e string, del bool) {
		el, ok := elems[e]
		if (ok && el.Del == del) || (!ok && del) {
			return // already so
		}
		cur := el.Clock
		if !ok && cur.Less(floor) {
			cur = floor // pruned, or clocked under the floor: a fresh clock (replica/prune.go)
		}
		c := clockOf(e, del, cur)
		elems[e] = replica.Elem{Del: del, Clock: c}
		if newest.Less(c) {
			newest = c
		}
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
	if newest.IsZero() {
		return false
	}
	if newest.Less(cur.Clock) {
		newest = cur.Clock
	}
	kind := v.T // an options field keeps its kind (a set of labels has none)
	if kind == "" {
		kind = cur.T
	}
	agreed.Set(name, replica.Value{T: kind, S: v.S, L: presentElems(elems), E: elems, Clock: newest})
	return true
}

// presentElems lists the elements of a set that are present, sorted (nil
// for none).
func presentElems(elems map[string]replica.Elem) []string {
	l := make([]string, 0, len(elems))
	for e, el := range elems {
		if !el.Del {
			l = append(l, e)
		}
	}
	if len(l) == 0 {
		return nil
	}
	slices.Sort(l)
	return l
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
// issue (out), for the fields and comments that an incoming change touched,
// so that the change is not sent back. Fields the incoming change did not
// touch keep their old baseline, so a local edit made meanwhile is still
// sent. Of a list field, only the elements the change added or removed
// (those that differ between before, the outgoing replica of the issue
// before the change, and out) are recorded: an element added or removed
// here and not shared yet stays a difference to send. Without before
// (nil), the whole list is recorded.
func rebase(baseline *replica.Replica, before *replica.Replica, out replica.Replica, ch replica.Changes) {
	for _, f := range ch.Fields {
		v, ok := out.Fields[f]
		if !ok {
			if clearable(f) { // the issue does not show it (clears.go)
				delete(baseline.Fields, f)
			}
			continue
		}
		b, okb := baseline.Fields[f]
		if before != nil && okb && v.S == "" && (v.L != nil || b.L != nil) {
			prev := before.Fields[f].L
			l := slices.DeleteFunc(slices.Clone(b.L), func(e string) bool { return slices.Contains(prev, e) && !slices.Contains(v.L, e) })
			for _, e := range v.L {
				if !slices.Contains(prev, e) && !slices.Contains(l, e) {
					l = append(l, e)
				}
			}
			slices.Sort(l)
			if len(l) == 0 {
				l = nil
			}
			v = replica.Value{L: l}
		}
		baseline.Set(f, v)
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

// keepNewer looks, for the fields an incoming event on link pid changes in
// merged, at what the twin's other links agreed and the issue shows them
// (agreed equal to the baseline). A list field (a set) takes in their
// elements: those newer than merged's, and those it has not heard of, which
// the issue holds. For a string field it returns the newest such clock
// where it beats merged's: the issue keeps its value (see keepFields). kept
// lists the list fields that took something in.
//
// Without this, a node that got a change from one peer and then an older
// one from another (which had not heard of the first) would go back to the
// older value.
func keepNewer(tw *store.Twin, pid string, merged *replica.Replica, ch replica.Changes, now func() replica.Clock) (newer map[string]replica.Value, kept []string) {
	for _, name := range ch.Fields {
		v := merged.Fields[name]
		for q, l := range tw.Links {
			if q == pid || l.Unsynced {
				continue
			}
			a, ok := l.Agreed.Fields[name]
			if b, okb := l.Baseline.Fields[name]; !ok || !okb || !sameAsSet(a, b) {
				continue
			}
			if len(v.E) > 0 {
				a = foreignSet(a, v, now) // prune.go
				m, c := replica.Merge(replica.Replica{Fields: map[string]replica.Value{name: v}}, replica.Replica{Fields: map[string]replica.Value{name: a}})
				if !c.Empty() || !maps.Equal(m.Fields[name].E, v.E) {
					v = m.Fields[name]
					merged.Set(name, v)
					if !slices.Contains(kept, name) {
						kept = append(kept, name)
					}
				}
				continue
			}
			if v.Clock.Less(a.Clock) && newer[name].Clock.Less(a.Clock) {
				if newer == nil {
					newer = map[string]replica.Value{}
				}
				newer[name] = a
			}
		}
	}
	return newer, kept
}

// keepFields keeps the values of the string fields that a newer
// clock holds (keepNewer): merged takes the value of cur (what the link's
// outgoing rules make of the issue now), with that clock, and the field is
// no longer a change to apply. It returns the changes left and the fields
// kept.
func keepFields(cur replica.Replica, merged *replica.Replica, ch replica.Changes, newer map[string]replica.Value) (replica.Changes, []string) {
	var kept []string
	left := ch
	left.Fields = nil
	for _, name := range ch.Fields {
		c, isNewer := newer[name]
		v, ok := cur.Fields[name]
		if !isNewer || !ok || len(v.E) > 0 || v.L != nil {
			left.Fields = append(left.Fields, name)
			continue
		}
		// The held edit, as it is (its Base and conflict too), joined with
		// the older value received: concurrent with it, that is its
		// conflict here.
		in := merged.Fields[name]
		v.Clock, v.Base, v.Lost = c.Clock, c.Base, cloneLost(c.Lost)
		one := func(x replica.Value) replica.Replica {
			return replica.Replica{Fields: map[string]replica.Value{name: x}}
		}
		if m, _ := replica.Merge(one(v), one(in)); m.Fields[name].Clock == v.Clock {
			v.Lost = m.Fields[name].Lost
		}
		merged.Set(name, v)
		kept = append(kept, name)
	}
	return left, kept
}

// stampFiles adds to the agreed replica, with a fresh clock, the files of
// the outgoing replica that neither the baseline nor the agreed replica has
// (a file's metadata never changes), and returns "attachment:<ID>" for each.
func stampFiles(agreed *replica.Replica, baseline, out replica.Replica, now func() replica.Clock) []string {
	var changed []string
	for _, a := range out.Attachments {
		if _, ok := baseline.Attachment(a.ID); ok {
			continue
		}
		if _, ok := agreed.Attachment(a.ID); ok {
			continue
		}
		a.Clock = now()
		agreed.Attachments = append(agreed.Attachments, a)
		changed = append(changed, "attachment:"+a.ID)
	}
	return changed
}

// rebaseFiles records in the baseline the outgoing replica's version of the
// files an incoming change added.
func rebaseFiles(baseline *replica.Replica, out replica.Replica, ch replica.Changes) {
	for _, id := range ch.Attachments {
		a, ok := out.Attachment(id)
		if !ok {
			continue
		}
		if _, had := baseline.Attachment(id); !had {
			baseline.Attachments = append(baseline.Attachments, a)
		}
	}
}
