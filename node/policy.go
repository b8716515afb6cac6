package node

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/store"
)

// The field policies of networks (engine/policy.go) as the config names
// them: the engine asks for a link's through engine.Policies.

// nodePolicies gives the engine the field policies of the node's links.
type nodePolicies struct{ n *Node }

// Ownership returns the field policy of a link: none for a peer or a
// network without owned fields.
func (p nodePolicies) Ownership(l engine.LinkKey) engine.Ownership {
	n, link := p.n, string(l)
	if !isNetLink(link) {
		return engine.Ownership{}
	}
	// The record is read only for a policy that needs the members: this
	// runs for every event.
	var rec *store.Network
	load := func() bool {
		err := n.store.View(func(tx *store.Tx) (err error) { rec, err = tx.GetNetwork(link[len(netPrefix):]); return })
		return err == nil
	}
	var name string
	if running, ok := n.mesh.Running(link); ok {
		name = running
	} else if load() {
		name = rec.Name
	} else {
		return engine.Ownership{}
	}
	conn := n.live.current().NetworkConnection(name)
	var o engine.Ownership
	for f, p := range conn.Policy {
		if p == config.PolicyOwner {
			o.Fields = append(o.Fields, f)
		}
	}
	if len(o.Fields) == 0 {
		return engine.Ownership{}
	}
	slices.Sort(o.Fields)
	if id, err := peer.Decode(conn.Owner); err == nil {
		o.Owner = id.String()
	} else if rec != nil || load() {
		for _, m := range rec.Members {
			if m.Name == conn.Owner {
				o.Owner = m.ID
			}
		}
	}
	if o.Owner == "" {
		n.log.Warn("the owner of a network's owned fields is no member; nobody's edits of them count", "network", name, "owner", conn.Owner, "fields", o.Fields)
	}
	return o
}
