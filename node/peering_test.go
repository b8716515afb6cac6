package node

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

func (tn *testNode) storedPeer(t *testing.T, id peer.ID) (store.Peer, error) {
	t.Helper()
	var p store.Peer
	err := tn.store.View(func(tx *store.Tx) (err error) { p, err = tx.GetPeer(id.String()); return })
	return p, err
}

func (tn *testNode) connectedTo(id peer.ID) bool {
	h := tn.hostOrNil()
	return h != nil && p2p.IsConnected(h, id)
}

func TestInvitationCode(t *testing.T) {
	a := startNode(t, "a", Options{})
	res, err := a.Invite(context.Background(), "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Code, "im1") || strings.ContainsAny(res.Code, " \n\t=") || strings.ToLower(res.Code) != res.Code {
		t.Fatalf("code %q is not one lower-case line starting with im1", res.Code)
	}
	inv, err := pairing.Decode(res.Code)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Peer != a.ID() || len(inv.Addrs) == 0 || len(inv.Secret) != pairing.SecretSize || !inv.Expires.Equal(res.Expires) {
		t.Fatalf("decoded %+v from %+v", inv, res)
	}
	// Copying may add line breaks and blanks; they do not matter.
	if _, err := pairing.Decode(res.Code[:20] + "\n  " + res.Code[20:]); err != nil {
		t.Fatalf("code with a line break: %v", err)
	}
	// Only the secret's hash is stored.
	var invs []store.Invite
	a.store.View(func(tx *store.Tx) (err error) { invs, err = tx.Invites(); return })
	if len(invs) != 1 || invs[0].Hash != pairing.SecretHash(inv.Secret) || invs[0].Name != "bob" {
		t.Fatalf("stored invitations: %+v", invs)
	}
	for _, bad := range []string{
		"",
		"hello",
		res.Code[:len(res.Code)-3], // cut short
		res.Code[:10] + flip(res.Code[10]) + res.Code[11:], // one character changed
	} {
		if _, err := pairing.Decode(bad); !errors.Is(err, pairing.ErrBadCode) {
			t.Errorf("decode %q: %v, want pairing.ErrBadCode", bad, err)
		}
	}
	if _, err := a.Invite(context.Background(), "x", 0); err == nil {
		t.Error("an invitation with ttl 0 was issued")
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

// TestInviteAccept: B accepts A's invitation; both allowlist each other
// under the given names, connect and sync. Reused, expired and forged codes
// are refused with a clear message, on both sides.
func TestInviteAccept(t *testing.T) {
	ctx := context.Background()
	a, b, c := startNode(t, "a", Options{}), startNode(t, "b", Options{}), startNode(t, "c", Options{})
	if a.gate.Open() {
		t.Fatal("admission open with no invitation")
	}
	res, err := a.Invite(ctx, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !a.gate.Open() {
		t.Fatal("admission closed with an open invitation")
	}
	if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: "from A before pairing"}); err != nil {
		t.Fatal(err)
	}
	var pb store.Peer
	if code := adminCall(t, b.Node, "POST", "/v1/accept", api.AcceptInput{Code: res.Code, Name: "alice"}, &pb); code != http.StatusOK {
		t.Fatalf("accept: HTTP %d", code)
	}
	if pb.ID != a.ID().String() || pb.Name != "alice" {
		t.Fatalf("B's record of A: %+v", pb)
	}
	if pa, err := a.storedPeer(t, b.ID()); err != nil || pa.Name != "bob" {
		t.Fatalf("A's record of B: %+v, %v", pa, err)
	}
	if !a.allow.Has(b.ID()) || !b.allow.Has(a.ID()) {
		t.Fatal("not allowlisted on both sides")
	}
	if a.gate.Open() {
		t.Fatal("admission still open after the only invitation was used")
	}
	testutil.WaitFor(t, 10*time.Second, "the issue is on B and both stay connected", func() bool {
		_, ok := b.issueBySummary(t, "from A before pairing")
		return ok && a.connectedTo(b.ID()) && b.connectedTo(a.ID())
	})
	if _, err := b.tracker.Create(ctx, adapters.Issue{Summary: "from B"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "B's issue is on A", func() bool { _, ok := a.issueBySummary(t, "from B"); return ok })

	// Reused by B (allowlisted now, so it reaches the pair protocol).
	if _, err := b.Accept(ctx, res.Code, ""); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("B reusing the code: %v, want 'already used'", err)
	}
	// Reused by a stranger: no invitation is open, so A refuses it at the
	// door, and the message says why that may be.
	if _, err := c.Accept(ctx, res.Code, ""); err == nil || !strings.Contains(err.Error(), "already used or has expired") {
		t.Fatalf("C reusing the code: %v, want a message about a used or expired code", err)
	}
	if c.allow.Has(a.ID()) || a.allow.Has(c.ID()) {
		t.Fatal("a refused acceptor was allowlisted")
	}

	// Expired: refused locally, before dialling.
	exp := pairing.Invitation{Peer: a.ID(), Addrs: mustDecode(t, res.Code).Addrs, Secret: make([]byte, pairing.SecretSize), Expires: time.Now().Add(-time.Minute)}
	if _, err := c.Accept(ctx, exp.Encode(), ""); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired code: %v, want 'expired'", err)
	}

	// With another invitation open, C gets through A's door: a forged
	// secret, and a code that A stored as expired, are refused by A.
	if _, err := a.Invite(ctx, "keep-open", time.Hour); err != nil {
		t.Fatal(err)
	}
	forged := pairing.Invitation{Peer: a.ID(), Addrs: exp.Addrs, Secret: make([]byte, pairing.SecretSize), Expires: time.Now().Add(time.Hour)}
	rand.Read(forged.Secret)
	if _, err := c.Accept(ctx, forged.Encode(), ""); err == nil || !strings.Contains(err.Error(), "unknown invitation") {
		t.Fatalf("forged code: %v, want 'unknown invitation'", err)
	}
	late, err := a.Invite(ctx, "late", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lateInv := mustDecode(t, late.Code)
	a.store.Update(ctx, func(tx *store.Tx) error {
		inv, err := tx.GetInvite(pairing.SecretHash(lateInv.Secret))
		if err != nil {
			return err
		}
		inv.Expires = time.Now().Add(-time.Second)
		return tx.PutInvite(inv)
	})
	if _, err := c.Accept(ctx, late.Code, ""); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("code expired at the inviter: %v, want 'expired'", err)
	}
	for _, want := range []string{"already used", "unknown invitation", "invitation expired"} {
		if !strings.Contains(a.logs.String(), want) {
			t.Errorf("A did not log a refusal with %q", want)
		}
	}
	if c.allow.Has(a.ID()) || a.allow.Has(c.ID()) {
		t.Fatal("a refused acceptor was allowlisted")
	}
	// C, refused, is disconnected (by itself at once; by A after the
	// pairing timeout at the latest).
	testutil.WaitFor(t, 5*time.Second, "C is disconnected from A", func() bool { return !c.connectedTo(a.ID()) })
}

