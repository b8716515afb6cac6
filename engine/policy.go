package engine

import (
	"context"
	"slices"

	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Field policies of a network (config: connections."net:<name>".policy and
// owner). By default the newest edit of a field wins. A field with the
// policy "owner" counts only the edits of the owner, a member named by peer
// ID or member name: every member drops the other members' edits of it from
// what it receives, and a member that is not the owner neither sends its own
// local edits of it nor keeps them: its tracker is set back to the owner's
// value. Until the owner sets such a field, a member's own value stays in its
// tracker alone. Every member must use the same policy, or they disagree.

// Ownership is a network link's owned fields and their owner.
type Ownership struct {
	Owner  string   // peer ID; "" while the configured owner is no known member
	Fields []string // sorted
}

func (o Ownership) active() bool { return len(o.Fields) > 0 }

// filter drops from a received replica the edits of owned fields made by
// anyone but the owner (of a set, the elements).
func (o Ownership) filter(r replica.Replica) replica.Replica {
	if !o.active() {
		return r
	}
	var out replica.Replica
	copied := false
	for _, f := range o.Fields {
		v, ok := r.Fields[f]
		if !ok || (v.Clock.Peer == o.Owner && o.Owner != "" && len(v.E) == 0) {
			continue
		}
		if !copied {
			out, copied = r.Clone(), true
		}
		if len(v.E) == 0 {
			delete(out.Fields, f)
			continue
		}
		kept := map[string]replica.Elem{}
		var clock replica.Clock
		for e, el := range v.E {
			if el.Clock.Peer == o.Owner && o.Owner != "" {
				kept[e] = el
				if clock.Less(el.Clock) {
					clock = el.Clock
				}
			}
		}
		if len(kept) == 0 {
			delete(out.Fields, f)
			continue
		}
		v.E, v.Clock, v.L = kept, clock, nil
		out.Fields[f] = v
	}
	if !copied {
		return r
	}
	return out
}

// keepOwned makes a member that is not the owner leave owned fields as the
// baseline has them in its outgoing replica, so that its own edits are not
// sent; it returns the owned fields that this member's issue has changed.
func (o Ownership) keepOwned(self string, out, baseline replica.Replica) (replica.Replica, []string) {
	if !o.active() || self == o.Owner {
		return out, nil
	}
	var reverted []string
	copied := false
	for _, f := range o.Fields {
		v, ok := out.Fields[f]
		b, had := baseline.Fields[f]
		if ok == had && v.S == b.S && slices.Equal(v.L, b.L) {
			continue
		}
		if !copied {
			out, copied = out.Clone(), true
		}
		if had {
			out.Fields[f] = b
		} else {
			delete(out.Fields, f)
		}
		if ok {
			reverted = append(reverted, f)
		}
	}
	return out, reverted
}

// ownedRestore is a local edit of owned fields by a member that is not
// their owner, to be undone.
type ownedRestore struct {
	link      LinkKey
	twin, key string
	fields    []string
}

// restoreOwned sets the owned fields of an issue back to the network's
// agreed (the owner's) values. The caller (share) holds the twin's lock.
func (e *Engine) restoreOwned(ctx context.Context, r ownedRestore) {
	var agreed replica.Replica
	err := e.cfg.Store.View(func(tx *store.Tx) error {
		tw, err := tx.GetTwin(r.twin)
		if err == nil && tw.Links[string(r.link)] != nil {
			agreed = tw.Links[string(r.link)].Agreed.Clone()
		}
		return err
	})
	if err != nil {
		return
	}
	var ch replica.Changes
	for _, f := range r.fields {
		if _, ok := agreed.Fields[f]; ok {
			ch.Fields = append(ch.Fields, f)
		}
	}
	if len(ch.Fields) == 0 {
		return // the owner has not set them: the local value stays here
	}
	set, err := e.cfg.Rules.Incoming(r.link)
	if err != nil {
		return
	}
	is, err := e.cfg.Tracker.Get(ctx, r.key)
	if err != nil {
		return
	}
	res, err := set.Incoming(rules.Incoming{Replica: agreed, Changed: ch, Issue: &is, Previous: &agreed})
	if err != nil || res.Skip || res.Patch.Empty() {
		return
	}
	updated, err := e.cfg.Tracker.Update(ctx, r.key, res.Patch)
	e.fresh.written(r.twin)
	if err != nil {
		e.log.Warn("could not set owned fields back to the owner's values", "key", r.key, "fields", ch.Fields, "err", err)
		return
	}
	out, _, err := e.cfg.Rules.Outgoing(r.link, updated)
	if err != nil {
		return
	}
	err = e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		tw, err := tx.GetTwin(r.twin)
		if err != nil {
			return err
		}
		rebase(&tw.Link(string(r.link)).Baseline, nil, out, ch)
		return tx.PutTwin(tw)
	})
	if err != nil {
		e.log.Warn("could not record the owned fields set back", "key", r.key, "err", err)
		return
	}
	e.log.Info("a local edit of fields owned by another member was undone", "key", r.key, "fields", ch.Fields)
}
