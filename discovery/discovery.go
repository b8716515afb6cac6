// Package discovery finds a node's allowlisted peers without a server
// (DESIGN 7). It owns no step of the sync path; it keeps the connections
// the send step needs: remembered addresses, mDNS, address exchange
// (/issuemesh/addrs/1.0.0), latency, relay candidates. The node's peers
// are consumed through Peers, defined here.
//
// A node finds its allowlisted peers by
//
//   - remembered addresses: the ones given to peer add or carried by an
//     invitation, and every address an allowlisted peer announces of itself
//     through libp2p's identify (its listen and relay addresses, scoped like
//     identify does: a public connection teaches public addresses only).
//     They are stored with the peer and re-added on start (at most
//     maxStoredAddrs per peer, the newest first);
//   - mDNS on the local network (config mdns, on by default), adding the
//     found addresses of allowlisted peers only; a node listening on
//     loopback only does not announce itself;
//   - address exchange: whenever it connects to an allowlisted peer, when a
//     peer is added, and every exchangeInterval while some peer is not
//     connected, a node asks its connected peers, over ProtoAddrs, for the
//     addresses they know of its other, unconnected allowlisted peers.
//     The answer holds only peers that the asker named and that the
//     answering node allowlists itself, at most maxExchangeAddrs addresses
//     each, in one frame of at most maxAddrsFrame bytes.
//
// NAT: a node behind NAT reserves relay slots on its allowlisted peers (see
// RelayCandidates; only public ones serve relays), is reachable through them
// by their circuit addresses, which spread by identify and address exchange,
// and go-libp2p's DCUtR then tries to upgrade to a direct connection.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/issuemesh/issuemesh/internal/framed"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

const (
	// exchangeInterval is how often a node with unconnected peers asks its
	// connected peers for their addresses, and how often it measures the
	// latency of its connected peers.
	exchangeInterval = 30 * time.Second
	// exchangeMinGap is the least time between two address requests to
	// the same peer.
	exchangeMinGap = 2 * time.Second
	// exchangeTimeout bounds one address request.
	exchangeTimeout = 10 * time.Second
	// exchangeAddrTTL is how long addresses learned from a peer or by mDNS
	// stay in the peerstore.
	exchangeAddrTTL = time.Hour
	// maxExchangePeers is the most peers one request may name.
	maxExchangePeers = 256
	// maxExchangeAddrs is the most addresses given per peer.
	maxExchangeAddrs = 16
	// maxAddrsFrame is the frame size limit of the address protocol.
	maxAddrsFrame = 64 << 10
	// maxStoredAddrs is the most addresses remembered per peer.
	maxStoredAddrs = 24
	// addrsVersion is the major version of the address protocol messages.
	addrsVersion = 1
)

// Peers is the node's peers as discovery uses them.
type Peers interface {
	// Remembered lists each allowlisted peer with the addresses
	// remembered for it.
	Remembered() map[peer.ID][]string
	// Remember tells that addrs are now a peer's remembered addresses.
	Remember(id peer.ID, addrs []string)
	// Retry makes the connector dial id soon, forgetting its backoff.
	Retry(id peer.ID)
}

// Config is what a Service needs.
type Config struct {
	Store *store.Store
	Allow *p2p.Allowlist
	Self  peer.ID
	Peers Peers
	// MDNS turns on mDNS on the local network.
	MDNS bool
	// Go starts a supervised service (the node's).
	Go  func(ctx context.Context, name string, fn func(context.Context) error)
	Log *slog.Logger
}

// Service is a node's discovery.
type Service struct {
	c     Config
	log   *slog.Logger
	self  peer.ID
	allow *p2p.Allowlist
	added chan peer.ID // peers just added: ask the connected peers about them

	mu       sync.Mutex
	h        host.Host // nil until Run
	reach    network.Reachability
	lastAsk  map[peer.ID]time.Time
	inflight map[peer.ID]bool
	mdns     bool // mDNS runs
}

// New returns a node's discovery; Run starts it.
func New(c Config) *Service {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		c: c, log: c.Log, self: c.Self, allow: c.Allow,
		added:    make(chan peer.ID, 64),
		lastAsk:  map[peer.ID]time.Time{},
		inflight: map[peer.ID]bool{},
	}
}

func (n *Service) goRun(ctx context.Context, name string, fn func(context.Context) error) {
	n.c.Go(ctx, name, fn)
}

func (n *Service) host() host.Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.h
}

// State is what discovery knows of the node's reachability, and whether
// mDNS runs.
func (n *Service) State() (network.Reachability, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reach, n.mdns
}

// PeerAdded tells the running discovery that a peer was allowlisted; it
// never blocks.
func (n *Service) PeerAdded(id peer.ID) {
	select {
	case n.added <- id:
	default:
	}
}

