package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/mesh"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Networks are package mesh's; this file wires them to the node: the
// engine and the peers as mesh sees them, the admin API's calls, a
// network's rules.

// newMesh is package mesh as the node runs it.
func newMesh(n *Node) *mesh.Mesh {
	return mesh.New(mesh.Config{
		Store: n.store, Key: n.key, Self: n.self, HLC: n.hlc, Allow: n.allow, Log: n.log,
		Pairing: n.pair, Engine: meshEngine{n}, Peers: meshPeers{n},
		Go: n.goRun, Retry: n.retryLoop, Backoff: n.backoff,
		SyncInterval: n.opts.NetSyncInterval, Gossiped: n.metrics.gossiped,
	})
}

// meshEngine is the engine as networks use it (mesh.Engine).
type meshEngine struct{ n *Node }

func (e meshEngine) Share(ctx context.Context, keys, links []string) error {
	return e.n.shareLinks(ctx, keys, links)
}

// ShareAll shares every issue of the tracker with the given links.
func (e meshEngine) ShareAll(ctx context.Context, links []string) error {
	ls := make([]engine.LinkKey, len(links))
	for i, l := range links {
		ls[i] = engine.LinkKey(l)
	}
	return e.n.eng.ShareAll(ctx, ls)
}
func (e meshEngine) Apply(ctx context.Context, src string) error {
	return e.n.eng.ApplyPending(ctx, &engine.Source{Key: engine.SourceKey(src)})
}
func (e meshEngine) CheckClocks(ev *replica.Event) error { return clockChecker(e.n.cfg)(ev) }
func (e meshEngine) Refused(b store.Blocked)             { e.n.refused.add(b) }
func (e meshEngine) ForgetRules(link string)             { e.n.rules.Forget(link) }

// meshPeers is the node's peers as networks use them (mesh.Peers).
type meshPeers struct{ n *Node }

func (p meshPeers) IsPeer(id peer.ID) bool { return p.n.peer(id) != nil }
func (p meshPeers) Admitted(id peer.ID) {
	discPeers(p).Retry(id)
	p.n.disc.PeerAdded(id) // never blocks
}
func (p meshPeers) Addrs() []string { return p.n.Addrs() }
func (p meshPeers) Kick() {
	p.n.mu.Lock()
	c := p.n.connector
	p.n.mu.Unlock()
	if c != nil {
		c.Kick()
	}
}

// wakeLink wakes whatever sends a link's events: a peer's sender or a
// network's publisher.
func (n *Node) wakeLink(link string) {
	if isNetLink(link) {
		n.mesh.Wake(link)
		return
	}
	if id, err := peer.Decode(link); err == nil {
		n.peer(id).kickSend()
	}
}

// netTwinRefs lists, for issue show, the twin's key at each member of the
// network of link l (link key lk).
func netTwinRefs(m *mesh.Mesh, tx *store.Tx, lk string, l *store.Link) []TwinRef {
	var out []TwinRef
	for _, k := range m.TwinKeys(tx, lk, l) {
		out = append(out, TwinRef{Peer: k.Peer, PeerName: k.PeerName, Key: k.Key, Synced: k.Synced, Network: k.Network})
	}
	return out
}
