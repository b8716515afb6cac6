package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/store"
)

// Invitations (DESIGN 7; the code, its checks and the protocol's messages
// are package pairing's): `issuemesh invite` issues a code, `issuemesh
// accept CODE` proves its secret over the pair protocol. The inviter
// claims the invitation (pairing.Claim) and admits the acceptor in one
// durable write (redeem, admitPeer); the acceptor then admits the inviter.
// Both keep the connection and share their issues.

const (
	// pairTimeout bounds one pairing exchange, pairReadTimeout the wait
	// for the request: an acceptor sends it as soon as the stream is open.
	pairTimeout     = 30 * time.Second
	pairReadTimeout = 5 * time.Second
	// maxPairFrame is the frame limit of the pair protocol (the answer to
	// a network invitation holds the member list).
	maxPairFrame = 256 << 10
	// maxPairRequest is the frame limit of a pair request (a secret and
	// up to replica.MaxMemberAddrs addresses), read from strangers.
	maxPairRequest = 32 << 10
	pairVersion    = 1
)

// Invite issues a single-use invitation valid for ttl. The accepting peer
// will be called name here.
func (n *Node) Invite(ctx context.Context, name string, ttl time.Duration) (InviteResult, error) {
	return n.issueInvite(ctx, name, ttl, "", "")
}

// issueInvite issues an invitation to pair with this node or, with a
// network ID and name, to join that network.
func (n *Node) issueInvite(ctx context.Context, name string, ttl time.Duration, netID, netName string) (InviteResult, error) {
	if ttl <= 0 || ttl > pairing.MaxTTL {
		return InviteResult{}, fmt.Errorf("%w: ttl %s: want more than 0 and at most %s", errBadRequest, ttl, pairing.MaxTTL)
	}
	secret := make([]byte, pairing.SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return InviteResult{}, err
	}
	now := time.Now()
	inv := pairing.Invitation{Peer: n.self, Secret: secret, Expires: time.Unix(now.Add(ttl).Unix(), 0), Network: netID, NetName: netName}
	var shown []string
	for _, s := range n.Addrs() {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if t, _ := peer.SplitAddr(m); t != nil && len(inv.Addrs) < pairing.MaxAddrs {
			inv.Addrs = append(inv.Addrs, t)
			shown = append(shown, t.String())
		}
	}
	rec := store.Invite{Hash: pairing.SecretHash(secret), Name: name, Created: now.UTC(), Expires: inv.Expires.UTC(), Network: netID}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		all, err := tx.Invites()
		if err != nil {
			return err
		}
		for _, old := range all { // forget long-gone invitations
			if now.Sub(old.Expires) > pairing.Keep {
				tx.DeleteInvite(old.Hash)
			}
		}
		return tx.PutInvite(rec)
	})
	if err != nil {
		return InviteResult{}, err
	}
	n.refreshPairing()
	n.log.Info("invitation issued", "name", name, "network", netName, "expires", inv.Expires.UTC().Format(time.RFC3339), "addrs", len(inv.Addrs))
	return InviteResult{Code: inv.Encode(), Name: name, Network: netName, Expires: inv.Expires.UTC(), Addrs: shown}, nil
}

// openInvites lists the invitations that can still be accepted.
func (n *Node) openInvites() ([]store.Invite, error) {
	var all []store.Invite
	if err := n.store.View(func(tx *store.Tx) (err error) { all, err = tx.Invites(); return }); err != nil {
		return nil, err
	}
	now := time.Now()
	var open []store.Invite
	for _, inv := range all {
		if inv.Open(now) {
			open = append(open, inv)
		}
	}
	return open, nil
}

// refreshPairing lets strangers connect until the last open invitation
// expires (or not at all).
func (n *Node) refreshPairing() {
	open, err := n.openInvites()
	if err != nil {
		n.log.Warn("cannot read invitations; strangers are refused", "err", err)
		n.pe.pairing.SetOpenUntil(time.Time{})
		return
	}
	var until time.Time
	for _, inv := range open {
		if inv.Expires.After(until) {
			until = inv.Expires
		}
	}
	n.pe.pairing.SetOpenUntil(until)
}

type pairRequest struct {
	V      int    `msgpack:"v"`
	Secret []byte `msgpack:"secret"`
	// Addrs are the acceptor's own addresses, told to a network's members.
	Addrs []string `msgpack:"addrs,omitempty"`
}

type pairResponse struct {
	V     int    `msgpack:"v"`
	OK    bool   `msgpack:"ok"`
	Error string `msgpack:"error,omitempty"`
	// Net is the network a network invitation joins, with its members.
	Net *netSnapshot `msgpack:"net,omitempty"`
}