func mustDecode(t *testing.T, code string) pairing.Invitation {
	t.Helper()
	inv, err := pairing.Decode(code)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestRemovePeer: removing a peer un-allowlists and disconnects it, drops
// its queued events and keeps its twin links as unsynced.
func TestRemovePeer(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the issue is on B and acked", func() bool {
		_, ok := b.issueBySummary(t, "shared")
		return ok && a.count(t, "o/") == 0
	})
	if err := (adminBackend{a.Node}).setPaused(ctx, b.ID(), true); err != nil {
		t.Fatal(err)
	}
	st := "Closed"
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Status: &st}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the change queues on A", func() bool { return a.count(t, "o/") == 1 && a.settled(t) })

	var res RemoveResult
	if code := adminCall(t, a.Node, "DELETE", "/v1/peers/b", nil, &res); code != http.StatusOK {
		t.Fatalf("remove: HTTP %d", code)
	}
	if res.ID != b.ID().String() || res.Name != "b" || res.DroppedOut != 1 || res.Unsynced != 1 {
		t.Fatalf("remove result: %+v", res)
	}
	if a.allow.Has(b.ID()) || a.peer(b.ID()) != nil {
		t.Fatal("B is still allowlisted on A")
	}
	if _, err := a.storedPeer(t, b.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("B's record on A: %v, want not found", err)
	}
	if n := a.count(t, "o/"); n != 0 {
		t.Fatalf("%d events still queued for B", n)
	}
	if len(a.hostOrNil().Peerstore().Addrs(b.ID())) != 0 {
		t.Fatal("A still knows B's addresses")
	}
	testutil.WaitFor(t, 5*time.Second, "A and B are disconnected", func() bool { return !a.connectedTo(b.ID()) })
	var tw *store.Twin
	a.store.View(func(tx *store.Tx) (err error) { tw, err = tx.TwinByKey(is.Key); return })
	if tw == nil || tw.Links[b.ID().String()] == nil || !tw.Links[b.ID().String()].Unsynced {
		t.Fatalf("twin link after removal: %+v", tw)
	}
	// B keeps trying; A refuses it.
	b.connector.Retry(a.ID())
	testutil.WaitFor(t, 5*time.Second, "A refuses B", func() bool {
		return strings.Contains(a.logs.String(), "refused connection with peer not on the allowlist") &&
			strings.Contains(a.logs.String(), b.ID().String())
	})
	var ps []PeerInfo
	adminCall(t, a.Node, "GET", "/v1/peers", nil, &ps)
	if len(ps) != 0 {
		t.Fatalf("peer list after removal: %+v", ps)
	}
	if code := adminCall(t, a.Node, "DELETE", "/v1/peers/b", nil, nil); code != http.StatusNotFound {
		t.Fatalf("removing an unknown peer: HTTP %d, want 404", code)
	}
}

// TestBarePeerIDFoundByAddressExchange: B and C know only A's address and
// each other's peer ID; A tells each where the other is, they connect and
// sync, and each remembers the other's addresses.
func TestBarePeerIDFoundByAddressExchange(t *testing.T) {
	ctx := context.Background()
	a, b, c := startNode(t, "a", Options{}), startNode(t, "b", Options{}), startNode(t, "c", Options{})
	pairNodes(t, a, b)
	pairNodes(t, a, c)
	if _, err := b.AddPeer(ctx, "/p2p/"+c.ID().String(), "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddPeer(ctx, "/p2p/"+b.ID().String(), "b"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "B and C are connected", func() bool { return b.connectedTo(c.ID()) && c.connectedTo(b.ID()) })
	if _, err := b.tracker.Create(ctx, adapters.Issue{Summary: "B to C"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "B's issue is on C", func() bool { _, ok := c.issueBySummary(t, "B to C"); return ok })
	testutil.WaitFor(t, 10*time.Second, "C remembers B's address", func() bool {
		p, err := c.storedPeer(t, b.ID())
		return err == nil && len(p.Addrs) > 0 && strings.HasPrefix(p.Addrs[0], "/ip4/127.0.0.1/tcp/")
	})
	var ps []PeerInfo
	testutil.WaitFor(t, 10*time.Second, "peer list shows B connected, direct, with a latency", func() bool {
		adminCall(t, c.Node, "GET", "/v1/peers", nil, &ps)
		for _, p := range ps {
			if p.ID == b.ID().String() {
				return p.Connected && !p.Relayed && p.LatencyMS > 0 && p.Via != ""
			}
		}
		return false
	})
}
