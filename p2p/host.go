package p2p

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Reachability settings accepted in Config.Reachability.
const (
	ReachabilityAuto    = "auto"
	ReachabilityPublic  = "public"
	ReachabilityPrivate = "private"
)

// defaultListen is used when Config.Listen is empty: TCP and QUIC on every
// interface, IPv4 and IPv6, on ports chosen by the system.
func defaultListen() []string {
	return []string{
		"/ip4/0.0.0.0/tcp/0",
		"/ip4/0.0.0.0/udp/0/quic-v1",
		"/ip6/::/tcp/0",
		"/ip6/::/udp/0/quic-v1",
	}
}

// Connection manager watermarks: go-libp2p's defaults. Allowlisted peers
// are protected by the Connector and never trimmed.
const (
	connLowWater  = 160
	connHighWater = 192
)

// Autorelay tuning for a small mesh of static relays: reserve as soon as
// one candidate is known, and retry a failed relay after a minute rather
// than go-libp2p's default hour.
const (
	relayRetryBackoff   = time.Minute
	relaySourceInterval = 10 * time.Second
)

// Config configures NewHost.
type Config struct {
	// Key is the node's identity (see LoadOrCreateIdentity). Required.
	Key crypto.PrivKey
	// Listen holds multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001 and
	// /ip4/0.0.0.0/udp/4001/quic-v1. Empty means TCP and QUIC on every interface
	// (IPv4 and IPv6) on ports chosen by the system.
	Listen []string
	// Allow is the allowlist enforced by the connection gater and the relay
	// service. Required.
	Allow *Allowlist
	// Reachability is "auto" (or empty), "public" or "private"; see the
	// package documentation.
	Reachability string
	// NATPortMap asks the router for a port mapping (UPnP / NAT-PMP).
	NATPortMap bool
	// Relays returns candidate static relays for autorelay: allowlisted
	// peers with public reachability. It is called from libp2p's goroutines
	// whenever relay candidates are needed, so it must be fast and safe for
	// concurrent use. Candidates not on the allowlist are skipped. May be nil
	// (no autorelay).
	Relays func() []peer.AddrInfo
	// Pairing, when set, lets peers that are not allowlisted connect while
	// an invitation is open or being accepted (see Pairing). Nil: only
	// allowlisted peers, ever.
	Pairing *Pairing
	// Logger receives the host's logs; nil discards them.
	Logger *slog.Logger
}

// Relay service limits (see RelayResources).
const (
	// RelayConnDuration is how long one relayed connection may last before
	// the relay resets it (go-libp2p's default: 2 minutes).
	RelayConnDuration = time.Hour
	// RelayConnData is how many bytes one relayed connection may carry in
	// each direction before the relay resets it (default: 128 KiB).
	RelayConnData = 64 << 20
	// relayBuffer is the copy buffer per relayed direction (default 2 KiB).
	relayBuffer = 16 << 10
)

// RelayResources are the circuit relay v2 service limits of a public node.
// go-libp2p's defaults (2 minutes and 128 KiB per relayed connection) suit
// strangers using a public relay only to start hole punching; issuemesh
// relays for its allowlisted peers only (see relayACL), and sync data falls
// back to the relay when hole punching fails (a symmetric NAT), so a relayed
// connection may last an hour and carry 64 MiB each way. When a limit is
// reached the relay resets the connection and the Connector dials again
// through the relay, so the limits bound the cost of one connection, not
// what can be synced. Relayed connections stay "limited" (streams need
// OpenStream). Slots: 128 reservations, 16 circuits per peer, and up to 32
// reservations from one IP address (an office of peers behind one NAT).
func RelayResources() relayv2.Resources {
	rc := relayv2.DefaultResources()
	rc.Limit = &relayv2.RelayLimit{Duration: RelayConnDuration, Data: RelayConnData}
	rc.BufferSize = relayBuffer
	rc.MaxReservationsPerIP = 32
	rc.MaxReservationsPerASN = 128
	return rc
}