// Run registers the address protocol on h and starts the discovery
// services; they stop when ctx is done.
func (n *Service) Run(ctx context.Context, h host.Host) {
	n.mu.Lock()
	n.h = h
	n.mu.Unlock()
	p2p.Handle(h, n.allow, p2p.ProtoAddrs, n.log, n.handleAddrs)

	sub, err := h.EventBus().Subscribe([]any{
		new(event.EvtPeerConnectednessChanged),
		new(event.EvtPeerIdentificationCompleted),
		new(event.EvtLocalReachabilityChanged),
	}, eventbus.Name("issuemesh discovery"), eventbus.BufSize(256))
	if err != nil {
		n.log.Error("discovery: cannot subscribe to host events; peers are found by their stored addresses only", "err", err)
	}
	n.goRun(ctx, "discovery", func(ctx context.Context) error {
		if sub == nil {
			<-ctx.Done()
			return nil
		}
		defer sub.Close()
		return n.discoveryLoop(ctx, h, sub)
	})
	if n.c.MDNS {
		n.startMDNS(ctx, h)
	}
}

func (n *Service) discoveryLoop(ctx context.Context, h host.Host, sub event.Subscription) error {
	tick := time.NewTicker(exchangeInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.Out():
			if !ok {
				return nil
			}
			switch e := ev.(type) {
			case event.EvtPeerConnectednessChanged:
				if n.allow.Has(e.Peer) && (e.Connectedness == network.Connected || e.Connectedness == network.Limited) {
					n.askAbout(ctx, h, e.Peer, n.unconnectedPeers(h, e.Peer))
				}
			case event.EvtPeerIdentificationCompleted:
				if n.allow.Has(e.Peer) {
					n.LearnAddrs(ctx, e.Peer, e.ListenAddrs, e.Conn.RemoteMultiaddr())
					n.measureLatency(ctx, h, e.Peer)
				}
			case event.EvtLocalReachabilityChanged:
				n.mu.Lock()
				n.reach = e.Reachability
				n.mu.Unlock()
				n.log.Info("reachability changed", "reachability", e.Reachability.String())
			}
		case id := <-n.added:
			for _, q := range n.connectedPeers(h) {
				if q != id {
					n.askAbout(ctx, h, q, []peer.ID{id})
				}
			}
		case <-tick.C:
			connected := n.connectedPeers(h)
			for _, q := range connected {
				n.measureLatency(ctx, h, q)
				if missing := n.unconnectedPeers(h, q); len(missing) > 0 {
					n.askAbout(ctx, h, q, missing)
				}
			}
		}
	}
}

// connectedPeers lists the allowlisted peers h is connected to.
func (n *Service) connectedPeers(h host.Host) []peer.ID {
	var out []peer.ID
	for _, id := range n.allow.List() {
		if id != n.self && p2p.IsConnected(h, id) {
			out = append(out, id)
		}
	}
	return out
}

// unconnectedPeers lists the allowlisted peers other than except that h is
// not connected to.
func (n *Service) unconnectedPeers(h host.Host, except peer.ID) []peer.ID {
	var out []peer.ID
	for _, id := range n.allow.List() {
		if id != n.self && id != except && !p2p.IsConnected(h, id) {
			out = append(out, id)
		}
	}
	if len(out) > maxExchangePeers {
		out = out[:maxExchangePeers]
	}
	return out
}

// ---- address exchange ----

type addrsRequest struct {
	V     int      `msgpack:"v"`
	Peers []string `msgpack:"peers"`
}

type addrsResponse struct {
	V     int         `msgpack:"v"`
	Peers []peerAddrs `msgpack:"peers"`
	Error string      `msgpack:"error,omitempty"`
}

type peerAddrs struct {
	ID    string   `msgpack:"id"`
	Addrs []string `msgpack:"addrs"`
}

// askAbout asks q, in the background, for the addresses it knows of ids.
// At most one request per peer runs at a time, exchangeMinGap apart.
func (n *Service) askAbout(ctx context.Context, h host.Host, q peer.ID, ids []peer.ID) {
	if len(ids) == 0 {
		return
	}
	n.mu.Lock()
	if n.inflight[q] || time.Since(n.lastAsk[q]) < exchangeMinGap {
		n.mu.Unlock()
		return
	}
	n.inflight[q] = true
	n.lastAsk[q] = time.Now()
	n.mu.Unlock()
	n.goRun(ctx, "address exchange", func(ctx context.Context) error {
		defer func() {
			n.mu.Lock()
			delete(n.inflight, q)
			n.mu.Unlock()
		}()
		learned, err := n.exchange(ctx, h, q, ids)
		if err != nil {
			n.log.Debug("address exchange failed", "peer", q, "err", err)
			return nil
		}
		for id, addrs := range learned {
			h.Peerstore().AddAddrs(id, addrs, exchangeAddrTTL)
			if !p2p.IsConnected(h, id) {
				n.log.Debug("learned addresses of a peer from another peer", "peer", id, "from", q, "addrs", addrs)
				n.c.Peers.Retry(id)
			}
		}
		return nil
	})
}

