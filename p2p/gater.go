package p2p

import (
	"context"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Gater is a connmgr.ConnectionGater that lets only allowlisted peers
// connect, in either direction. Outbound dials are refused before any
// packet is sent; inbound connections are refused right after the security
// handshake, when the remote peer ID has been authenticated. With a
// [Pairing], peers that are not allowlisted may also connect while an
// invitation is open (inbound) or while this node accepts one (outbound, to
// the inviter only).
type Gater struct {
	allow   *Allowlist
	log     *slog.Logger
	refused *seenSet
	pairing *Pairing // nil: allowlisted peers only
}

var _ connmgr.ConnectionGater = (*Gater)(nil)

// NewGater returns a gater that consults a on every decision, so changes to
// the allowlist apply to the next connection. A nil logger discards logs.
func NewGater(a *Allowlist, log *slog.Logger) *Gater {
	return &Gater{allow: a, log: orDiscard(log), refused: newSeenSet(seenCapacity)}
}

// InterceptPeerDial allows dialling allowlisted peers only.
func (g *Gater) InterceptPeerDial(p peer.ID) bool {
	if g.allow.Has(p) || g.pairing.dialAllowed(p) {
		return true
	}
	g.refuse(p, network.DirOutbound, nil)
	return false
}

// InterceptAddrDial allows dialling allowlisted peers only, on any address.
func (g *Gater) InterceptAddrDial(p peer.ID, addr ma.Multiaddr) bool {
	if g.allow.Has(p) || g.pairing.dialAllowed(p) {
		return true
	}
	g.refuse(p, network.DirOutbound, addr)
	return false
}

// InterceptAccept allows every inbound connection: the remote peer is not
// known until the security handshake, which InterceptSecured judges.
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured allows authenticated connections with allowlisted peers,
// inbound and outbound; and, with a Pairing, outbound connections to a peer
// whose invitation is being accepted and inbound connections from strangers
// while an invitation is open.
func (g *Gater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if g.allow.Has(p) {
		return true
	}
	if dir == network.DirOutbound && g.pairing.dialAllowed(p) {
		return true
	}
	if dir == network.DirInbound && g.pairing.admit(p, addrs.RemoteMultiaddr()) {
		g.log.Debug("admitted a peer not on the allowlist for pairing", "peer", p, "addr", addrs.RemoteMultiaddr().String())
		return true
	}
	g.refuse(p, dir, addrs.RemoteMultiaddr())
	return false
}

// InterceptUpgraded allows every connection that got this far.
func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// refuse logs a refusal: at warn the first time for a peer, at debug after.
func (g *Gater) refuse(p peer.ID, dir network.Direction, addr ma.Multiaddr) {
	level := slog.LevelDebug
	if g.refused.first(p) {
		level = slog.LevelWarn
	}
	attrs := []any{"peer", p, "direction", dir.String()}
	if addr != nil {
		attrs = append(attrs, "addr", addr.String())
	}
	g.log.Log(context.Background(), level, "refused connection with peer not on the allowlist", attrs...)
}

// orDiscard returns log, or a logger that discards everything if log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