// NewHost builds and starts a libp2p host: TCP and QUIC transports, Noise
// and TLS security, the allowlist gater, a connection manager, the relay
// client, hole punching, the default resource manager, the circuit relay
// service for allowlisted peers (unless reachability is "private"; it runs
// only while the host is publicly reachable), autorelay over cfg.Relays,
// and forced reachability as configured. Close the host to stop it.
func NewHost(cfg Config) (host.Host, error) {
	if cfg.Key == nil {
		return nil, errors.New("p2p host config: no identity key (Config.Key is nil)")
	}
	if cfg.Allow == nil {
		return nil, errors.New("p2p host config: no allowlist (Config.Allow is nil)")
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("p2p host config: derive peer ID from identity key: %w", err)
	}
	log := orDiscard(cfg.Logger)

	listen := cfg.Listen
	if len(listen) == 0 {
		listen = defaultListen()
	}
	for _, s := range listen {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return nil, fmt.Errorf("p2p host config: listen address %q is not a valid multiaddr: %w", s, err)
		}
	}

	gater := NewGater(cfg.Allow, log)
	if cfg.Pairing != nil {
		cfg.Pairing.bind(cfg.Allow, log)
		gater.pairing = cfg.Pairing
	}
	relayOpts := []relayv2.Option{relayv2.WithACL(relayACL{cfg.Allow}), relayv2.WithResources(RelayResources())}

	cm, err := connmgr.NewConnManager(connLowWater, connHighWater)
	if err != nil {
		return nil, fmt.Errorf("create connection manager: %w", err)
	}

	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(tls.ID, tls.New),
		libp2p.ConnectionGater(gater),
		libp2p.ConnectionManager(cm),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
	}

	reach := cfg.Reachability
	switch reach {
	case "", ReachabilityAuto:
		reach = ReachabilityAuto
		opts = append(opts, libp2p.EnableRelayService(relayOpts...))
	case ReachabilityPublic:
		opts = append(opts,
			libp2p.ForceReachabilityPublic(),
			libp2p.EnableRelayService(relayOpts...))
	case ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	default:
		return nil, fmt.Errorf("p2p host config: reachability %q is not one of %q, %q, %q",
			cfg.Reachability, ReachabilityAuto, ReachabilityPublic, ReachabilityPrivate)
	}

	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	if cfg.Relays != nil {
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(
			relaySource(self, cfg.Allow, cfg.Relays),
			autorelay.WithMinCandidates(1),
			autorelay.WithBackoff(relayRetryBackoff),
			autorelay.WithMinInterval(relaySourceInterval),
		))
	}

	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host on %s: %w", strings.Join(listen, ", "), err)
	}
	if cfg.Pairing != nil {
		cfg.Pairing.attach(h)
	}
	log.Info("p2p host started", "peer", h.ID(), "reachability", reach,
		"addrs", FullAddrs(h), "static_relays", cfg.Relays != nil, "nat_port_map", cfg.NATPortMap)
	return h, nil
}

// relayACL lets the circuit relay service serve allowlisted peers only.
type relayACL struct{ allow *Allowlist }

var _ relayv2.ACLFilter = relayACL{}

func (a relayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool { return a.allow.Has(p) }

func (a relayACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	return a.allow.Has(src) && a.allow.Has(dest)
}

// relaySource adapts a list function to autorelay's PeerSource: it sends
// at most num allowlisted candidates other than self, then closes.
func relaySource(self peer.ID, allow *Allowlist, relays func() []peer.AddrInfo) autorelay.PeerSource {
	return func(_ context.Context, num int) <-chan peer.AddrInfo {
		var picked []peer.AddrInfo
		for _, ai := range relays() {
			if len(picked) >= num {
				break
			}
			if ai.ID == "" || ai.ID == self || !allow.Has(ai.ID) {
				continue
			}
			picked = append(picked, ai)
		}
		out := make(chan peer.AddrInfo, len(picked))
		for _, ai := range picked {
			out <- ai
		}
		close(out)
		return out
	}
}

// FullAddrs returns every address of h with /p2p/<id> appended: the listen
// addresses expanded to each interface (loopback included) plus the
// addresses the host advertises (observed, mapped and relay addresses).
// The order is stable: public, then private, then loopback, then relayed
// addresses, each group sorted as strings.
func FullAddrs(h host.Host) []string {
	suffix, err := ma.NewComponent("p2p", h.ID().String())
	if err != nil {
		return nil // cannot happen for a valid host ID
	}
	var addrs []ma.Multiaddr
	if ifaddrs, err := h.Network().InterfaceListenAddresses(); err == nil {
		addrs = append(addrs, ifaddrs...)
	}
	addrs = append(addrs, h.Addrs()...)

	type ranked struct {
		rank int
		s    string
	}
	seen := make(map[string]bool)
	var out []ranked
	for _, a := range addrs {
		if manet.IsIP6LinkLocal(a) || manet.IsIPUnspecified(a) {
			continue
		}
		if strings.HasPrefix(a.String(), "/p2p-circuit") {
			continue // a relay client's placeholder, not reachable by itself
		}
		if _, id := peer.SplitAddr(a); id == "" {
			a = a.Encapsulate(suffix.Multiaddr())
		}
		s := a.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, ranked{addrRank(a), s})
	}
	slices.SortStableFunc(out, func(x, y ranked) int {
		return cmp.Or(cmp.Compare(x.rank, y.rank), strings.Compare(x.s, y.s))
	})
	res := make([]string, len(out))
	for i, r := range out {
		res[i] = r.s
	}
	return res
}

func addrRank(a ma.Multiaddr) int {
	switch {
	case isRelayed(a):
		return 3
	case manet.IsIPLoopback(a):
		return 2
	case manet.IsPublicAddr(a):
		return 0
	default:
		return 1
	}
}

func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// ParsePeerAddr parses a peer address: a multiaddr ending in /p2p/<peer ID>,
// such as /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW... A bare /p2p/<peer ID>
// yields an AddrInfo without addresses.
func ParsePeerAddr(s string) (peer.AddrInfo, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return peer.AddrInfo{}, errors.New("empty peer address: want a multiaddr ending in /p2p/<peer ID>")
	}
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q is not a valid multiaddr: %w", s, err)
	}
	transport, id := peer.SplitAddr(m)
	if id == "" {
		return peer.AddrInfo{}, fmt.Errorf("multiaddr has no /p2p/ component: %s (want .../p2p/<peer ID>)", s)
	}
	ai := peer.AddrInfo{ID: id}
	if len(transport) > 0 {
		ai.Addrs = []ma.Multiaddr{transport}
	}
	return ai, nil
}
