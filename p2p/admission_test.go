package p2p

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func tcpAddr(t *testing.T, ip string) ma.Multiaddr {
	t.Helper()
	a, err := ma.NewMultiaddr("/ip4/" + ip + "/tcp/4001")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPairingAdmission: strangers get at most maxPerSource places per
// source and maxStrangers in all; a newcomer always gets in by taking the
// place of the stranger with the most failed attempts, then of one without
// a pair stream running, then of the longest waiting; a stranger gets one
// pair stream at a time; a peer ID with maxFailures failed attempts is
// refused.
func TestPairingAdmission(t *testing.T) {
	p := NewPairing()
	p.Timeout = time.Hour // no expiry during the test
	defer p.Close()
	p.SetOpenUntil(time.Now().Add(time.Hour))
	has := func(id peer.ID) bool { p.mu.Lock(); defer p.mu.Unlock(); return p.admitted[id] != nil }
	id := func(i int) peer.ID { return peer.ID(fmt.Sprintf("s%02d", i)) }

	// One source: maxPerSource places, then each newcomer evicts the
	// longest waiting.
	for i := range maxPerSource {
		if !p.admit(id(i), tcpAddr(t, fmt.Sprintf("10.0.0.%d", i+1))) {
			t.Fatalf("stranger %d refused", i)
		}
	}
	if !p.admit("late", tcpAddr(t, "10.0.0.200")) || has(id(0)) {
		t.Fatalf("newcomer from a full source: admitted %v, oldest still in: %v", has("late"), has(id(0)))
	}
	// A pair stream in progress protects; more failures expose.
	if !p.beginProof(id(1)) || p.beginProof(id(1)) {
		t.Fatal("want the first pair stream of a stranger served and a second one at the same time refused")
	}
	p.mu.Lock()
	p.fail(id(5), time.Now())
	p.mu.Unlock()
	if !p.admit("late2", tcpAddr(t, "10.0.0.201")) || has(id(5)) || !has(id(1)) {
		t.Fatalf("want the stranger with a failure evicted first: s05 in %v, s01 in %v", has(id(5)), has(id(1)))
	}
	if !p.admit("late3", tcpAddr(t, "10.0.0.202")) || has(id(2)) || !has(id(1)) {
		t.Fatalf("want the longest waiting without a stream evicted: s02 in %v, s01 (proving) in %v", has(id(2)), has(id(1)))
	}
	// Another source is not affected by the full one.
	if !p.admit("other", tcpAddr(t, "10.0.1.1")) || !has(id(3)) {
		t.Fatal("a stranger from another source evicted one from the full source")
	}

	// A stream that ends without pairing is a failed attempt; maxFailures
	// of them keep the peer out.
	p.endProof(id(1), false)
	for range maxFailures - 1 {
		p.mu.Lock()
		p.fail(id(1), time.Now())
		p.mu.Unlock()
	}
	p.mu.Lock()
	delete(p.admitted, id(1))
	p.mu.Unlock()
	if p.admit(id(1), tcpAddr(t, "10.9.0.1")) {
		t.Fatalf("a peer with %d failed attempts was admitted", maxFailures)
	}
	if !p.admit("fresh", tcpAddr(t, "10.9.0.1")) {
		t.Fatal("a fresh peer was refused")
	}

	// In all: maxStrangers places; a newcomer still gets in.
	for i := 100; len(p.admitted) < maxStrangers; i++ {
		if !p.admit(id(i), tcpAddr(t, fmt.Sprintf("10.%d.0.1", i))) {
			t.Fatalf("stranger %d refused", i)
		}
	}
	if !p.admit("last", tcpAddr(t, "192.0.2.1")) || len(p.admitted) != maxStrangers {
		t.Fatalf("newcomer with every place taken: admitted %v, %d places taken", has("last"), len(p.admitted))
	}

	// Closed: nobody.
	p.SetOpenUntil(time.Time{})
	if p.admit("closed", tcpAddr(t, "192.0.2.2")) {
		t.Fatal("admitted with no invitation open")
	}
}

func TestSourceOf(t *testing.T) {
	for addr, want := range map[string]string{
		"/ip4/203.0.113.77/tcp/1":            "203.0.113.0/24",
		"/ip6/2001:db8:1:2::1/udp/1/quic-v1": "2001:db8:1::/48",
		"/ip4/127.0.0.1/tcp/1":               "127.0.0.0/24",
		"/dns4/example.com/tcp/1":            "other",
	} {
		m, err := ma.NewMultiaddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sourceOf(m); got != want {
			t.Errorf("sourceOf(%s) = %q, want %q", addr, got, want)
		}
	}
}
