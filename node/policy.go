package node

import (
	"context"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/config"
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

// ownership is a network link's owned fields and their owner.
type ownership struct {
	owner  string   // peer ID; "" while the configured owner is no known member
	fields []string // sorted
}

func (o ownership) active() bool { return len(o.fields) > 0 }

// ownershipOf returns the field policy of a link: none for a peer or a
// network without owned fields.
func (n *Node) ownershipOf(link string) ownership {
	if !isNetLink(link) {
		return ownership{}
	}
	// The record is read only for a policy that needs the members: this
	// runs for every event.
	var rec *store.Network
	load := func() bool {
		err := n.store.View(func(tx *store.Tx) (err error) { rec, err = tx.GetNetwork(link[len(netPrefix):]); return })
		return err == nil
	}
	var name string
	if ns := n.netByID(link[len(netPrefix):]); ns != nil {
		name = ns.name
	} else if load() {
		name = rec.Name
	} else {
		return ownership{}
	}
	conn := n.conf().NetworkConnection(name)
	var o ownership
	for f, p := range conn.Policy {
		if p == config.PolicyOwner {
			o.fields = append(o.fields, f)
		}
	}
	if !o.active() {
		return ownership{}
	}
	slices.Sort(o.fields)
	if id, err := peer.Decode(conn.Owner); err == nil {
		o.owner = id.String()
	} else if rec != nil || load() {
		for _, m := range rec.Members {
			if m.Name == conn.Owner {
				o.owner = m.ID
			}
		}
	}
	if o.owner == "" {
		n.log.Warn("the owner of a network's owned fields is no member; nobody's edits of them count", "network", name, "owner", conn.Owner, "fields", o.fields)
	}
	return o
}

// ownerships returns the policy of each network link among links.
func (n *Node) ownerships(links []string) map[string]ownership {
	out := map[string]ownership{}
	for _, l := range links {
		if o := n.ownershipOf(l); o.active() {
			out[l] = o
		}
	}
	return out
}

// filter drops from a received replica the edits of owned fields made by
// anyone but the owner (of a set, the elements).
func (o ownership) filter(r replica.Replica) replica.Replica {
	if !o.active() {
		return r
	}
	var out replica.Replica
	copied := false
	for _, f := range o.fields {
		v, ok := r.Fields[f]
		if !ok || (v.Clock.Peer == o.owner && o.owner != "" && len(v.E) == 0) {
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
			if el.Clock.Peer == o.owner && o.owner != "" {
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
func (o ownership) keepOwned(self string, out, baseline replica.Replica) (replica.Replica, []string) {
	if !o.active() || self == o.owner {
		return out, nil
	}
	var reverted []string
	copied := false
	for _, f := range o.fields {
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
	link, twin, key string
	fields          []string
}

// restoreOwned sets the owned fields of an issue back to the network's
// agreed (the owner's) values. The caller (share) holds the twin's lock.
func (n *Node) restoreOwned(ctx context.Context, r ownedRestore) {
	var agreed replica.Replica
	err := n.store.View(func(tx *store.Tx) error {
		tw, err := tx.GetTwin(r.twin)
		if err == nil && tw.Links[r.link] != nil {
			agreed = tw.Links[r.link].Agreed.Clone()
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
	set, _, err := n.linkRules(r.link)
	if err != nil {
		return
	}
	is, err := n.tracker.Get(ctx, r.key)
	if err != nil {
		return
	}
	res, err := set.Incoming(rules.Incoming{Replica: agreed, Changed: ch, Issue: &is, Previous: &agreed})
	if err != nil || res.Skip || res.Patch.Empty() {
		return
	}
	updated, err := n.tracker.Update(ctx, r.key, res.Patch)
	if err != nil {
		n.log.Warn("could not set owned fields back to the owner's values", "key", r.key, "fields", ch.Fields, "err", err)
		return
	}
	out, _, err := n.outgoingLink(r.link, updated)
	if err != nil {
		return
	}
	err = n.store.Update(ctx, func(tx *store.Tx) error {
		tw, err := tx.GetTwin(r.twin)
		if err != nil {
			return err
		}
		rebase(&tw.Link(r.link).Baseline, nil, out, ch)
		return tx.PutTwin(tw)
	})
	if err != nil {
		n.log.Warn("could not record the owned fields set back", "key", r.key, "err", err)
		return
	}
	n.log.Info("a local edit of fields owned by another member was undone", "key", r.key, "fields", ch.Fields)
}
