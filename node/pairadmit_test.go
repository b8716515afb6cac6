package node

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/issuemesh/issuemesh/internal/testutil"
	"github.com/issuemesh/issuemesh/pairing"
)

// TestStrangersCannotHoldPairing: 32 stranger identities connect to A
// while an invitation is open and reconnect whenever they are dropped,
// trying to hold every place for peers that want to pair. A real accept
// with the valid invitation still succeeds.
func TestStrangersCannotHoldPairing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	res, err := a.Invite(ctx, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	info := peer.AddrInfo{ID: a.ID(), Addrs: a.hostOrNil().Addrs()}
	strangers := make([]host.Host, 32)
	for i := range strangers {
		strangers[i] = newRawHost(t, a)
	}
	hold, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var tried atomic.Int32 // strangers that completed a first attempt to connect
	defer func() { stop(); wg.Wait() }()
	for _, s := range strangers {
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			first := true
			for {
				if s.Network().Connectedness(a.ID()) != network.Connected {
					s.Network().(*swarm.Swarm).Backoff().Clear(a.ID())
					_ = s.Connect(hold, info)
				}
				if first {
					first = false
					tried.Add(1)
				}
				select {
				case <-hold.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	held := func() int {
		n := 0
		for _, s := range strangers {
			if a.hostOrNil().Network().Connectedness(s.ID()) == network.Connected {
				n++
			}
		}
		return n
	}
	// Today's limits hold every stranger's first attempt for PairTimeout
	// at the least, unless a newcomer took its place.
	testutil.WaitFor(t, 30*time.Second, "every stranger tried to connect", func() bool { return tried.Load() == int32(len(strangers)) })
	before := held()

	p, err := b.Accept(ctx, res.Code, "a")
	if err != nil {
		t.Fatalf("accept while 32 strangers hold the pairing places (%d connected): %v", held(), err)
	}
	if p.ID != a.ID().String() || !a.allow.Has(b.ID()) {
		t.Fatalf("not paired: B's record %+v, A allowlists B: %v", p, a.allow.Has(b.ID()))
	}
	t.Logf("paired; %d strangers were connected to A before the accept, %d after", before, held())
}

// TestAcceptDialsAgainAfterAFailedHandshake: the acceptor's first dial of
// the inviter fails in the security handshake (as when both nodes dial each
// other at the same instant between the same ports: one TCP connection,
// two initiators); the accept dials again and pairs.
func TestAcceptDialsAgainAfterAFailedHandshake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := startNode(t, "a", Options{})
	b := startNode(t, "b", Options{})
	res, err := a.Invite(ctx, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := pairing.Decode(res.Code)
	if err != nil {
		t.Fatal(err)
	}
	target, err := manet.ToNetAddr(ma.StringCast(a.loopbackAddr(t)).Decapsulate(ma.StringCast("/p2p/" + a.ID().String())))
	if err != nil {
		t.Fatal(err)
	}
	// A TCP proxy in front of A that answers its first connection with
	// bytes that are no handshake and forwards every later one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if conns.Add(1) == 1 {
				_, _ = c.Write([]byte("\x13not a handshake!!!\n"))
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target.String())
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	proxy, err := manet.FromNetAddr(ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	inv.Addrs = []ma.Multiaddr{proxy}
	if _, err := b.Accept(ctx, inv.Encode(), "a"); err != nil {
		t.Fatalf("accept after one failed handshake: %v", err)
	}
	if n := conns.Load(); n < 2 {
		t.Fatalf("the proxy saw %d connections, want the failed one and a second", n)
	}
	testutil.WaitFor(t, 10*time.Second, "A allowlists B", func() bool { return a.allow.Has(b.ID()) })
}
