package node

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/discovery"
	"github.com/issuemesh/issuemesh/p2p"
)

// Peering is packages discovery's and pairing's; this file wires them to
// the node's peers and shows their state in status.

// newDiscovery is package discovery as the node runs it.
func newDiscovery(n *Node) *discovery.Service {
	return discovery.New(discovery.Config{
		Store: n.store, Allow: n.allow, Self: n.self, Peers: discPeers{n},
		MDNS: n.cfg.MDNS, Go: n.goRun, Log: n.log,
	})
}

// discPeers is the node's peers as discovery uses them.
type discPeers struct{ n *Node }

func (d discPeers) Remembered() map[peer.ID][]string {
	n := d.n
	n.mu.Lock()
	states := make([]*peerState, 0, len(n.peers))
	for _, ps := range n.peers {
		states = append(states, ps)
	}
	n.mu.Unlock()
	out := make(map[peer.ID][]string, len(states))
	for _, ps := range states {
		ps.mu.Lock()
		out[ps.id] = slices.Clone(ps.info.Addrs)
		ps.mu.Unlock()
	}
	return out
}

func (d discPeers) Remember(id peer.ID, addrs []string) {
	if ps := d.n.peer(id); ps != nil {
		ps.mu.Lock()
		ps.info.Addrs = addrs
		ps.mu.Unlock()
	}
}

// Retry makes the connector dial id soon, forgetting its backoff.
func (d discPeers) Retry(id peer.ID) {
	d.n.mu.Lock()
	c := d.n.connector
	d.n.mu.Unlock()
	if c != nil {
		c.Retry(id)
	}
}

// ---- status ----

// natStatus describes reachability, relays and invitations for status.
func (b adminBackend) natStatus() NATStatus {
	n := b.n
	st := NATStatus{Configured: n.cfg.Reachability, Reservations: []PeerRef{}, Relaying: []PeerRef{}}
	if invs, err := n.pair.Open(); err == nil {
		st.OpenInvitations = len(invs)
	}
	h := n.hostOrNil()
	if h == nil {
		st.Reachability = "not running"
		return st
	}
	reach, mdnsOn := n.disc.State()
	st.Reachability = reachName(reach)
	st.MDNS = mdnsOn
	st.HolePunching = p2p.HolePunchReady(h)
	for _, id := range p2p.Reservations(h) {
		st.Reservations = append(st.Reservations, peerRef(id, n.peer(id)))
	}
	for _, id := range p2p.Relaying(h) {
		st.Relaying = append(st.Relaying, peerRef(id, n.peer(id)))
	}
	return st
}

func reachName(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	default:
		return "unknown"
	}
}

// peerRef names peer id, with its name when ps (its state, or nil) has one.
func peerRef(id peer.ID, ps *peerState) PeerRef {
	ref := PeerRef{ID: id.String()}
	if ps != nil {
		ps.mu.Lock()
		ref.Name = ps.info.Name
		ps.mu.Unlock()
	}
	return ref
}

// livePeer fills in the connection state of one peer for peer list.
func livePeer(pi *PeerInfo, h host.Host) {
	id, err := peer.Decode(pi.ID)
	if err != nil || h == nil {
		return
	}
	cs := p2p.PeerConn(h, id)
	pi.Connected, pi.Relayed, pi.Via = cs.Connected, cs.Connected && !cs.Direct, cs.Via
	if l := h.Peerstore().LatencyEWMA(id); l > 0 && cs.Connected {
		pi.LatencyMS = float64(l.Microseconds()) / 1000
	}
}
