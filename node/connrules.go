package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/connrules"
)

// Each link's rules are package connrules'; this file gives them the node
// as they see it.

func (n *Node) newRules() *connrules.Rules {
	return connrules.New(connrules.Config{Home: n.home, Self: n.self, Store: n.store, Node: rulesNode{n}, Log: n.log})
}

// rulesNode is the node as the rules see it (connrules.Node).
type rulesNode struct{ n *Node }

func (r rulesNode) Config() *config.Config { return r.n.live.current() }
func (r rulesNode) PeerIDs() []peer.ID     { return r.n.peerIDs() }
func (r rulesNode) PeerName(id peer.ID) string {
	if ps := r.n.peer(id); ps != nil {
		return ps.name()
	}
	return ""
}
func (r rulesNode) NetLinks() []string                    { return r.n.mesh.Links() }
func (r rulesNode) ResolvePeer(s string) (peer.ID, error) { return r.n.resolvePeer(s) }
func (r rulesNode) Issue(ctx context.Context, key string) (adapters.Issue, error) {
	return r.n.tracker.Get(ctx, key)
}
func (r rulesNode) NotesInExtra() bool { return adapters.KeepsExtraNotes(r.n.rawTracker) }
func (r rulesNode) Loaded(link string) {
	r.n.wakeLink(link)
	r.n.kickTrigger()
}
