package p2p

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

const testID = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"

func TestParsePeerAddr(t *testing.T) {
	tests := []struct {
		in       string
		wantAddr string // "" means no address
		wantErr  string // substring; "" means success
	}{
		{in: "/ip4/192.0.2.7/tcp/4001/p2p/" + testID, wantAddr: "/ip4/192.0.2.7/tcp/4001"},
		{in: "  /ip4/192.0.2.7/udp/4001/quic-v1/p2p/" + testID + "\n", wantAddr: "/ip4/192.0.2.7/udp/4001/quic-v1"},
		{in: "/dns4/node.example/tcp/4001/p2p/" + testID, wantAddr: "/dns4/node.example/tcp/4001"},
		{
			in:       "/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWGzBt8V4RzPbBgrn3hmkLMq2eTAsbFo3rTnKZvm7yLHw4/p2p-circuit/p2p/" + testID,
			wantAddr: "/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWGzBt8V4RzPbBgrn3hmkLMq2eTAsbFo3rTnKZvm7yLHw4/p2p-circuit",
		},
		{in: "/p2p/" + testID},
		{in: "", wantErr: "empty peer address"},
		{in: "/ip4/192.0.2.7/tcp/4001", wantErr: "multiaddr has no /p2p/ component: /ip4/192.0.2.7/tcp/4001"},
		{in: "192.0.2.7:4001", wantErr: "is not a valid multiaddr"},
		{in: "/ip4/192.0.2.7/tcp/4001/p2p/notapeerid", wantErr: "is not a valid multiaddr"},
		{in: testID, wantErr: "is not a valid multiaddr"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ai, err := ParsePeerAddr(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", ai, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ai.ID.String() != testID {
				t.Errorf("ID %s, want %s", ai.ID, testID)
			}
			var got string
			if len(ai.Addrs) > 0 {
				got = ai.Addrs[0].String()
			}
			if got != tt.wantAddr || len(ai.Addrs) > 1 {
				t.Errorf("addrs %v, want [%s]", ai.Addrs, tt.wantAddr)
			}
		})
	}
}

func TestAddrRank(t *testing.T) {
	tests := []struct {
		addr string
		want int
	}{
		{"/ip4/8.8.8.8/tcp/4001", 0},
		{"/ip6/2001:4860:4860::8888/udp/4001/quic-v1", 0},
		{"/ip4/192.168.1.5/tcp/4001", 1},
		{"/ip4/10.0.0.1/udp/4001/quic-v1", 1},
		{"/ip4/127.0.0.1/tcp/4001", 2},
		{"/ip6/::1/tcp/4001", 2},
		{"/ip4/8.8.8.8/tcp/4001/p2p/" + testID + "/p2p-circuit", 3},
	}
	for _, tt := range tests {
		if got := addrRank(ma.StringCast(tt.addr)); got != tt.want {
			t.Errorf("addrRank(%s) = %d, want %d", tt.addr, got, tt.want)
		}
	}
}

func TestFullAddrs(t *testing.T) {
	h := newTestHost(t, Config{Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}})
	got := FullAddrs(h)
	if len(got) < 2 {
		t.Fatalf("FullAddrs = %v, want a TCP and a QUIC address", got)
	}
	var tcp, quic bool
	for _, s := range got {
		ai, err := ParsePeerAddr(s)
		if err != nil {
			t.Fatalf("FullAddrs gave %q, which does not parse: %v", s, err)
		}
		if ai.ID != h.ID() {
			t.Errorf("%s names peer %s, want %s", s, ai.ID, h.ID())
		}
		tcp = tcp || strings.HasPrefix(s, "/ip4/127.0.0.1/tcp/")
		quic = quic || strings.Contains(s, "/quic-v1/p2p/")
	}
	if !tcp || !quic {
		t.Errorf("FullAddrs = %v, want loopback TCP and QUIC", got)
	}
	if !slices.Equal(got, FullAddrs(h)) {
		t.Error("FullAddrs is not stable between calls")
	}
	if !slices.IsSortedFunc(got, func(x, y string) int {
		return addrRank(ma.StringCast(x)) - addrRank(ma.StringCast(y))
	}) {
		t.Errorf("FullAddrs = %v, not ordered by rank", got)
	}
}

