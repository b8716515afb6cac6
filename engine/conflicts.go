package engine

import (
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Conflicts (issue 16, DESIGN 5.11): a merge of a received event that
// finds two concurrent edits of one field (replica.Conflict) leaves one
// history record per conflict on the twin, with both values, their clocks
// (who and when) and the winner, which is the convergent one every node
// keeps. The record's conflict ID is the same on every node.

// Conflict is the outcome of a conflict's history record (Dir "in").
const Conflict Outcome = "conflict"

// recordConflicts adds a history record per conflict the merge of link's
// event found; the caller stores the twin afterwards.
func recordConflicts(tx *store.Tx, tw *store.Twin, link LinkKey, seq uint64, eventID string, cs []replica.Conflict) error {
	for _, c := range cs {
		rec := store.Record{Time: time.Now(), Dir: "in", Peer: string(link), Seq: seq, EventID: eventID,
			What: string(Conflict), Fields: []string{c.Field}, LocalKey: tw.LocalKey, Conflict: &c}
		if err := tx.AddHistory(tw, rec); err != nil {
			return err
		}
	}
	return nil
}

// conflictText is one line about a conflict, for logs.
func conflictText(c replica.Conflict) string {
	return c.Field + ": kept \"" + c.Winner.Text() + "\" over \"" + c.Loser.Text() + "\""
}

// joinHeld joins into the merged value of each string field the event
// changed the values the twin's other links hold (agreed and shown by the
// issue) where the merged value still wins: an edit that came by another
// link and was concurrent with the winner is then its conflict here, as
// it would be had it come by this link. Such a conflict is recorded and
// sent back on this link (a.kept), so the peer that passed the winner
// records the same conflict. Without this, a node passing changes between
// two peers that edited a field concurrently decided between them unseen,
// and the peer whose edit won never heard of the conflict.
func (a *applying) joinHeld() {
	for _, name := range a.ch.Fields {
		v := a.merged.Fields[name]
		if len(v.E) > 0 {
			continue
		}
		joined := v
		for q, l := range a.tw.Links {
			if q == string(a.link) || l.Unsynced {
				continue
			}
			o, ok := l.Agreed.Fields[name]
			if b, okb := l.Baseline.Fields[name]; !ok || !okb || len(o.E) > 0 || !sameAsSet(o, b) || v.Clock.Less(o.Clock) {
				continue
			}
			m, _ := replica.Merge(replica.Replica{Fields: map[string]replica.Value{name: joined}}, replica.Replica{Fields: map[string]replica.Value{name: o}})
			if mv := m.Fields[name]; mv.Clock == joined.Clock {
				joined = mv
			}
		}
		if joined.Lost == nil || (v.Lost != nil && v.Lost.Clock == joined.Lost.Clock) {
			continue
		}
		a.merged.Set(name, joined)
		c := replica.Conflict{Field: name, Winner: replica.SideOf(joined), Loser: *cloneLost(joined.Lost)}
		a.ch.Conflicts = append(slices.DeleteFunc(a.ch.Conflicts, func(x replica.Conflict) bool { return x.Field == name }), c)
		if !slices.Contains(a.kept, name) {
			a.kept = append(a.kept, name)
		}
	}
	slices.SortFunc(a.ch.Conflicts, func(x, y replica.Conflict) int { return strings.Compare(x.Field, y.Field) })
}

// Episode is one conflict of a field on a link as `issuemesh conflicts`
// lists it: the last conflict recorded before it was settled (or the open
// one), and the settlement.
type Episode struct {
	Link     string
	Conflict replica.Conflict
	Time     time.Time     // when the conflict was recorded here
	Settled  *replica.Side // the value that settled it, nil while open
	How      string        // how it was settled (store.Record.How)
}

// ConflictEpisodes reads a twin's history, oldest first, into episodes: a
// conflict record replaces the unsettled one before it on the same link
// and field (a third concurrent edit arrived; which records a node makes
// on the way depends on the order it got the edits in), and a settled
// record ends it. The last conflict of an episode is the one the merged
// state held, which every node that received the same edits holds: so
// every member of a network lists the same conflict.
func ConflictEpisodes(recs []store.Record) []Episode {
	type key struct{ link, field string }
	var (
		out []Episode
		cur = map[key]int{} // the unsettled episode of a link's field, by index in out
	)
	for _, r := range recs {
		if r.Conflict == nil {
			continue
		}
		k := key{r.Peer, r.Conflict.Field}
		switch r.What {
		case string(Conflict):
			if i, ok := cur[k]; ok {
				out[i].Conflict, out[i].Time = *r.Conflict, r.Time
				continue
			}
			cur[k] = len(out)
			out = append(out, Episode{Link: r.Peer, Conflict: *r.Conflict, Time: r.Time})
		case string(Settled):
			i, ok := cur[k]
			if !ok {
				// Its conflict record was pruned, or it arrived settled.
				i = len(out)
				out = append(out, Episode{Link: r.Peer, Conflict: *r.Conflict, Time: r.Time})
			}
			out[i].Conflict, out[i].Settled, out[i].How = *r.Conflict, r.Settled, r.How
			delete(cur, k)
		}
	}
	return out
}

// keepLocalEdits finds, among the string fields the event changes, those
// the issue shows with a value that is neither what was shared on the link
// (the baseline) nor the merged one, and that no other link or unrecorded
// event holds: a person edited them here since the trigger last looked.
// Applying the event would overwrite that edit unseen. Instead it is
// stamped now, as the trigger would have, based on what the link held
// before the event: concurrent with the received edit, it is newest and
// wins, the merge records the conflict (and the link's policy applies to
// it), and it is sent back (a.kept). It returns the changes left to apply.
func (a *applying) keepLocalEdits(before replica.Replica, ch replica.Changes) replica.Changes {
	l := a.tw.Links[string(a.link)]
	if l == nil {
		return ch
	}
	var unrec []held
	a.ch.Fields = slices.Clone(ch.Fields) // applyPolicy edits a.ch.Fields; ch is iterated
	left := ch
	left.Fields = nil
	for _, f := range ch.Fields {
		bv, ok := before.Fields[f]
		bl, okb := l.Baseline.Fields[f]
		mv := a.merged.Fields[f]
		if !ok || !okb || bv.L != nil || len(bv.E) > 0 || mv.L != nil || len(mv.E) > 0 ||
			replica.SameValue(bv, bl) || replica.SameValue(bv, mv) {
			left.Fields = append(left.Fields, f)
			continue
		}
		if unrec == nil {
			unrec = a.e.unrec.held(a.tw.ID, before)
		}
		if heldValueElsewhere(a.tw, string(a.link), unrec, f, bv) {
			left.Fields = append(left.Fields, f)
			continue
		}
		lv := bv
		lv.Clock, lv.Base, lv.Lost = a.e.cfg.HLC.Now(), a.previous.Fields[f].Clock, nil
		m, mch := replica.Merge(replica.Replica{Fields: map[string]replica.Value{f: mv}}, replica.Replica{Fields: map[string]replica.Value{f: lv}})
		a.merged.Set(f, m.Fields[f])
		a.ch.Conflicts = slices.DeleteFunc(a.ch.Conflicts, func(x replica.Conflict) bool { return x.Field == f })
		a.ch.Conflicts = append(a.ch.Conflicts, mch.Conflicts...)
		if !slices.Contains(a.kept, f) {
			a.kept = append(a.kept, f)
		}
		a.e.log.Info("a local edit not shared yet met a received edit of the same field: the local one is kept and shared, the conflict recorded", "link", a.link, "key", a.tw.LocalKey, "field", f)
		for _, c := range mch.Conflicts {
			if sub := a.applyPolicy(c); sub != nil {
				left.Fields = append(left.Fields, *sub)
			}
		}
	}
	slices.Sort(left.Fields)
	left.Fields = slices.Compact(left.Fields)
	slices.SortFunc(a.ch.Conflicts, func(x, y replica.Conflict) int { return strings.Compare(x.Field, y.Field) })
	left.Conflicts = a.ch.Conflicts
	return left
}

// heldValueElsewhere reports whether another link of the twin agreed value
// v of field f, or an unrecorded event carries it: the issue holds it by
// sync, not by a local edit.
func heldValueElsewhere(tw *store.Twin, link string, unrec []held, f string, v replica.Value) bool {
	for q, l := range tw.Links {
		if q == link || l.Unsynced {
			continue
		}
		if a, ok := l.Agreed.Fields[f]; ok && replica.SameValue(a, v) {
			return true
		}
	}
	for _, h := range unrec {
		if a, ok := h.agreed.Fields[f]; ok && replica.SameValue(a, v) {
			return true
		}
	}
	return false
}

// keptConflicts lists the conflicts that the values kept from other links
// (keepFields) carry and the link did not hold before.
func keptConflicts(previous, merged replica.Replica, kept []string) []replica.Conflict {
	var out []replica.Conflict
	for _, f := range kept {
		v := merged.Fields[f]
		if v.Lost == nil {
			continue
		}
		if p, ok := previous.Fields[f]; ok && p.Clock == v.Clock && p.Lost != nil && p.Lost.Clock == v.Lost.Clock {
			continue
		}
		out = append(out, replica.Conflict{Field: f, Winner: replica.SideOf(v), Loser: *cloneLost(v.Lost)})
	}
	return out
}

// tellOtherLinks gives the conflicts recorded on link to the twin's other
// links that hold the same winning edit without them, and queues an event
// on each, so that every peer that has the winner hears of the conflict
// (a node that passed the winner on from one peer learns of the loser
// from another). It runs in the finish write; it returns the links to wake.
func (e *Engine) tellOtherLinks(tx *store.Tx, tw *store.Twin, link LinkKey, cs []replica.Conflict, now time.Time) ([]LinkKey, error) {
	var woken []LinkKey
	for q, l := range tw.Links {
		if q == string(link) || l.Unsynced {
			continue
		}
		var fields []string
		for _, c := range cs {
			v, ok := l.Agreed.Fields[c.Field]
			if !ok || len(v.E) > 0 || v.Clock != c.Winner.Clock || (v.Lost != nil && !v.Lost.Clock.Less(c.Loser.Clock)) {
				continue
			}
			lost := cloneLost(&c.Loser)
			v.Lost = lost
			l.Agreed.Set(c.Field, v)
			fields = append(fields, c.Field)
		}
		if len(fields) == 0 {
			continue
		}
		if err := e.Queue(tx, tw, LinkKey(q), l, fields, now); err != nil {
			return nil, err
		}
		woken = append(woken, LinkKey(q))
	}
	return woken, nil
}
