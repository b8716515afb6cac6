package pairing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/internal/framed"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/store"
)

const (
	// Timeout bounds one pairing exchange; readTimeout the wait for the
	// request: an acceptor sends it as soon as the stream is open.
	Timeout     = 30 * time.Second
	readTimeout = 5 * time.Second
	// AddrTTL is how long the inviter's addresses from a code stay in the
	// acceptor's peerstore.
	AddrTTL = time.Hour
)

// Peers admits peers: the acceptor of a pairing on the inviter's side, the
// inviter on the acceptor's. The node's peer registry implements it.
type Peers interface {
	// AdmitPeer allowlists id (adding addrs, naming it name unless empty)
	// with inTx run inside the same durable write: it may change the
	// record or refuse by returning an error, which leaves no trace.
	AdmitPeer(ctx context.Context, id peer.ID, addrs []string, name string, inTx func(*store.Tx, *store.Peer) error) (store.Peer, error)
	// Paired runs on the inviter's side once the acceptor got its answer
	// (it remembers the acceptor's addresses and shares issues with it);
	// over is the address the acceptor came by. It must not block.
	Paired(id peer.ID, over ma.Multiaddr)
}

// Networks records the join of a network invitation's acceptor. Package
// mesh implements it.
type Networks interface {
	// AdmitMember records remote's join of the network of the invitation
	// that claim returns, inside the write that runs claim, and returns
	// the name remote gets and the network for it. addrs are the addresses
	// remote told, over the one it came by.
	AdmitMember(ctx context.Context, remote peer.ID, addrs []string, over ma.Multiaddr, claim func(*store.Tx) (store.Invite, error)) (string, *Snapshot, error)
}

// Config is what a Service needs.
type Config struct {
	Store *store.Store
	// Gate is the gater's window for strangers (p2p.Pairing); the Service
	// opens it while an invitation is open.
	Gate  *p2p.Pairing
	Allow *p2p.Allowlist
	Self  peer.ID
	// Addrs lists this node's full addresses (with /p2p/), for codes.
	Addrs func() []string
	Peers Peers
	// Networks, if set, redeems network invitations.
	Networks Networks
	Log      *slog.Logger
}

// Service issues invitations and runs both sides of the pair protocol.
type Service struct{ c Config }

// New returns a Service; Register serves the pair protocol on a host.
func New(c Config) *Service {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{c: c}
}

// SetNetworks sets who redeems network invitations (mesh is made after the
// Service).
func (s *Service) SetNetworks(nets Networks) { s.c.Networks = nets }

// Issued is a new invitation, as invite and network invite print it.
type Issued struct {
	Code    string    `json:"code"`
	Name    string    `json:"name,omitempty"`
	Network string    `json:"network,omitempty"`
	Expires time.Time `json:"expires"`
	Addrs   []string  `json:"addrs"`
}

// Issue issues an invitation valid for ttl, to pair with this node or,
// with a network ID and name, to join that network. The acceptor will be
// called name here.
func (s *Service) Issue(ctx context.Context, name string, ttl time.Duration, netID, netName string) (Issued, error) {
	if ttl <= 0 || ttl > MaxTTL {
		return Issued{}, Refusal{fmt.Sprintf("ttl %s: want more than 0 and at most %s", ttl, MaxTTL)}
	}
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return Issued{}, err
	}
	now := time.Now()
	inv := Invitation{Peer: s.c.Self, Secret: secret, Expires: time.Unix(now.Add(ttl).Unix(), 0), Network: netID, NetName: netName}
	var shown []string
	for _, a := range s.c.Addrs() {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		if t, _ := peer.SplitAddr(m); t != nil && len(inv.Addrs) < MaxAddrs {
			inv.Addrs = append(inv.Addrs, t)
			shown = append(shown, t.String())
		}
	}
	rec := store.Invite{Hash: SecretHash(secret), Name: name, Created: now.UTC(), Expires: inv.Expires.UTC(), Network: netID}
	err := s.c.Store.Update(ctx, func(tx *store.Tx) error {
		all, err := tx.Invites()
		if err != nil {
			return err
		}
		for _, old := range all { // forget long-gone invitations
			if now.Sub(old.Expires) > Keep {
				tx.DeleteInvite(old.Hash)
			}
		}
		return tx.PutInvite(rec)
	})
	if err != nil {
		return Issued{}, err
	}
	s.Refresh()
	s.c.Log.Info("invitation issued", "name", name, "network", netName, "expires", inv.Expires.UTC().Format(time.RFC3339), "addrs", len(inv.Addrs))
	return Issued{Code: inv.Encode(), Name: name, Network: netName, Expires: inv.Expires.UTC(), Addrs: shown}, nil
}