func TestNewHostConfigErrors(t *testing.T) {
	key, _ := newKey(t)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{Allow: NewAllowlist()}, "Config.Key is nil"},
		{"no allowlist", Config{Key: key}, "Config.Allow is nil"},
		{"bad reachability", Config{Key: key, Allow: NewAllowlist(), Reachability: "sometimes"}, `reachability "sometimes" is not one of`},
		{"bad listen", Config{Key: key, Allow: NewAllowlist(), Listen: []string{"0.0.0.0:4001"}}, `listen address "0.0.0.0:4001"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHost(tt.cfg)
			if err == nil {
				_ = h.Close()
				t.Fatalf("NewHost succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReachabilityRelayService(t *testing.T) {
	hop := protocol.ID(circuit.ProtoIDv2Hop)

	pub := newTestHost(t, Config{Reachability: ReachabilityPublic})
	testutil.WaitFor(t, 5*time.Second, "the public host to serve "+string(hop), func() bool {
		return slices.Contains(pub.Mux().Protocols(), hop)
	})

	priv := newTestHost(t, Config{Reachability: ReachabilityPrivate})
	sub, err := priv.EventBus().Subscribe(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	select {
	case ev := <-sub.Out():
		if r := ev.(event.EvtLocalReachabilityChanged).Reachability; r != network.ReachabilityPrivate {
			t.Fatalf("private host reports reachability %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("private host never reported its reachability")
	}
	if slices.Contains(priv.Mux().Protocols(), hop) {
		t.Errorf("private host serves %s", hop)
	}
}

func TestRelayACL(t *testing.T) {
	_, a := newKey(t)
	_, b := newKey(t)
	_, s := newKey(t)
	acl := relayACL{NewAllowlist(a, b)}
	if !acl.AllowReserve(a, nil) || acl.AllowReserve(s, nil) {
		t.Error("AllowReserve: want allowlisted peers only")
	}
	if !acl.AllowConnect(a, nil, b) || acl.AllowConnect(s, nil, b) || acl.AllowConnect(a, nil, s) {
		t.Error("AllowConnect: want source and destination allowlisted")
	}
}

func TestRelaySource(t *testing.T) {
	_, self := newKey(t)
	_, r1 := newKey(t)
	_, r2 := newKey(t)
	_, stranger := newKey(t)
	src := relaySource(self, NewAllowlist(self, r1, r2), func() []peer.AddrInfo {
		return []peer.AddrInfo{{ID: self}, {ID: stranger}, {ID: r1}, {ID: r2}}
	})
	var got []peer.ID
	for ai := range src(context.Background(), 1) {
		got = append(got, ai.ID)
	}
	if !slices.Equal(got, []peer.ID{r1}) {
		t.Errorf("relay source gave %v, want [%s] (allowlisted, not self, at most num)", got, r1)
	}
}

// TestRelayedStream: P is behind "NAT" (forced private) and reserves a slot
// on the public relay R; B reaches P through R only, over a limited
// connection, and OpenStream still works.
func TestRelayedStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keyR, idR := newKey(t)
	keyP, idP := newKey(t)
	keyB, idB := newKey(t)

	r := newTestHost(t, Config{Key: keyR, Allow: NewAllowlist(idP, idB), Reachability: ReachabilityPublic})
	testutil.WaitFor(t, 5*time.Second, "the relay service", func() bool {
		return slices.Contains(r.Mux().Protocols(), protocol.ID(circuit.ProtoIDv2Hop))
	})
	p := newTestHost(t, Config{
		Key: keyP, Allow: NewAllowlist(idR, idB), Reachability: ReachabilityPrivate,
		Relays: func() []peer.AddrInfo { return []peer.AddrInfo{addrInfo(r)} },
	})
	b := newTestHost(t, Config{Key: keyB, Allow: NewAllowlist(idR, idP)})

	Handle(p, NewAllowlist(idB), ProtoPair, nil, func(s network.Stream) {
		defer s.Close()
		_, _ = io.Copy(s, s)
	})

	// autorelay advertises circuit addresses only for relays with public
	// addresses, so on loopback watch the relay's side of the reservation
	// and build the circuit address by hand.
	testutil.WaitFor(t, 20*time.Second, "P to reserve a slot on R", func() bool {
		ti := r.ConnManager().GetTagInfo(idP)
		return ti != nil && ti.Tags["relay-reservation"] > 0
	})
	var circuitAddr ma.Multiaddr
	for _, a := range r.Network().ListenAddresses() {
		if !isRelayed(a) {
			circuitAddr = a.Encapsulate(ma.StringCast("/p2p/" + idR.String() + "/p2p-circuit"))
			break
		}
	}
	b.Peerstore().AddAddrs(idP, []ma.Multiaddr{circuitAddr}, peerstore.TempAddrTTL)

	s, err := OpenStream(ctx, b, idP, ProtoPair)
	if err != nil {
		t.Fatalf("open stream through the relay: %v", err)
	}
	defer s.Reset()
	if !s.Conn().Stat().Limited {
		t.Errorf("stream runs over %s, want the limited relayed connection", s.Conn().RemoteMultiaddr())
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(s); err != nil || string(got) != "hi" {
		t.Fatalf("echo through relay: %q, %v", got, err)
	}
}
