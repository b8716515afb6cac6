package p2p

import (
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Connection-manager tags that go-libp2p's relay code sets (v0.51): the
// relay client (autorelay) protects a relay it holds a reservation on, and
// the relay service tags a peer that holds a reservation on it.
const (
	autorelayTag   = "autorelay"
	reservationTag = "relay-reservation"
)

// IsRelayedAddr reports whether a is a circuit relay address.
func IsRelayedAddr(a ma.Multiaddr) bool { return isRelayed(a) }

// Reservations returns the peers on which h holds a relay reservation, so
// that peers can reach h through them; sorted.
func Reservations(h host.Host) []peer.ID {
	var out []peer.ID
	for _, id := range h.Network().Peers() {
		if h.ConnManager().IsProtected(id, autorelayTag) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Relaying returns the peers that hold a reservation on h's relay service;
// sorted.
func Relaying(h host.Host) []peer.ID {
	var out []peer.ID
	for _, id := range h.Network().Peers() {
		if ti := h.ConnManager().GetTagInfo(id); ti != nil && ti.Tags[reservationTag] > 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// HolePunchReady reports whether h serves DCUtR, which go-libp2p does once
// h knows a public address of its own (observed by a peer or configured).
func HolePunchReady(h host.Host) bool {
	return slices.Contains(h.Mux().Protocols(), holepunch.Protocol)
}

// ConnState describes h's connections to one peer.
type ConnState struct {
	Connected bool
	// Direct is true when at least one connection does not go through a
	// relay.
	Direct bool
	// Via is the remote address of the preferred connection (a direct one
	// if there is one).
	Via string
}

// PeerConn returns the state of h's connections to id.
func PeerConn(h host.Host, id peer.ID) ConnState {
	var st ConnState
	for _, c := range h.Network().ConnsToPeer(id) {
		if c.IsClosed() {
			continue
		}
		relayed := isRelayed(c.RemoteMultiaddr())
		if !st.Connected || (!st.Direct && !relayed) {
			st.Via = c.RemoteMultiaddr().String()
		}
		st.Connected = true
		st.Direct = st.Direct || !relayed
	}
	return st
}

// UsableAddrs returns the addresses of addrs worth telling others about or
// remembering: no unspecified or IPv6 link-local addresses, no /p2p/ suffix,
// no circuit through self (a peer relayed by self is dialled directly), no
// duplicates; when remote (the address that the addresses were learned
// over) is set, the same scoping as libp2p's identify: loopback addresses
// only when learned over loopback, private ones only when learned over a
// private or loopback address. Public, private, loopback and relayed
// addresses come in that order, at most max of them (max <= 0: all).
func UsableAddrs(addrs []ma.Multiaddr, remote ma.Multiaddr, self peer.ID, max int) []ma.Multiaddr {
	type ranked struct {
		rank int
		a    ma.Multiaddr
	}
	var out []ranked
	seen := map[string]bool{}
	for _, a := range addrs {
		if a == nil || manet.IsIP6LinkLocal(a) || manet.IsIPUnspecified(a) {
			continue
		}
		// Drop a trailing /p2p/<id> (but keep the relay's ID in a circuit).
		if last := a[len(a)-1]; last.Protocol().Code == ma.P_P2P {
			a = a[:len(a)-1]
			if len(a) == 0 {
				continue
			}
		}
		if isRelayed(a) && self != "" && strings.Contains(a.String(), "/p2p/"+self.String()+"/p2p-circuit") {
			continue
		}
		if remote != nil {
			switch {
			case manet.IsIPLoopback(remote):
			case manet.IsPrivateAddr(remote):
				if manet.IsIPLoopback(a) {
					continue
				}
			case manet.IsPublicAddr(remote):
				if !manet.IsPublicAddr(a) {
					continue
				}
			}
		}
		s := a.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, ranked{addrRank(a), a})
	}
	slices.SortStableFunc(out, func(x, y ranked) int { return x.rank - y.rank })
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	res := make([]ma.Multiaddr, len(out))
	for i, r := range out {
		res[i] = r.a
	}
	return res
}

// IsConnected reports whether h has any connection to id, direct or
// relayed.
func IsConnected(h host.Host, id peer.ID) bool {
	switch h.Network().Connectedness(id) {
	case network.Connected, network.Limited:
		return true
	}
	return false
}
