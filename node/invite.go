package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/store"
)

// Invitations (DESIGN 7): `issuemesh invite` prints one code that carries
// the inviter's peer ID, its addresses, a random single-use secret and the
// expiry; the inviter stores only the SHA-256 of the secret, with the
// expiry and the name the accepting peer will get. `issuemesh accept CODE`
// dials the inviter (its gater lets strangers in only while an invitation
// is open, for the pair protocol only, for at most p2p.PairTimeout, within
// the limits of p2p.Pairing) and sends the secret over the pair protocol,
// inside the Noise channel that authenticates the inviter's peer ID, so
// only the inviter ever sees it.
// The inviter checks it (known, unused, unexpired), marks the invitation
// used and allowlists the acceptor in one durable write, and says yes; the
// acceptor then allowlists the inviter. Both keep the connection and share
// their issues. Refusals name the reason on both sides.
//
// The code is "im1" followed by the unpadded lower-case base32 (RFC 4648)
// of: a version byte (1); uvarint-length-prefixed peer ID bytes;
// uvarint-length-prefixed secret; the expiry in Unix seconds (uvarint); an
// address count (uvarint) and that many uvarint-length-prefixed binary
// multiaddrs; for an invitation into a network (network invite) the
// uvarint-length-prefixed network ID and name; a CRC-32 (IEEE, big-endian)
// of everything before it, which catches a code copied incompletely. Codes
// without a network are as before.
//
// A limitation: the acceptor must be able to reach the inviter by one of
// the addresses in the code. A relay address works only if the relay
// allowlists the acceptor too, which it does not yet at that point; so an
// inviter behind NAT should be invited from (or invite) a peer that can
// reach it directly, or peers are added by ID (peer add /p2p/ID) and found
// by address exchange.

