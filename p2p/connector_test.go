package p2p

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

func TestConnector(t *testing.T) {
	keyB, idB := newKey(t)
	allowA := NewAllowlist(idB)
	a := newTestHost(t, Config{Allow: allowA})
	b := newTestHost(t, Config{Key: keyB, Allow: NewAllowlist(a.ID())})
	a.Peerstore().AddAddrs(b.ID(), b.Network().ListenAddresses(), peerstore.PermanentAddrTTL)

	buf := &logBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("connector log:\n%s", buf)
		}
	})
	conn := NewConnector(a, allowA, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx) }()

	testutil.WaitFor(t, 10*time.Second, "A to connect to B", func() bool { return conn.Connected(b.ID()) })
	if !a.ConnManager().IsProtected(b.ID(), ProtectTag) {
		t.Errorf("B is not protected under tag %q", ProtectTag)
	}
	if err := conn.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second concurrent Run: got %v, want an 'already running' error", err)
	}

	// B hangs up; A must come back on a new connection. (Wait until B has
	// registered the connection too, or ClosePeer has nothing to close.)
	testutil.WaitFor(t, 10*time.Second, "B to see the connection", func() bool {
		return b.Network().Connectedness(a.ID()) == network.Connected
	})
	old := connIDs(a, b.ID())
	if err := b.Network().ClosePeer(a.ID()); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A to reconnect to B", func() bool {
		for id := range connIDs(a, b.ID()) {
			if !old[id] {
				return true
			}
		}
		return false
	})

	// Removing B from the allowlist unprotects and disconnects it.
	allowA.Remove(b.ID())
	conn.Kick()
	testutil.WaitFor(t, 10*time.Second, "A to drop B after removal", func() bool {
		return !a.ConnManager().IsProtected(b.ID(), ProtectTag) && !conn.Connected(b.ID())
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestConnectorProtectsOnStartAndUnprotectsOnExit(t *testing.T) {
	_, idX := newKey(t) // never reachable: no addresses
	allow := NewAllowlist(idX)
	a := newTestHost(t, Config{Allow: allow})
	conn := NewConnector(a, allow, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx) }()
	testutil.WaitFor(t, 5*time.Second, "X to be protected", func() bool { return a.ConnManager().IsProtected(idX, ProtectTag) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if a.ConnManager().IsProtected(idX, ProtectTag) {
		t.Error("X still protected after Run returned")
	}
}

func TestConnectorBackoff(t *testing.T) {
	_, idX := newKey(t)
	allow := NewAllowlist(idX)
	a := newTestHost(t, Config{Allow: allow})
	log, buf := newLogger()
	c := NewConnector(a, allow, log)

	st := &peerState{dialing: true}
	states := map[peer.ID]*peerState{idX: st}
	dialErr := errors.New("no route")
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		w *= time.Second
		before := time.Now()
		st.dialing = true
		c.dialed(dialResult{id: idX, err: dialErr}, states)
		if st.backoff != w {
			t.Fatalf("failure %d: backoff %v, want %v", i+1, st.backoff, w)
		}
		delay := st.next.Sub(before)
		lo, hi := time.Duration(float64(w)*(1-backoffJitter)), time.Duration(float64(w)*(1+backoffJitter))+time.Second
		if delay < lo || delay > hi {
			t.Errorf("failure %d: next attempt in %v, want within [%v, %v]", i+1, delay, lo, hi)
		}
	}
	if n := len(buf.lines("level=WARN", "unreachable", "peer="+idX.String())); n != 1 {
		t.Errorf("unreachable warning logged %d times, want once:\n%s", n, buf)
	}

	st.dialing = true
	c.dialed(dialResult{id: idX}, states)
	if st.backoff != 0 || st.failures != 0 || st.warned {
		t.Errorf("after success: %+v, want backoff reset", *st)
	}
}

func TestJitter(t *testing.T) {
	for range 1000 {
		d := jitter(10 * time.Second)
		if d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jitter(10s) = %v, outside ±20%%", d)
		}
	}
}

func connIDs(h interface{ Network() network.Network }, p peer.ID) map[string]bool {
	ids := make(map[string]bool)
	for _, c := range h.Network().ConnsToPeer(p) {
		ids[c.ID()] = true
	}
	return ids
}

// TestConnectorRetry: a peer known by ID only fails to dial and backs off;
// once its address is learned, Retry makes the connector dial it at once
// instead of after the backoff.
func TestConnectorRetry(t *testing.T) {
	keyB, idB := newKey(t)
	allowA := NewAllowlist(idB)
	a := newTestHost(t, Config{Allow: allowA})
	b := newTestHost(t, Config{Key: keyB, Allow: NewAllowlist(a.ID())})
	buf := &logBuf{}
	c := NewConnector(a, allowA, slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// No address: the dials fail and the backoff grows to 2s and more.
	testutil.WaitFor(t, 10*time.Second, "two failed dials", func() bool {
		return len(buf.lines("dial to peer failed", "failures=2")) > 0
	})
	a.Peerstore().AddAddrs(idB, b.Network().ListenAddresses(), time.Hour)
	before := len(buf.lines("dialing peer", "failures=0"))
	c.Retry(idB)
	testutil.WaitFor(t, 20*time.Second, "A to connect to B after Retry", func() bool { return c.Connected(idB) })
	// Retry reset the backoff: the dial that connected started afresh
	// (failures=0) instead of waiting out the grown backoff.
	if len(buf.lines("dialing peer", "failures=0")) <= before {
		t.Errorf("no dial with a reset backoff after Retry; log:\n%s", strings.Join(buf.lines("dial"), "\n"))
	}
}

func TestApplyRetries(t *testing.T) {
	_, id := newKey(t)
	a := newTestHost(t, Config{})
	c := NewConnector(a, NewAllowlist(id), nil)
	now := time.Now()
	st := &peerState{backoff: 32 * time.Second, failures: 6, next: now.Add(30 * time.Second), lastDial: now.Add(-2 * time.Second)}
	c.Retry(id)
	c.applyRetries(map[peer.ID]*peerState{id: st})
	if st.backoff != 0 || st.failures != 0 || st.next.After(now) {
		t.Fatalf("after Retry: %+v, want backoff reset and a dial due", *st)
	}
	st.lastDial = time.Now()
	c.Retry(id)
	c.applyRetries(map[peer.ID]*peerState{id: st})
	if !st.next.Equal(st.lastDial.Add(minBackoff)) {
		t.Fatalf("Retry right after a dial: next %v, want the minimum spacing after %v", st.next, st.lastDial)
	}
}
