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