const (
	invitePrefix   = "im1"
	inviteVersion  = 1
	inviteSecret   = 16 // bytes
	inviteMaxAddrs = 12
	// inviteMaxTTL bounds how long an invitation may stay open.
	inviteMaxTTL = 30 * 24 * time.Hour
	// inviteKeep is how long used or expired invitations are kept (for
	// clear refusals of reused codes) before they are forgotten.
	inviteKeep = 7 * 24 * time.Hour
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

var inviteEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// invitation is the content of an invitation code.
type invitation struct {
	Peer    peer.ID
	Addrs   []ma.Multiaddr
	Secret  []byte
	Expires time.Time
	// Network and NetName name the network the code joins; empty for a
	// pairing.
	Network, NetName string
}

func (inv invitation) encode() string {
	b := []byte{inviteVersion}
	b = appendBytes(b, []byte(inv.Peer))
	b = appendBytes(b, inv.Secret)
	b = binary.AppendUvarint(b, uint64(inv.Expires.Unix()))
	b = binary.AppendUvarint(b, uint64(len(inv.Addrs)))
	for _, a := range inv.Addrs {
		b = appendBytes(b, a.Bytes())
	}
	if inv.Network != "" {
		b = appendBytes(b, []byte(inv.Network))
		b = appendBytes(b, []byte(inv.NetName))
	}
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return invitePrefix + strings.ToLower(inviteEncoding.EncodeToString(b))
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

var errBadCode = errors.New("not a valid invitation code")

// decodeInvitation parses a code. Blanks and line breaks inside it (from
// copying) are ignored.
func decodeInvitation(code string) (invitation, error) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) > 4096 {
		return invitation{}, fmt.Errorf("%w: it is %d characters long", errBadCode, len(code))
	}
	if !strings.HasPrefix(strings.ToLower(code), invitePrefix) {
		return invitation{}, fmt.Errorf("%w: it does not start with %q", errBadCode, invitePrefix)
	}
	b, err := inviteEncoding.DecodeString(strings.ToUpper(code[len(invitePrefix):]))
	if err != nil {
		return invitation{}, fmt.Errorf("%w: %v (copied incompletely?)", errBadCode, err)
	}
	if len(b) < 5 {
		return invitation{}, fmt.Errorf("%w: too short", errBadCode)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return invitation{}, fmt.Errorf("%w: checksum mismatch (copied incompletely or changed?)", errBadCode)
	}
	if body[0] != inviteVersion {
		return invitation{}, fmt.Errorf("%w: version %d; this node reads version %d (upgrade issuemesh?)", errBadCode, body[0], inviteVersion)
	}
	r := &byteReader{b: body[1:]}
	var inv invitation
	idb := r.bytes(128)
	secret := r.bytes(64)
	expires := r.uvarint()
	n := r.uvarint()
	if r.err == nil && n > 32 {
		r.err = fmt.Errorf("%d addresses", n)
	}
	for i := uint64(0); r.err == nil && i < n; i++ {
		ab := r.bytes(512)
		if r.err != nil {
			break
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			r.err = fmt.Errorf("address %d: %v", i, err)
			break
		}
		inv.Addrs = append(inv.Addrs, a)
	}
	if r.err == nil && len(r.b) != 0 {
		inv.Network = string(r.bytes(64))
		inv.NetName = string(r.bytes(64))
		if r.err == nil && (inv.Network == "" || !netNameRE.MatchString(inv.NetName)) {
			r.err = errors.New("bad network")
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return invitation{}, fmt.Errorf("%w: %v", errBadCode, r.err)
	}
	if inv.Peer, err = peer.IDFromBytes(idb); err != nil {
		return invitation{}, fmt.Errorf("%w: peer ID: %v", errBadCode, err)
	}
	if len(secret) < inviteSecret {
		return invitation{}, fmt.Errorf("%w: secret too short", errBadCode)
	}
	inv.Secret = secret
	inv.Expires = time.Unix(int64(expires), 0)
	return inv, nil
}

type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) bytes(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.err = errors.New("truncated or oversized field")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func secretHash(secret []byte) string {
	h := sha256.Sum256(secret)
	return hex.EncodeToString(h[:])
}

// InviteInput is the body of invite.
type InviteInput struct {
	// Name is what the accepting peer will be called here.
	Name string `json:"name,omitempty"`
	// TTL is how long the invitation stays open, e.g. "24h" (default).
	TTL string `json:"ttl,omitempty"`
}

// InviteResult is a new invitation.
type InviteResult struct {
	Code    string    `json:"code"`
	Name    string    `json:"name,omitempty"`
	Network string    `json:"network,omitempty"`
	Expires time.Time `json:"expires"`
	Addrs   []string  `json:"addrs"`
}

// AcceptInput is the body of accept.
type AcceptInput struct {
	Code string `json:"code"`
	// Name is what the inviter will be called here (default "inviter").
	Name string `json:"name,omitempty"`
}

// Invite issues a single-use invitation valid for ttl. The accepting peer
// will be called name here.
func (n *Node) Invite(ctx context.Context, name string, ttl time.Duration) (InviteResult, error) {
	return n.issueInvite(ctx, name, ttl, "", "")
}

// issueInvite issues an invitation to pair with this node or, with a
// network ID and name, to join that network.
func (n *Node) issueInvite(ctx context.Context, name string, ttl time.Duration, netID, netName string) (InviteResult, error) {
	if ttl <= 0 || ttl > inviteMaxTTL {
		return InviteResult{}, fmt.Errorf("%w: ttl %s: want more than 0 and at most %s", errBadRequest, ttl, inviteMaxTTL)
	}
	secret := make([]byte, inviteSecret)
	if _, err := rand.Read(secret); err != nil {
		return InviteResult{}, err
	}
	now := time.Now()
	inv := invitation{Peer: n.self, Secret: secret, Expires: time.Unix(now.Add(ttl).Unix(), 0), Network: netID, NetName: netName}
	var shown []string
	for _, s := range n.Addrs() {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if t, _ := peer.SplitAddr(m); t != nil && len(inv.Addrs) < inviteMaxAddrs {
			inv.Addrs = append(inv.Addrs, t)
			shown = append(shown, t.String())
		}
	}
	rec := store.Invite{Hash: secretHash(secret), Name: name, Created: now.UTC(), Expires: inv.Expires.UTC(), Network: netID}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		all, err := tx.Invites()
		if err != nil {
			return err
		}
		for _, old := range all { // forget long-gone invitations
			if now.Sub(old.Expires) > inviteKeep {
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
	return InviteResult{Code: inv.encode(), Name: name, Network: netName, Expires: inv.Expires.UTC(), Addrs: shown}, nil
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

// refusal is a pairing refused for a reason the other side is told.
type refusal struct{ reason string }

func (r refusal) Error() string { return r.reason }

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
	err := error(refusal{fmt.Sprintf("pair request of version %d; this node speaks version %d", req.V, pairVersion)})
	var name string
	var snap *netSnapshot
	if req.V == pairVersion {
		name, snap, err = n.redeemAny(remote, req, s.Conn().RemoteMultiaddr())
	}
	resp.Net = snap
	var ref refusal
	switch {
	case err == nil:
		resp.OK = true
		n.log.Info("peer accepted an invitation; it is allowlisted", "peer", remote, "name", name, "addr", s.Conn().RemoteMultiaddr())
	case errors.As(err, &ref):
		resp.Error = ref.reason
		n.log.Warn("refused an invitation", "peer", remote, "addr", s.Conn().RemoteMultiaddr(), "reason", ref.reason)
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

// redeem checks an invitation's secret and, if it is open, marks it used by
// remote and allowlists remote under the invitation's name.
func (n *Node) redeem(remote peer.ID, secret []byte) (string, error) {
	if len(secret) == 0 || len(secret) > 64 {
		return "", refusal{"unknown invitation: this node did not issue it (forged or mistyped code)"}
	}
	hash := secretHash(secret)
	var name string
	ctx, cancel := context.WithTimeout(context.Background(), pairTimeout)
	defer cancel()
	_, err := n.admitPeer(ctx, remote, nil, "", func(tx *store.Tx, p *store.Peer) error {
		inv, err := tx.GetInvite(hash)
		if errors.Is(err, store.ErrNotFound) {
			return refusal{"unknown invitation: this node did not issue it (forged or mistyped code)"}
		}
		if err != nil {
			return err
		}
		now := time.Now()
		switch {
		case inv.UsedBy != "":
			return refusal{fmt.Sprintf("invitation already used (at %s); ask the inviter for a new one", inv.UsedAt.UTC().Format(time.RFC3339))}
		case !now.Before(inv.Expires):
			return refusal{fmt.Sprintf("invitation expired at %s; ask the inviter for a new one", inv.Expires.UTC().Format(time.RFC3339))}
		}
		inv.UsedBy, inv.UsedAt = remote.String(), now.UTC()
		if err := tx.PutInvite(inv); err != nil {
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
	inv, err := decodeInvitation(code)
	if err != nil {
		return store.Peer{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if inv.Network != "" {
		return store.Peer{}, fmt.Errorf("%w: this code joins the network %q; accept it with 'issuemesh accept'", errBadRequest, inv.NetName)
	}
	if inv.Peer == n.self {
		return store.Peer{}, fmt.Errorf("%w: this invitation was issued by this node; accept it on the other node", errBadRequest)
	}
	if now := time.Now(); !now.Before(inv.Expires) {
		return store.Peer{}, fmt.Errorf("%w: this invitation expired at %s (%s ago); ask the inviter for a new one",
			errBadRequest, inv.Expires.UTC().Format(time.RFC3339), now.Sub(inv.Expires).Round(time.Second))
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
