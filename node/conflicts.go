package node

// Conflict records (issue 16, DESIGN 5.11): a merge of a received event
// that finds two concurrent edits of one field (replica.Conflict) leaves a
// history record on the twin, and `issuemesh conflicts` lists them with
// whether the twin's state still holds the conflict (open) or a later edit
// settled it. The winner is the convergent one every node keeps; the
// record's ID is the same on every node (replica.Conflict.ID).

import (
	"context"
	"slices"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Conflicts lists the conflicts recorded in the twins' histories, newest
// first, one per conflict ID.
func (b adminBackend) Conflicts(ctx context.Context) ([]api.ConflictView, error) {
	var out []api.ConflictView
	name := peerNamer(b.n.store)
	err := b.n.store.View(func(tx *store.Tx) error {
		return tx.Twins(func(tw *store.Twin) error {
			recs, err := tx.History(tw.ID)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for i := len(recs) - 1; i >= 0; i-- {
				r := recs[i]
				if r.What != string(engine.Conflict) || r.Conflict == nil || seen[r.Conflict.ID()] {
					continue
				}
				c := *r.Conflict
				seen[c.ID()] = true
				open := false
				if l := tw.Links[r.Peer]; l != nil {
					if v, ok := l.Agreed.Fields[c.Field]; ok && v.Lost != nil && v.Clock == c.Winner.Clock && v.Lost.Clock == c.Loser.Clock {
						open = true
					}
				}
				out = append(out, api.ConflictView{
					ID: c.ID(), Key: tw.LocalKey, Twin: tw.ID, Field: c.Field, Time: r.Time, Open: open,
					Link: r.Peer, LinkName: name(r.Peer),
					Winner: sideView(c.Winner, name), Loser: sideView(c.Loser, name),
				})
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b api.ConflictView) int { return b.Time.Compare(a.Time) })
	return out, err
}

func sideView(x replica.Side, name func(string) string) api.ConflictSide {
	return api.ConflictSide{Value: x.Text(), Peer: x.Clock.Peer, PeerName: name(x.Clock.Peer), Time: time.UnixMilli(x.Clock.Wall).UTC()}
}