// Open lists the invitations that can still be accepted.
func (s *Service) Open() ([]store.Invite, error) {
	var all []store.Invite
	if err := s.c.Store.View(func(tx *store.Tx) (err error) { all, err = tx.Invites(); return }); err != nil {
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

// Refresh lets strangers connect until the last open invitation expires
// (or not at all).
func (s *Service) Refresh() {
	open, err := s.Open()
	if err != nil {
		s.c.Log.Warn("cannot read invitations; strangers are refused", "err", err)
		s.c.Gate.SetOpenUntil(time.Time{})
		return
	}
	var until time.Time
	for _, inv := range open {
		if inv.Expires.After(until) {
			until = inv.Expires
		}
	}
	s.c.Gate.SetOpenUntil(until)
}

// refreshEvery is how often Run looks at the invitations: strangers are
// let in no longer than the last open invitation lasts.
const refreshEvery = 30 * time.Second

// Run keeps the gater's window for strangers in step with the open
// invitations until ctx ends, then closes it for good.
func (s *Service) Run(ctx context.Context) error {
	defer s.c.Gate.Close()
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	for {
		s.Refresh()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Register serves the pair protocol on h (p2p.HandlePair: strangers only
// while an invitation is open).
func (s *Service) Register(h host.Host) {
	p2p.HandlePair(h, s.c.Allow, s.c.Gate, s.c.Log, s.handle)
	s.Refresh()
}

// handle is the inviter's side of the pair protocol.
func (s *Service) handle(st network.Stream) {
	defer st.Close()
	remote, over := st.Conn().RemotePeer(), st.Conn().RemoteMultiaddr()
	st.SetDeadline(time.Now().Add(Timeout))
	st.SetReadDeadline(time.Now().Add(readTimeout))
	var req Request
	if err := framed.Read(st, MaxRequest, &req); err != nil {
		s.c.Log.Warn("bad pair request; closing the stream", "peer", remote, "addr", over, "err", err)
		st.Reset()
		return
	}
	resp := Response{V: ProtoVersion}
	err := error(Refusal{fmt.Sprintf("pair request of version %d; this node speaks version %d", req.V, ProtoVersion)})
	var name string
	if req.V == ProtoVersion {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		name, resp.Net, err = s.redeem(ctx, remote, req, over)
		cancel()
	}
	var ref Refusal
	switch {
	case err == nil:
		resp.OK = true
		s.c.Log.Info("peer accepted an invitation; it is allowlisted", "peer", remote, "name", name, "addr", over)
	case errors.As(err, &ref):
		resp.Net = nil
		resp.Error = ref.Reason
		s.c.Log.Warn("refused an invitation", "peer", remote, "addr", over, "reason", ref.Reason)
	default:
		resp.Net = nil
		resp.Error = "the inviter could not record the pairing; try again"
		s.c.Log.Error("pairing failed", "peer", remote, "err", err)
	}
	if err := framed.Write(st, &resp); err != nil {
		s.c.Log.Debug("answering a pair request failed", "peer", remote, "err", err)
		st.Reset()
		return
	}
	st.CloseWrite()
	if resp.OK && resp.Net == nil {
		s.c.Peers.Paired(remote, over)
	}
}

// redeem is the one redeem path: it claims the invitation of req's secret
// for remote (Claim) inside the write that admits remote, as a peer or as
// a member of the invitation's network, and returns the name remote gets
// and, for a network, the network.
func (s *Service) redeem(ctx context.Context, remote peer.ID, req Request, over ma.Multiaddr) (string, *Snapshot, error) {
	defer s.Refresh()
	claim := func(tx *store.Tx) (store.Invite, error) { return Claim(tx, req.Secret, remote, time.Now()) }
	var inv store.Invite
	if len(req.Secret) > 0 && len(req.Secret) <= maxSecret {
		_ = s.c.Store.View(func(tx *store.Tx) (err error) { inv, err = tx.GetInvite(SecretHash(req.Secret)); return })
	}
	if inv.Network != "" {
		if s.c.Networks == nil {
			return "", nil, Refusal{"this node cannot take members into networks now; try again"}
		}
		return s.c.Networks.AdmitMember(ctx, remote, req.Addrs, over, claim)
	}
	p, err := s.c.Peers.AdmitPeer(ctx, remote, nil, "", func(tx *store.Tx, p *store.Peer) error {
		inv, err := claim(tx)
		if err != nil {
			return err
		}
		if inv.Network != "" {
			return Refusal{"this invitation joins a network; try again"}
		}
		if inv.Name != "" {
			p.Name = inv.Name
		}
		return nil
	})
	return p.Name, nil, err
}

// dialAttempts bounds how often the acceptor dials the inviter for one
// exchange: two nodes that dial each other at the same instant between the
// same TCP ports (reuseport, as libp2p dials) make one TCP connection with
// two initiators, and both security handshakes fail; the next dial
// connects. Only a failed dial is tried again: the request was not sent.
const dialAttempts = 3

// call sends req to the inviter and reads its answer into resp, dialling
// again (after a short, random pause, past the swarm's dial backoff) while
// the dial fails and ctx has time.
func call(ctx context.Context, h host.Host, inviter peer.ID, req *Request, resp *Response) error {
	for attempt := 1; ; attempt++ {
		err := framed.Call(ctx, h, inviter, p2p.ProtoPair, req, resp, MaxFrame)
		var dialErr *swarm.DialError
		if err == nil || !errors.As(err, &dialErr) || attempt == dialAttempts {
			return err
		}
		if b, ok := h.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
			b.Backoff().Clear(inviter)
		}
		select {
		case <-time.After(time.Duration(50+mrand.IntN(250)) * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// Dial is the acceptor's side: it checks the code (Invitation.Check),
// lets this node dial the inviter though it is no peer yet, proves the
// code's secret (telling own, its own addresses, to a network), checks the
// answer and, while the inviter may still be dialled, runs admit with it.
// What cannot reach the inviter, or is refused, fails; then a connection
// to an inviter that is not a peer is closed. Refusals are Refusals;
// purpose says what the code was for ("pair with it", "join network x").
func (s *Service) Dial(ctx context.Context, h host.Host, inv Invitation, own []string, purpose string, admit func(Response) error) error {
	if err := inv.Check(s.c.Self, time.Now()); err != nil {
		return err
	}
	release := s.c.Gate.AllowDial(inv.Peer)
	defer release()
	known := s.c.Allow.Has(inv.Peer)
	h.Peerstore().AddAddrs(inv.Peer, inv.Addrs, AddrTTL)
	pctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var resp Response
	err := call(pctx, h, inv.Peer, &Request{V: ProtoVersion, Secret: inv.Secret, Addrs: own}, &resp)
	switch {
	case err != nil:
		err = fmt.Errorf("cannot reach the inviter %s at %v to %s: %w (the inviter is not running or not reachable at these addresses, "+
			"or it has no open invitation: the code was already used or has expired there, and then it lets no unknown peer in)", inv.Peer, inv.Addrs, purpose, err)
	case resp.V != ProtoVersion:
		err = fmt.Errorf("the inviter answered with pair protocol version %d; this node speaks %d", resp.V, ProtoVersion)
	case !resp.OK:
		err = fmt.Errorf("the inviter %s refused the invitation: %w", inv.Peer, Refusal{resp.Error})
	case inv.Network != "" && (resp.Net == nil || resp.Net.ID != inv.Network):
		err = fmt.Errorf("the inviter %s did not answer with network %s (an older issuemesh?)", inv.Peer, inv.NetName)
	default:
		err = admit(resp)
	}
	if err != nil {
		if !known && !s.c.Allow.Has(inv.Peer) {
			_ = h.Network().ClosePeer(inv.Peer)
		}
		s.c.Log.Warn("accepting an invitation failed", "inviter", inv.Peer, "network", inv.NetName, "err", err)
	}
	return err
}
