package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/engine"
)

// The conflict policies of connections (engine/conflictpolicy.go) as the
// config names them (connections.<peer or net:name>.conflicts).

// nodeConflicts gives the engine the conflict policies of the node's links.
type nodeConflicts struct{ n *Node }

// ConflictPolicy returns the policy of a link's field: its connection
// entry's, else newest.
func (p nodeConflicts) ConflictPolicy(l engine.LinkKey, field string) string {
	c := p.n.connectionOf(l)
	if pol, ok := c.Conflicts[field]; ok {
		return pol
	}
	return config.ConflictNewest
}

// connectionOf returns the config entry of a link: a peer's by ID or name,
// a network's by its name.
func (n *Node) connectionOf(l engine.LinkKey) config.Connection {
	cfg := n.live.current()
	if l.IsNet() {
		name, ok := n.mesh.Running(string(l))
		if !ok {
			return config.Connection{}
		}
		return cfg.NetworkConnection(name)
	}
	id, err := peer.Decode(string(l))
	if err != nil {
		return config.Connection{}
	}
	return cfg.Connection(string(l), rulesNode{n}.PeerName(id))
}
