package node

import (
	"context"
	"fmt"
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/store"
)

// Peers by address (peer add), the node's addresses and its issues in
// pages. The admin API that calls them is package api; adminapi.go is the
// node's side of it.

// Addrs returns the node's full multiaddrs: the live ones while it runs,
// otherwise the configured listen addresses with unspecified IPs resolved
// to the machine's interfaces.
func (n *Node) Addrs() []string {
	if h := n.hostOrNil(); h != nil {
		return p2p.FullAddrs(h)
	}
	return ConfiguredAddrs(n.cfg.Listen, n.self)
}

// ConfiguredAddrs turns listen addresses into dialable full multiaddrs.
func ConfiguredAddrs(listen []string, id peer.ID) []string {
	var ms []ma.Multiaddr
	for _, a := range listen {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		ms = append(ms, m)
	}
	if resolved, err := manet.ResolveUnspecifiedAddresses(ms, nil); err == nil {
		ms = resolved
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.String()+"/p2p/"+id.String())
	}
	return out
}

// peerInfos is the peer list: the stored peers with their queues and,
// while the node runs, their connections.
func (b adminBackend) peerInfos() ([]PeerInfo, error) {
	n := b.n
	var stored []store.Peer
	var stats map[string]*store.QueueStat
	err := n.store.View(func(tx *store.Tx) error {
		var err error
		if stored, err = tx.Peers(); err != nil {
			return err
		}
		stats, err = tx.QueueStats()
		return err
	})
	if err != nil {
		return nil, err
	}
	h := n.hostOrNil()
	out := make([]PeerInfo, 0, len(stored))
	for _, p := range stored {
		pi := PeerInfo{ID: p.ID, Name: p.Name, Addrs: p.Addrs, Paused: p.Paused}
		if st := stats[p.ID]; st != nil {
			pi.Pending = st.Pending
		}
		livePeer(&pi, h)
		if id, err := peer.Decode(p.ID); err == nil {
			if ps := b.n.peer(id); ps != nil {
				ps.fillSendFailure(&pi)
			}
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].ID < out[j].Name+out[j].ID })
	return out, nil
}

// AddPeer allowlists the peer of a full multiaddr, remembers its address,
// connects (when running) and shares every existing issue with it.
func (n *Node) AddPeer(ctx context.Context, addr, name string) (store.Peer, error) {
	info, err := p2p.ParsePeerAddr(addr)
	if err != nil {
		return store.Peer{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if info.ID == n.self {
		return store.Peer{}, fmt.Errorf("%w: %s is this node's own address", errBadRequest, addr)
	}
	addrs := make([]string, len(info.Addrs))
	for i, a := range info.Addrs {
		addrs[i] = a.String()
	}
	p, err := n.admitPeer(ctx, info.ID, addrs, name, nil)
	if err != nil {
		return store.Peer{}, err
	}
	// Share every existing issue with the new peer. Links that exist
	// already send nothing, so adding a peer again is harmless.
	if err := n.shareAll(ctx, []peer.ID{info.ID}); err != nil {
		return p, fmt.Errorf("peer added, but sharing existing issues failed (they are shared on their next change): %w", err)
	}
	n.log.Info("peer added", "peer", info.ID, "name", p.Name, "addrs", p.Addrs)
	return p, nil
}

// shareAll shares every issue of the tracker with the given peers.
func (n *Node) shareAll(ctx context.Context, to []peer.ID) error {
	links := make([]string, len(to))
	for i, p := range to {
		links[i] = p.String()
	}
	return meshEngine{n}.ShareAll(ctx, links)
}
