package p2p

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestPairingAdmitsStrangers: with an open invitation, a peer that is not
// allowlisted can connect and use the pair protocol only; it is
// disconnected when it has not paired in time; with no open invitation it
// is refused in InterceptSecured as before.
func TestPairingAdmitsStrangers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const other = "/issuemesh/test/1.0.0"

	pairing := NewPairing()
	pairing.Timeout = 500 * time.Millisecond
	logA, bufA := newLogger()
	allowA := NewAllowlist()
	a := newTestHost(t, Config{Allow: allowA, Pairing: pairing, Logger: logA})
	s := newTestHost(t, Config{Allow: NewAllowlist(a.ID())})

	served := make(chan string, 4)
	HandlePair(a, allowA, pairing, logA, func(st network.Stream) {
		served <- "pair"
		defer st.Close()
		_, _ = io.Copy(st, st)
	})
	Handle(a, allowA, other, logA, func(st network.Stream) {
		served <- "other"
		_ = st.Reset()
	})

	// Closed: refused as a stranger.
	err := s.Connect(ctx, addrInfo(a))
	testutil.WaitFor(t, 5*time.Second, "the stranger to be refused", func() bool {
		return len(bufA.lines("refused connection", "peer="+s.ID().String())) == 1 &&
			s.Network().Connectedness(a.ID()) != network.Connected
	})
	if _, serr := s.NewStream(ctx, a.ID(), ProtoPair); serr == nil {
		t.Fatalf("stranger opened a pair stream with no open invitation (connect: %v)", err)
	}

	// Open: admitted, the pair protocol works, other protocols do not.
	pairing.SetOpenUntil(time.Now().Add(time.Minute))
	s.Network().(*swarm.Swarm).Backoff().Clear(a.ID())
	if err := s.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatalf("stranger could not connect while an invitation is open: %v", err)
	}
	st, err := OpenStream(ctx, s, a.ID(), ProtoPair)
	if err != nil {
		t.Fatalf("pair stream: %v", err)
	}
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseWrite()
	if got, err := io.ReadAll(st); err != nil || string(got) != "secret" {
		t.Fatalf("pair echo: %q, %v", got, err)
	}
	_ = st.Close()
	if o, err := OpenStream(ctx, s, a.ID(), other); err == nil {
		_ = o.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = o.Read(make([]byte, 1))
		if !errors.Is(err, network.ErrReset) {
			t.Fatalf("stranger's stream on another protocol was not reset: %v", err)
		}
	}
	if got := <-served; got != "pair" {
		t.Fatalf("handler %q served the stranger", got)
	}
	select {
	case got := <-served:
		t.Fatalf("handler %q served the stranger", got)
	default:
	}

	// Not paired in time: disconnected.
	testutil.WaitFor(t, 5*time.Second, "the unpaired stranger to be disconnected", func() bool {
		return a.Network().Connectedness(s.ID()) == network.NotConnected
	})
	if len(bufA.lines("did not pair in time", "peer="+s.ID().String())) != 1 {
		t.Errorf("disconnection not logged:\n%s", bufA)
	}

	// A peer that paired (got on the allowlist) stays.
	s.Network().(*swarm.Swarm).Backoff().Clear(a.ID())
	if err := s.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatal(err)
	}
	allowA.Add(s.ID())
	deadline := time.Now().Add(3 * pairing.Timeout)
	for time.Now().Before(deadline) {
		if a.Network().Connectedness(s.ID()) != network.Connected {
			t.Fatal("a peer that paired was disconnected")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Closed again: a new stranger is refused.
	pairing.SetOpenUntil(time.Time{})
	s2 := newTestHost(t, Config{Allow: NewAllowlist(a.ID())})
	_ = s2.Connect(ctx, addrInfo(a))
	testutil.WaitFor(t, 5*time.Second, "the second stranger to be refused", func() bool {
		return len(bufA.lines("refused connection", "peer="+s2.ID().String())) == 1
	})
}

// TestPairingAllowDial: the acceptor may dial the inviter, who is not on its
// allowlist, only while AllowDial is in force.
func TestPairingAllowDial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pairing := NewPairing()
	keyAcc, idAcc := newKey(t)
	inviter := newTestHost(t, Config{Allow: NewAllowlist(idAcc)}) // lets the acceptor in
	acceptor := newTestHost(t, Config{Key: keyAcc, Pairing: pairing})
	if err := acceptor.Connect(ctx, addrInfo(inviter)); !errors.Is(err, swarm.ErrGaterDisallowedConnection) {
		t.Fatalf("dial without allowance: %v, want ErrGaterDisallowedConnection", err)
	}
	release := pairing.AllowDial(inviter.ID())
	if err := acceptor.Connect(ctx, addrInfo(inviter)); err != nil {
		t.Fatalf("dial with allowance: %v", err)
	}
	release()
	release() // idempotent
	_ = acceptor.Network().ClosePeer(inviter.ID())
	acceptor.Network().(*swarm.Swarm).Backoff().Clear(inviter.ID())
	if err := acceptor.Connect(ctx, addrInfo(inviter)); !errors.Is(err, swarm.ErrGaterDisallowedConnection) {
		t.Fatalf("dial after release: %v, want ErrGaterDisallowedConnection", err)
	}
}

