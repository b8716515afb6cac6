package node

// Conflict records (issue 16, DESIGN 5.11): a merge of a received event
// that finds two concurrent edits of one field (replica.Conflict) leaves a
// history record on the twin, and `issuemesh conflicts` lists them with
// whether the twin's state still holds the conflict (open) or a later edit
// settled it. The winner is the convergent one every node keeps; the
// record's ID is the same on every node (replica.Conflict.ID).

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Conflicts lists the conflicts recorded in the twins' histories, newest
// first. Of the conflicts one field went through before it was settled (a
// third concurrent edit replaces the record of the first two), only the
// last is listed: the one the merged state held, which every member of a
// network that received the same edits holds (engine.ConflictEpisodes). Each comes with the link's policy for the field,
// whether it is held, and how it was settled.
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
			for _, ep := range engine.ConflictEpisodes(recs) {
				c := ep.Conflict
				if seen[c.ID()] {
					continue
				}
				seen[c.ID()] = true
				open := false
				if l := tw.Links[ep.Link]; l != nil && ep.Settled == nil {
					if v, ok := l.Agreed.Fields[c.Field]; ok && v.Lost != nil && v.Clock == c.Winner.Clock && v.Lost.Clock == c.Loser.Clock {
						open = true
					}
				}
				policy := b.n.eng.ConflictPolicy(engine.LinkKey(ep.Link), c.Field)
				v := api.ConflictView{
					ID: c.ID(), Key: tw.LocalKey, Twin: tw.ID, Field: c.Field, Time: ep.Time, Open: open,
					Link: ep.Link, LinkName: name(ep.Link),
					Winner: sideView(c.Winner, name), Loser: sideView(c.Loser, name),
					Policy: policy, Held: open && policy == engine.PolicyHold,
				}
				if ep.Settled != nil {
					v.Settled = &api.ConflictSettled{ConflictSide: sideView(*ep.Settled, name), How: ep.How}
				}
				out = append(out, v)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b api.ConflictView) int { return b.Time.Compare(a.Time) })
	return out, err
}

// Resolve settles an open conflict (issuemesh resolve KEY FIELD --keep).
func (b adminBackend) Resolve(ctx context.Context, in api.ResolveInput) (api.ResolveResult, error) {
	r, err := b.n.eng.Resolve(ctx, in.Key, in.Field, in.Keep)
	if errors.Is(err, engine.ErrBadRequest) {
		err = badRequest{err}
	}
	if err != nil {
		return api.ResolveResult{}, err
	}
	name := peerNamer(b.n.store)
	return api.ResolveResult{Key: r.Key, Field: r.Field, Link: string(r.Link), LinkName: name(string(r.Link)),
		Kept: sideView(r.Value, name), Conflict: r.Conflict.ID()}, nil
}

// badRequest is an engine's refusal as the admin API's (a 400) with the
// engine's words.
type badRequest struct{ error }

func (e badRequest) Unwrap() []error { return []error{e.error, errBadRequest} }

func sideView(x replica.Side, name func(string) string) api.ConflictSide {
	return api.ConflictSide{Value: x.Text(), Peer: x.Clock.Peer, PeerName: name(x.Clock.Peer), Time: time.UnixMilli(x.Clock.Wall).UTC()}
}

// heldConflicts lists the conflicts held for a person, for status.
func heldConflicts(tx *store.Tx) ([]api.HeldConflict, error) {
	hs, err := engine.HeldConflicts(tx)
	var out []api.HeldConflict
	for _, h := range hs {
		out = append(out, api.HeldConflict{Key: h.Key, Field: h.Field, Link: string(h.Link)})
	}
	return out, err
}
