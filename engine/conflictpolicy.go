package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Conflict policies (issue 16, DESIGN 5.11; config:
// connections.<peer>.conflicts): what a node does when the merge of a
// received event finds a conflict (conflicts.go) on a field.
//
//   - newest (the default): the newest edit wins everywhere, as without a
//     policy.
//   - ours / theirs (links to one peer only): when the other side's edit
//     won (ours) or this side's won (theirs), this node settles the
//     conflict at once with a new edit of the value its policy keeps,
//     clocked after both and based on both (Value.Base), so it is no new
//     conflict: both sides converge on it. A network has no single
//     "theirs"; there these act as newest.
//   - hold: the field keeps its value in the tracker on both sides (the
//     merged state holds the winner, the tracker here keeps its value) and
//     waits for a person: `issuemesh resolve KEY FIELD --keep ...`
//     (Resolve), or a later edit of the field, settles it.
//
// A settled conflict leaves a "settled" history record with the value
// that settled it, who set it (its clock's peer) and when; the node that
// receives the settling edit records the same (settledBy).

// ConflictPolicies gives the conflict policy of a link's field: one of
// PolicyNewest (or ""), PolicyOurs, PolicyTheirs, PolicyHold.
type ConflictPolicies interface {
	ConflictPolicy(link LinkKey, field string) string
}

// The conflict policies.
const (
	PolicyNewest = "newest"
	PolicyOurs   = "ours"
	PolicyTheirs = "theirs"
	PolicyHold   = "hold"
)

// Settled is the outcome of the history record of a settled conflict.
const Settled Outcome = "settled"

// ConflictPolicy returns the link's policy for field (PolicyNewest when
// none is configured).
func (e *Engine) ConflictPolicy(link LinkKey, field string) string {
	if e.cfg.Conflicts == nil {
		return PolicyNewest
	}
	switch p := e.cfg.Conflicts.ConflictPolicy(link, field); p {
	case PolicyOurs, PolicyTheirs:
		if link.IsNet() {
			return PolicyNewest
		}
		return p
	case PolicyHold:
		return p
	}
	return PolicyNewest
}

// settlement is a conflict settled here, to record.
type settlement struct {
	c     replica.Conflict
	value replica.Side
	how   string
}

// applyPolicies applies the link's conflict policies to the conflicts the
// merge found (a.ch.Conflicts): held fields are not applied to the
// tracker; ours and theirs settle the conflict with a new edit, which is
// queued back to the peer (a.kept).
func (a *applying) applyPolicies() {
	for _, c := range a.ch.Conflicts {
		if f := a.applyPolicy(c); f != nil {
			a.ch.Fields = append(a.ch.Fields, *f) // the tracker takes the kept value
			slices.Sort(a.ch.Fields)
			a.ch.Fields = slices.Compact(a.ch.Fields)
		}
	}
}

// applyPolicy applies the link's policy to one conflict of the merged
// state: it removes a held field, or one settled to the tracker's value,
// from a.ch.Fields, and returns the field when the tracker must take the
// value the policy kept.
func (a *applying) applyPolicy(c replica.Conflict) *string {
	drop := func() {
		a.ch.Fields = slices.DeleteFunc(a.ch.Fields, func(f string) bool { return f == c.Field })
	}
	p := a.e.ConflictPolicy(a.link, c.Field)
	switch p {
	case PolicyHold:
		drop()
		return nil
	case PolicyOurs, PolicyTheirs:
	default:
		return nil
	}
	self := a.e.cfg.Self
	winOurs, loseOurs := c.Winner.Clock.Peer == self, c.Loser.Clock.Peer == self
	if !(p == PolicyOurs && loseOurs && !winOurs) && !(p == PolicyTheirs && winOurs && !loseOurs) {
		return nil // the side the policy keeps won already
	}
	nv := settleValue(a.merged.Fields[c.Field], c, c.Loser, a.e.cfg.HLC.Now())
	a.merged.Set(c.Field, nv)
	drop()
	if !slices.Contains(a.kept, c.Field) {
		a.kept = append(a.kept, c.Field) // queued to the peer (finish.go)
	}
	a.settled = append(a.settled, settlement{c: c, value: replica.SideOf(nv), how: p})
	if prev, ok := a.previous.Fields[c.Field]; !ok || !replica.SameValue(prev, nv) {
		f := c.Field
		return &f
	}
	return nil
}

// settleValue is the edit that settles conflict c on value cur with the
// value of keep: clocked at now (after both edits, which the merge has
// observed), based on the newer of the two, so that it is concurrent with
// neither.
func settleValue(cur replica.Value, c replica.Conflict, keep replica.Side, now replica.Clock) replica.Value {
	base := c.Winner.Clock
	if base.Less(c.Loser.Clock) {
		base = c.Loser.Clock
	}
	return replica.Value{S: keep.S, L: slices.Clone(keep.L), U: slices.Clone(keep.U), T: cur.T, Clock: now, Base: base}
}

// settledBy lists the conflicts that previous held and that merged no
// longer holds because an edit made after both values (not concurrent with
// the winner) replaced them: settled by that edit, wherever it was made.
func settledBy(previous, merged replica.Replica, ch replica.Changes) []settlement {
	var out []settlement
	for f, p := range previous.Fields {
		m, ok := merged.Fields[f]
		if !ok || p.Lost == nil || m.Clock == p.Clock || m.Lost != nil {
			continue
		}
		if m.Base.Less(p.Clock) {
			continue // concurrent with the old winner: a new conflict, not a settlement
		}
		out = append(out, settlement{c: replica.Conflict{Field: f, Winner: replica.SideOf(p), Loser: *cloneLost(p.Lost)}, value: replica.SideOf(m), how: "edit"})
	}
	for _, c := range ch.Conflicts {
		out = slices.DeleteFunc(out, func(s settlement) bool { return s.c.Field == c.Field })
	}
	slices.SortFunc(out, func(x, y settlement) int { return strings.Compare(x.c.Field, y.c.Field) })
	return out
}

// settle notes the conflicts the event settles (settledBy) and makes
// their fields changes to apply: under hold, the tracker here may hold
// the value that lost, although the merged value did not change.
func (a *applying) settle() {
	ss := settledBy(a.previous, a.merged, a.ch)
	for _, s := range ss {
		if !slices.Contains(a.ch.Fields, s.c.Field) {
			a.ch.Fields = append(a.ch.Fields, s.c.Field)
		}
	}
	slices.Sort(a.ch.Fields)
	a.settled = append(a.settled, ss...)
}

// indexHeld notes the conflicts on held fields for status (store/held.go).
func (e *Engine) indexHeld(tx *store.Tx, tw *store.Twin, link LinkKey, cs []replica.Conflict) error {
	for _, c := range cs {
		if e.ConflictPolicy(link, c.Field) != PolicyHold {
			continue
		}
		if err := tx.PutHeld(store.HeldConflict{Twin: tw.ID, Field: c.Field, Link: string(link), Conflict: c.ID()}); err != nil {
			return err
		}
	}
	return nil
}

// HeldConflict is a conflict held for a person, as status shows it.
type HeldConflict struct {
	Key, Field string
	Link       LinkKey
}

// HeldConflicts lists the conflicts held for a person: those of the index
// whose twin still holds them open (an edit of the field here settles one
// without a record, see Resolve).
func HeldConflicts(tx *store.Tx) ([]HeldConflict, error) {
	hs, err := tx.HeldAll()
	if err != nil {
		return nil, err
	}
	var out []HeldConflict
	for _, h := range hs {
		tw, err := tx.GetTwin(h.Twin)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		l := tw.Links[h.Link]
		if l == nil || l.Unsynced {
			continue
		}
		if v, ok := l.Agreed.Fields[h.Field]; ok && v.Lost != nil {
			out = append(out, HeldConflict{Key: tw.LocalKey, Field: h.Field, Link: LinkKey(h.Link)})
		}
	}
	return out, nil
}

// recordSettled adds a history record per settled conflict.
func recordSettled(tx *store.Tx, tw *store.Twin, link LinkKey, seq uint64, eventID string, ss []settlement) error {
	for _, s := range ss {
		tx.DeleteHeld(tw.ID, s.c.Field)
		c, v := s.c, s.value
		rec := store.Record{Time: time.Now(), Dir: "in", Peer: string(link), Seq: seq, EventID: eventID,
			What: string(Settled), Fields: []string{c.Field}, LocalKey: tw.LocalKey, Conflict: &c, Settled: &v, How: s.how}
		if err := tx.AddHistory(tw, rec); err != nil {
			return err
		}
	}
	return nil
}

// Resolution is what Resolve did.
type Resolution struct {
	Key, Field string
	Link       LinkKey
	Conflict   replica.Conflict
	Value      replica.Side // the value kept, with its new clock
}

// Resolve settles the open conflict of field on the issue with that key:
// keep is "ours" (the value of the edit made here, or the one the issue
// shows), "theirs" (the other) or a value. The value is written to the
// tracker here and shared on the conflict's link as an edit based on both
// values, so the peer takes it without a new conflict and records the
// conflict as settled too.
func (e *Engine) Resolve(ctx context.Context, key, field, keep string) (Resolution, error) {
	res := Resolution{Key: key, Field: field}
	var twin string
	err := e.cfg.Store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err == nil {
			twin = tw.ID
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return res, fmt.Errorf("%w: %s is not synced, so it has no conflicts", ErrBadRequest, key)
	}
	if err != nil {
		return res, err
	}
	defer e.locks.Lock(twin)()
	var (
		agreed replica.Replica
		link   LinkKey
	)
	err = e.cfg.Store.View(func(tx *store.Tx) error {
		tw, err := tx.GetTwin(twin)
		if err != nil {
			return err
		}
		for _, l := range slices.Sorted(maps.Keys(tw.Links)) {
			if v, ok := tw.Links[l].Agreed.Fields[field]; ok && v.Lost != nil && !tw.Links[l].Unsynced {
				agreed, link = tw.Links[l].Agreed.Clone(), LinkKey(l)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if link == "" {
		return res, fmt.Errorf("%w: %s has no open conflict on %s (issuemesh conflicts lists them)", ErrBadRequest, key, field)
	}
	res.Link = link
	v := agreed.Fields[field]
	c := replica.Conflict{Field: field, Winner: replica.SideOf(v), Loser: *cloneLost(v.Lost)}
	res.Conflict = c
	is, err := e.cfg.Tracker.Get(ctx, key)
	if err != nil {
		return res, err
	}
	side, err := e.keepSide(link, is, c, keep)
	if err != nil {
		return res, err
	}
	for _, x := range []replica.Clock{c.Winner.Clock, c.Loser.Clock} {
		e.cfg.HLC.Observe(x)
	}
	nv := settleValue(v, c, side, e.cfg.HLC.Now())
	merged := agreed.Clone()
	merged.Set(field, nv)
	set, err := e.cfg.Rules.Incoming(link)
	if err != nil {
		return res, err
	}
	var updated adapters.Issue
	for attempt := 1; ; attempt++ {
		out, err := set.Incoming(rules.Incoming{Replica: merged, Changed: replica.Changes{Fields: []string{field}}, Issue: &is, Previous: &agreed})
		if err != nil {
			return res, fmt.Errorf("%w: the incoming rules of %s: %w", ErrBadRequest, link, err)
		}
		p := out.Patch
		if out.Skip || p.Empty() {
			updated = is
			break
		}
		p.IfRev = is.Rev
		updated, err = e.cfg.Tracker.Update(ctx, key, p)
		e.fresh.written(twin)
		if errors.Is(err, adapters.ErrChanged) && attempt < maxRereads {
			if is, err = e.cfg.Tracker.Get(ctx, key); err != nil {
				return res, err
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("write %s of %s: %w", field, key, err)
		}
		break
	}
	outRep, _, err := e.cfg.Rules.Outgoing(link, updated)
	if err != nil {
		return res, err
	}
	res.Value = replica.SideOf(nv)
	now := time.Now()
	err = e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		tw, err := tx.GetTwin(twin)
		if err != nil {
			return err
		}
		l := tw.Link(string(link))
		l.Agreed, _ = replica.Merge(l.Agreed, replica.Replica{Fields: map[string]replica.Value{field: nv}})
		rebase(&l.Baseline, nil, outRep, replica.Changes{Fields: []string{field}})
		val := res.Value
		if err := tx.AddHistory(tw, store.Record{Time: now, Dir: "out", Peer: string(link), What: string(Settled),
			Fields: []string{field}, LocalKey: key, Conflict: &c, Settled: &val, How: "resolve"}); err != nil {
			return err
		}
		tx.DeleteHeld(twin, field)
		if err := e.Queue(tx, tw, link, l, []string{field}, now); err != nil {
			return err
		}
		return tx.PutTwin(tw)
	})
	if err != nil {
		return res, err
	}
	e.wake(link)
	return res, nil
}

// keepSide is the side keep names: ours, theirs, or a value given.
func (e *Engine) keepSide(link LinkKey, is adapters.Issue, c replica.Conflict, keep string) (replica.Side, error) {
	switch keep {
	case "ours", "theirs":
		ours, theirs, ok := c.Winner, c.Loser, true
		switch self := e.cfg.Self; {
		case c.Winner.Clock.Peer == self && c.Loser.Clock.Peer != self:
		case c.Loser.Clock.Peer == self && c.Winner.Clock.Peer != self:
			ours, theirs = c.Loser, c.Winner
		default:
			// Neither edit (or both) was made here: ours is the one the
			// issue shows.
			out, _, err := e.cfg.Rules.Outgoing(link, is)
			v, has := out.Fields[c.Field]
			switch {
			case err != nil || !has:
				ok = false
			case sameSide(v, c.Winner):
			case sameSide(v, c.Loser):
				ours, theirs = c.Loser, c.Winner
			default:
				ok = false
			}
		}
		if !ok {
			return replica.Side{}, fmt.Errorf("%w: neither value of %s was set here, so ours and theirs are not told apart; give the value to keep", ErrBadRequest, c.Field)
		}
		if keep == "ours" {
			return ours, nil
		}
		return theirs, nil
	}
	if len(c.Winner.U) > 0 || len(c.Loser.U) > 0 {
		return replica.Side{}, fmt.Errorf("%w: %s holds people; keep ours or theirs", ErrBadRequest, c.Field)
	}
	if c.Winner.L != nil || c.Loser.L != nil {
		var l []string
		for _, x := range strings.Split(keep, ",") {
			if x = strings.TrimSpace(x); x != "" {
				l = append(l, x)
			}
		}
		return replica.Side{L: l}, nil
	}
	return replica.Side{S: keep}, nil
}

func sameSide(v replica.Value, x replica.Side) bool {
	return replica.SameValue(v, replica.Value{S: x.S, L: x.L, U: x.U, T: v.T})
}