// exchange asks q for the addresses of ids and returns the usable ones of
// the peers asked about.
func (n *Service) exchange(ctx context.Context, h host.Host, q peer.ID, ids []peer.ID) (map[peer.ID][]ma.Multiaddr, error) {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	req := addrsRequest{V: addrsVersion}
	asked := map[peer.ID]bool{}
	for _, id := range ids {
		req.Peers = append(req.Peers, id.String())
		asked[id] = true
	}
	var resp addrsResponse
	if err := framed.Call(ctx, h, q, p2p.ProtoAddrs, &req, &resp, maxAddrsFrame); err != nil {
		return nil, err
	}
	if resp.V != addrsVersion {
		return nil, fmt.Errorf("address answer of version %d: %w", resp.V, replica.ErrVersion)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("peer refused: %s", resp.Error)
	}
	out := map[peer.ID][]ma.Multiaddr{}
	for _, pa := range resp.Peers {
		id, err := peer.Decode(pa.ID)
		if err != nil || !asked[id] || !n.allow.Has(id) {
			continue
		}
		var ms []ma.Multiaddr
		for _, s := range pa.Addrs {
			if m, err := ma.NewMultiaddr(s); err == nil {
				ms = append(ms, m)
			}
		}
		if ms = p2p.UsableAddrs(ms, nil, n.self, maxExchangeAddrs); len(ms) > 0 {
			out[id] = ms
		}
	}
	return out, nil
}

// handleAddrs answers an allowlisted peer's address request with what this
// node knows of the peers it names and allowlists itself.
func (n *Service) handleAddrs(s network.Stream) {
	defer s.Close()
	remote := s.Conn().RemotePeer()
	s.SetDeadline(time.Now().Add(exchangeTimeout))
	var req addrsRequest
	if err := framed.Read(s, maxAddrsFrame, &req); err != nil {
		n.log.Warn("bad address request; closing the stream", "peer", remote, "err", err)
		s.Reset()
		return
	}
	resp := addrsResponse{V: addrsVersion}
	switch {
	case req.V != addrsVersion:
		resp.Error = fmt.Sprintf("address request of version %d: this node speaks version %d", req.V, addrsVersion)
	case len(req.Peers) > maxExchangePeers:
		resp.Error = fmt.Sprintf("address request names %d peers, more than the limit of %d", len(req.Peers), maxExchangePeers)
	default:
		h := n.host()
		size := 16
		for _, ps := range req.Peers {
			id, err := peer.Decode(ps)
			if err != nil || id == remote || id == n.self || !n.allow.Has(id) || h == nil {
				continue
			}
			pa := peerAddrs{ID: id.String()}
			for _, a := range p2p.UsableAddrs(h.Peerstore().Addrs(id), nil, remote, maxExchangeAddrs) {
				pa.Addrs = append(pa.Addrs, a.String())
				size += len(a.String()) + 8
			}
			size += len(pa.ID) + 8
			if size > maxAddrsFrame-1024 {
				break // the rest would not fit in one frame
			}
			if len(pa.Addrs) > 0 {
				resp.Peers = append(resp.Peers, pa)
			}
		}
	}
	if err := framed.Write(s, &resp); err != nil {
		n.log.Debug("answering an address request failed", "peer", remote, "err", err)
		s.Reset()
		return
	}
	s.CloseWrite()
}

// ---- remembered addresses ----

// LearnAddrs remembers the addresses an allowlisted peer announced of
// itself (identify), scoped by the address they were learned over. Only new
// addresses cause a write; the newest come first and at most
// maxStoredAddrs are kept.
func (n *Service) LearnAddrs(ctx context.Context, id peer.ID, announced []ma.Multiaddr, over ma.Multiaddr) {
	fresh := p2p.UsableAddrs(announced, over, n.self, maxStoredAddrs)
	if len(fresh) == 0 {
		return
	}
	var saved store.Peer
	changed := false
	err := n.c.Store.Update(ctx, func(tx *store.Tx) error {
		changed = false
		p, err := tx.GetPeer(id.String())
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil // removed meanwhile
			}
			return err
		}
		merged := make([]string, 0, maxStoredAddrs)
		for _, a := range fresh {
			s := a.String()
			if !slices.Contains(p.Addrs, s) {
				changed = true
			}
			merged = append(merged, s)
		}
		if !changed {
			return nil
		}
		for _, s := range p.Addrs {
			if len(merged) >= maxStoredAddrs {
				break
			}
			if !slices.Contains(merged, s) {
				merged = append(merged, s)
			}
		}
		p.Addrs = merged
		saved = p
		return tx.PutPeer(p)
	})
	if err != nil {
		n.log.Warn("could not remember a peer's addresses", "peer", id, "err", err)
		return
	}
	if !changed {
		return
	}
	n.c.Peers.Remember(id, saved.Addrs)
	n.log.Debug("remembered new addresses of a peer", "peer", id, "addrs", saved.Addrs)
}

