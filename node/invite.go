package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/store"
)

// Invitations (DESIGN 7): package pairing has the code, its checks and the
// pair protocol; this file is the node's side of it. The node's peers
// admit an acceptor (admitPeer, inside the write that claims the
// invitation) and, on the acceptor's side, the inviter; both then keep the
// connection and share their issues.

// badInvitation marks a refused invitation or code as the caller's
// mistake (HTTP 400), keeping its words.
func badInvitation(err error) error {
	if pairing.IsRefusal(err) {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return err
}

// Invite issues a single-use invitation valid for ttl. The accepting peer
// will be called name here.
func (n *Node) Invite(ctx context.Context, name string, ttl time.Duration) (InviteResult, error) {
	res, err := n.pair.Issue(ctx, name, ttl, "", "")
	return InviteResult(res), badInvitation(err)
}

// Accept pairs with the inviter of code: it proves the code's secret over
// the pair protocol and, once the inviter agreed, allowlists it under name
// (default "inviter"). The node must be running.
func (n *Node) Accept(ctx context.Context, code, name string) (store.Peer, error) {
	inv, err := pairing.Decode(code)
	if err != nil {
		return store.Peer{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if inv.Network != "" {
		return store.Peer{}, fmt.Errorf("%w: this code joins the network %q; accept it with 'issuemesh accept'", errBadRequest, inv.NetName)
	}
	h := n.hostOrNil()
	if h == nil {
		if err := inv.Check(n.self, time.Now()); err != nil {
			return store.Peer{}, badInvitation(err)
		}
		return store.Peer{}, fmt.Errorf("%w: the node is not running; start it with 'issuemesh run', then accept the invitation", errBadRequest)
	}
	if name == "" {
		name = "inviter"
	}
	var p store.Peer
	err = n.pair.Dial(ctx, h, inv, nil, "pair with it", func(pairing.Response) error {
		addrs := make([]string, len(inv.Addrs))
		for i, a := range inv.Addrs {
			addrs[i] = a.String()
		}
		var err error
		p, err = n.admitPeer(ctx, inv.Peer, addrs, name, nil)
		return err
	})
	if err != nil {
		return store.Peer{}, badInvitation(err)
	}
	n.log.Info("invitation accepted; the inviter is allowlisted", "peer", inv.Peer, "name", p.Name)
	if cs := p2p.PeerConn(h, inv.Peer); cs.Connected {
		via, _ := ma.NewMultiaddr(cs.Via)
		n.disc.LearnAddrs(ctx, inv.Peer, h.Peerstore().Addrs(inv.Peer), via)
	}
	if err := n.shareAll(ctx, []peer.ID{inv.Peer}); err != nil {
		return p, fmt.Errorf("paired, but sharing existing issues failed (they are shared on their next change): %w", err)
	}
	return p, nil
}

// nodePeers is the node's peer registry as package pairing sees it.
type nodePeers struct{ n *Node }

func (np nodePeers) AdmitPeer(ctx context.Context, id peer.ID, addrs []string, name string, inTx func(*store.Tx, *store.Peer) error) (store.Peer, error) {
	return np.n.admitPeer(ctx, id, addrs, name, inTx)
}

// Paired remembers a new peer's addresses (identify ran before it was
// allowlisted, so that either side can dial after a restart) and shares
// every existing issue with it.
func (np nodePeers) Paired(id peer.ID, over ma.Multiaddr) {
	n := np.n
	if h := n.hostOrNil(); h != nil {
		n.disc.LearnAddrs(context.Background(), id, h.Peerstore().Addrs(id), over)
	}
	n.shareAllLater(id)
}