// handlePair is the inviter's side of the pair protocol.
func (n *Node) handlePair(s network.Stream) {
	defer s.Close()
	remote := s.Conn().RemotePeer()
	s.SetDeadline(time.Now().Add(pairTimeout))
	s.SetReadDeadline(time.Now().Add(pairReadTimeout))
	var req pairRequest
	if err := readMsg(s, maxPairRequest, &req); err != nil {
		n.log.Warn("bad pair request; closing the stream", "peer", remote, "addr", s.Conn().RemoteMultiaddr(), "err", err)
		s.Reset()
		return
	}
	resp := pairResponse{V: pairVersion}
	err := error(pairing.Refusal{Reason: fmt.Sprintf("pair request of version %d; this node speaks version %d", req.V, pairVersion)})
	var name string
	var snap *netSnapshot
	if req.V == pairVersion {
		name, snap, err = n.redeemAny(remote, req, s.Conn().RemoteMultiaddr())
	}
	resp.Net = snap
	var ref pairing.Refusal
	switch {
	case err == nil:
		resp.OK = true
		n.log.Info("peer accepted an invitation; it is allowlisted", "peer", remote, "name", name, "addr", s.Conn().RemoteMultiaddr())
	case errors.As(err, &ref):
		resp.Error = ref.Reason
		n.log.Warn("refused an invitation", "peer", remote, "addr", s.Conn().RemoteMultiaddr(), "reason", ref.Reason)
	default:
		resp.Error = "the inviter could not record the pairing; try again"
		n.log.Error("pairing failed", "peer", remote, "err", err)
	}
	if err := writeMsg(s, &resp); err != nil {
		n.log.Debug("answering a pair request failed", "peer", remote, "err", err)
		s.Reset()
		return
	}
	s.CloseWrite()
	if resp.OK && snap == nil {
		// Identify ran before the peer was allowlisted: remember its
		// addresses now, so that either side can dial after a restart.
		if h := n.hostOrNil(); h != nil {
			n.learnAddrs(context.Background(), remote, h.Peerstore().Addrs(remote), s.Conn().RemoteMultiaddr())
		}
		n.shareAllLater(remote)
	}
}

// redeem claims an invitation's secret (pairing.Claim) for remote and
// allowlists remote under the invitation's name, in one write.
func (n *Node) redeem(remote peer.ID, secret []byte) (string, error) {
	var name string
	ctx, cancel := context.WithTimeout(context.Background(), pairTimeout)
	defer cancel()
	_, err := n.admitPeer(ctx, remote, nil, "", func(tx *store.Tx, p *store.Peer) error {
		inv, err := pairing.Claim(tx, secret, remote, time.Now())
		if err != nil {
			return err
		}
		if inv.Name != "" {
			p.Name = inv.Name
		}
		name = p.Name
		return nil
	})
	n.refreshPairing()
	return name, err
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
	if err := inv.Check(n.self, time.Now()); err != nil {
		return store.Peer{}, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	h := n.hostOrNil()
	if h == nil {
		return store.Peer{}, fmt.Errorf("%w: the node is not running; start it with 'issuemesh run', then accept the invitation", errBadRequest)
	}
	if name == "" {
		name = "inviter"
	}
	release := n.pe.pairing.AllowDial(inv.Peer)
	defer release()
	known := n.allow.Has(inv.Peer)
	h.Peerstore().AddAddrs(inv.Peer, inv.Addrs, exchangeAddrTTL)
	pctx, cancel := context.WithTimeout(ctx, pairTimeout)
	defer cancel()
	var resp pairResponse
	err = roundTrip(pctx, h, inv.Peer, p2p.ProtoPair, &pairRequest{V: pairVersion, Secret: inv.Secret}, &resp, maxPairFrame)
	if err == nil && resp.V != pairVersion {
		err = fmt.Errorf("the inviter answered with pair protocol version %d; this node speaks %d", resp.V, pairVersion)
	}
	if err == nil && !resp.OK {
		err = fmt.Errorf("%w: the inviter %s refused the invitation: %s", errBadRequest, inv.Peer, resp.Error)
	} else if err != nil {
		err = fmt.Errorf("cannot pair with the inviter %s at %v: %w (the inviter is not running or not reachable at these addresses, "+
			"or it has no open invitation: the code was already used or has expired there, and then it lets no unknown peer in)", inv.Peer, inv.Addrs, err)
	}
	if err != nil {
		if !known && !n.allow.Has(inv.Peer) {
			_ = h.Network().ClosePeer(inv.Peer)
		}
		n.log.Warn("accepting an invitation failed", "inviter", inv.Peer, "err", err)
		return store.Peer{}, err
	}
	var addrs []string
	for _, a := range inv.Addrs {
		addrs = append(addrs, a.String())
	}
	p, err := n.admitPeer(ctx, inv.Peer, addrs, name, nil)
	if err != nil {
		return p, err
	}
	n.log.Info("invitation accepted; the inviter is allowlisted", "peer", inv.Peer, "name", p.Name)
	if cs := p2p.PeerConn(h, inv.Peer); cs.Connected {
		via, _ := ma.NewMultiaddr(cs.Via)
		n.learnAddrs(ctx, inv.Peer, h.Peerstore().Addrs(inv.Peer), via)
	}
	if err := n.shareAll(ctx, []peer.ID{inv.Peer}); err != nil {
		return p, fmt.Errorf("paired, but sharing existing issues failed (they are shared on their next change): %w", err)
	}
	return p, nil
}