// ---- latency ----

// measureLatency pings id once in the background; libp2p's ping records
// the round trip in the peerstore (LatencyEWMA), which peer list shows.
func (n *Service) measureLatency(ctx context.Context, h host.Host, id peer.ID) {
	n.goRun(ctx, "ping", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "issuemesh latency"), exchangeTimeout)
		defer cancel()
		if res, ok := <-ping.Ping(ctx, h, id); ok && res.Error != nil {
			n.log.Debug("ping failed", "peer", id, "err", res.Error)
		}
		return nil
	})
}

// ---- mDNS ----

type mdnsNotifee struct {
	n *Service
	h host.Host
}

// HandlePeerFound adds the addresses of an allowlisted peer found on the
// LAN; others are ignored.
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.self || !n.allow.Has(ai.ID) {
		return
	}
	addrs := p2p.UsableAddrs(ai.Addrs, nil, n.self, maxExchangeAddrs)
	if len(addrs) == 0 {
		return
	}
	m.h.Peerstore().AddAddrs(ai.ID, addrs, exchangeAddrTTL)
	if !p2p.IsConnected(m.h, ai.ID) {
		n.log.Info("found a peer on the local network", "peer", ai.ID, "addrs", addrs)
		n.c.Peers.Retry(ai.ID)
	}
}

// startMDNS announces the node on the LAN and listens for its peers, unless
// it listens on loopback only (then there is nothing to announce, and no
// query should leave the machine).
func (n *Service) startMDNS(ctx context.Context, h host.Host) {
	ifaddrs, err := h.Network().InterfaceListenAddresses()
	if err != nil || !slices.ContainsFunc(ifaddrs, func(a ma.Multiaddr) bool {
		return !manet.IsIPLoopback(a) && !manet.IsIP6LinkLocal(a)
	}) {
		n.log.Debug("mDNS off: the node listens on loopback only")
		return
	}
	svc := mdns.NewMdnsService(h, "", mdnsNotifee{n, h})
	if err := svc.Start(); err != nil {
		n.log.Warn("mDNS could not start; peers on the LAN are not found by it", "err", err)
		return
	}
	n.mu.Lock()
	n.mdns = true
	n.mu.Unlock()
	n.goRun(ctx, "mdns", func(ctx context.Context) error {
		<-ctx.Done()
		return svc.Close()
	})
}

// ---- relays ----

// RelayCandidates is autorelay's source of relays: the allowlisted peers
// with their remembered and known direct addresses, those known to serve
// the relay protocol first. A node behind NAT reserves a slot on them; only
// peers with public reachability accept. Called from libp2p's goroutines.
func (n *Service) RelayCandidates() []peer.AddrInfo {
	h := n.host()
	type cand struct {
		ai  peer.AddrInfo
		hop bool
	}
	var cs []cand
	for id, stored := range n.c.Peers.Remembered() {
		var addrs []ma.Multiaddr
		for _, s := range stored {
			if m, err := ma.NewMultiaddr(s); err == nil {
				addrs = append(addrs, m)
			}
		}
		c := cand{ai: peer.AddrInfo{ID: id}}
		if h != nil {
			addrs = append(addrs, h.Peerstore().Addrs(id)...)
			if ok, _ := h.Peerstore().SupportsProtocols(id, proto.ProtoIDv2Hop); len(ok) > 0 {
				c.hop = true
			}
		}
		for _, a := range p2p.UsableAddrs(addrs, nil, n.self, 0) {
			if !p2p.IsRelayedAddr(a) {
				c.ai.Addrs = append(c.ai.Addrs, a)
			}
		}
		if len(c.ai.Addrs) > 0 {
			cs = append(cs, c)
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		switch {
		case a.hop == b.hop:
			return 0
		case a.hop:
			return -1
		default:
			return 1
		}
	})
	out := make([]peer.AddrInfo, len(cs))
	for i, c := range cs {
		out[i] = c.ai
	}
	return out
}
