package p2p

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Handle registers fn as h's handler for proto. Streams from peers that are
// not on a are reset before fn sees them (defence in depth behind the
// gater; it also covers peers removed while connected), and the refusal is
// logged at warn once per peer. Accepted streams are put in the ServiceName
// resource-manager scope; fn then owns the stream and must Close or Reset
// it. A nil logger discards logs.
func Handle(h host.Host, a *Allowlist, proto protocol.ID, log *slog.Logger, fn func(network.Stream)) {
	log = orDiscard(log)
	refused := newSeenSet(seenCapacity)
	h.SetStreamHandler(proto, func(s network.Stream) {
		remote := s.Conn().RemotePeer()
		if !a.Has(remote) {
			level := slog.LevelDebug
			if refused.first(remote) {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "refused stream from peer not on the allowlist",
				"peer", remote, "protocol", string(proto), "addr", s.Conn().RemoteMultiaddr().String())
			_ = s.Reset()
			return
		}
		if err := s.Scope().SetService(ServiceName); err != nil {
			log.Warn("refused stream: resource limit reached",
				"peer", remote, "protocol", string(proto), "service", ServiceName, "err", err)
			_ = s.Reset()
			return
		}
		fn(s)
	})
}

// HandlePair registers fn as h's handler for ProtoPair. Unlike [Handle] it
// serves peers that are not on a, but only while pairing has an open
// invitation (such peers can only be connected then, see [Pairing]);
// allowlisted peers are always served. fn proves the invitation's secret
// itself. Streams are put in the ServiceName scope; fn owns the stream. A
// stranger's stream that ends without the peer on a counts as a failed
// attempt of that peer (see [Pairing]).
func HandlePair(h host.Host, a *Allowlist, pairing *Pairing, log *slog.Logger, fn func(network.Stream)) {
	log = orDiscard(log)
	h.SetStreamHandler(ProtoPair, func(s network.Stream) {
		remote := s.Conn().RemotePeer()
		if !a.Has(remote) && !pairing.Open() {
			log.Warn("refused a pair stream: no invitation is open", "peer", remote, "addr", s.Conn().RemoteMultiaddr().String())
			_ = s.Reset()
			return
		}
		if err := s.Scope().SetService(ServiceName); err != nil {
			log.Warn("refused stream: resource limit reached",
				"peer", remote, "protocol", string(ProtoPair), "service", ServiceName, "err", err)
			_ = s.Reset()
			return
		}
		if a.Has(remote) {
			fn(s)
			return
		}
		// A stranger's stream is its attempt to pair: one at a time, it
		// protects its place while it runs and fails unless it got the
		// peer allowlisted.
		if !pairing.beginProof(remote) {
			log.Warn("refused a pair stream: the peer already has one running", "peer", remote, "addr", s.Conn().RemoteMultiaddr().String())
			_ = s.Reset()
			return
		}
		defer func() { pairing.endProof(remote, a.Has(remote)) }()
		fn(s)
	})
}

// OpenStream opens a proto stream to peer id, connecting if needed, and puts
// it in the ServiceName resource-manager scope. Limited (relayed)
// connections may be used, so keep such streams to small control traffic.
// The caller owns the stream: set a deadline, then Close or Reset it.
func OpenStream(ctx context.Context, h host.Host, id peer.ID, proto protocol.ID) (network.Stream, error) {
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, string(proto)), id, proto)
	if err != nil {
		return nil, fmt.Errorf("open %s stream to peer %s: %w", proto, id, err)
	}
	if err := s.Scope().SetService(ServiceName); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("open %s stream to peer %s: resource limit of service %q: %w", proto, id, ServiceName, err)
	}
	return s, nil
}