func TestTreatAsPublic(t *testing.T) {
	private, unroutable := manet.Private4, manet.Unroutable4
	t.Cleanup(func() { manet.Private4, manet.Unroutable4 = private, unroutable })
	addr := ma.StringCast("/ip4/198.18.0.10/tcp/4001")
	if manet.IsPublicAddr(addr) {
		t.Fatal("198.18.0.10 is public before TreatAsPublic")
	}
	if err := TreatAsPublic("198.18.0.0/15"); err != nil {
		t.Fatal(err)
	}
	if !manet.IsPublicAddr(addr) {
		t.Fatal("198.18.0.10 is not public after TreatAsPublic")
	}
	if manet.IsPublicAddr(ma.StringCast("/ip4/10.0.0.1/tcp/1")) || manet.IsPublicAddr(ma.StringCast("/ip4/192.0.2.1/tcp/1")) {
		t.Fatal("other reserved ranges became public")
	}
	for _, bad := range []string{"10.1.0.0/16", "nonsense", "2001:db8::/32"} {
		if err := TreatAsPublic(bad); err == nil {
			t.Errorf("TreatAsPublic(%q) succeeded", bad)
		}
	}
}

func TestUsableAddrs(t *testing.T) {
	_, self := newKey(t)
	_, relay := newKey(t)
	in := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/1"),
		ma.StringCast("/ip4/10.0.0.2/tcp/1"),
		ma.StringCast("/ip4/8.8.8.8/tcp/1"),
		ma.StringCast("/ip4/0.0.0.0/tcp/1"),
		ma.StringCast("/ip6/fe80::1/tcp/1"),
		ma.StringCast("/ip4/8.8.8.8/tcp/1/p2p/" + relay.String() + "/p2p-circuit"),
		ma.StringCast("/ip4/8.8.4.4/tcp/1/p2p/" + self.String() + "/p2p-circuit"),
		ma.StringCast("/ip4/8.8.8.8/tcp/1/p2p/" + relay.String()),
	}
	str := func(as []ma.Multiaddr) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.String())
		}
		return out
	}
	got := str(UsableAddrs(in, nil, self, 0))
	want := []string{"/ip4/8.8.8.8/tcp/1", "/ip4/10.0.0.2/tcp/1", "/ip4/127.0.0.1/tcp/1",
		"/ip4/8.8.8.8/tcp/1/p2p/" + relay.String() + "/p2p-circuit"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got := str(UsableAddrs(in, ma.StringCast("/ip4/9.9.9.9/tcp/5"), self, 0)); len(got) != 2 {
		t.Errorf("learned over a public address: got %v, want the public ones only", got)
	}
	if got := str(UsableAddrs(in, ma.StringCast("/ip4/10.0.0.9/tcp/5"), self, 0)); len(got) != 3 {
		t.Errorf("learned over a private address: got %v, want no loopback", got)
	}
	if got := UsableAddrs(in, nil, self, 1); len(got) != 1 {
		t.Errorf("max 1: got %v", got)
	}
}

func TestRelayResources(t *testing.T) {
	rc := RelayResources()
	if rc.Limit == nil || rc.Limit.Duration < 10*time.Minute || rc.Limit.Data < 16<<20 {
		t.Fatalf("relay limits too small for sync data: %+v", rc.Limit)
	}
}
