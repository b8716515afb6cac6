package p2p

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestPubSubDelivers: with our options a message published right after
// joining (before the mesh forms) is delivered, and the same data published
// again is delivered once (content IDs).
func TestPubSubDelivers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	allowA, allowB := NewAllowlist(), NewAllowlist()
	a, b := loopbackHost(t, allowA), loopbackHost(t, allowB)
	allowA.Add(b.ID())
	allowB.Add(a.ID())
	psA, err := NewPubSub(ctx, a, allowA, nil)
	if err != nil {
		t.Fatal(err)
	}
	psB, err := NewPubSub(ctx, b, allowB, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	ta, _ := psA.Join(NetTopic("x"))
	tb, _ := psB.Join(NetTopic("x"))
	sb, err := tb.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := ta.Subscribe()
	defer sa.Cancel()
	for len(ta.ListPeers()) == 0 { // B's subscription arrived
		select {
		case <-ctx.Done():
			t.Fatal("A never saw B subscribe")
		case <-time.After(10 * time.Millisecond):
		}
	}
	for _, data := range []string{"hello", "hello", "world"} {
		if err := ta.Publish(ctx, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	// Gossipsub does not keep the order: take messages until both came.
	got := map[string]int{}
	for got["hello"] == 0 || got["world"] == 0 {
		m, err := sb.Next(ctx)
		if err != nil {
			t.Fatalf("received %v: %v", got, err)
		}
		if m.GetFrom() != a.ID() {
			t.Fatalf("message from %s, want %s", m.GetFrom(), a.ID())
		}
		got[string(m.Data)]++
	}
	if got["hello"] != 1 || len(got) != 2 {
		t.Fatalf("received %v, want hello and world once each", got)
	}
}

// Gossipsub's records reach the node's log from info up, and its warning
// about a full queue of tag bumps counts as debug.
func TestPubSubLogLevels(t *testing.T) {
	tests := []struct {
		level slog.Level
		msg   string
		shown bool
	}{
		{slog.LevelDebug, "publish", false},
		{slog.LevelInfo, "joined topic", true},
		{slog.LevelWarn, "something odd", true},
		{slog.LevelWarn, "error bumping delivery tag", false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		log := slog.New(minLevel{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelInfo})
		log.Log(context.Background(), tt.level, tt.msg)
		if got := strings.Contains(buf.String(), tt.msg); got != tt.shown {
			t.Errorf("%s %q: shown %v, want %v (%q)", tt.level, tt.msg, got, tt.shown, buf.String())
		}
	}
}

// A peer that forwards messages the topic's validator rejects is
// penalised until gossipsub ignores it (graylisted); messages the
// validator ignores cost nothing.
func TestPubSubPenalisesRejectedMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	allowA, allowB := NewAllowlist(), NewAllowlist()
	a, b := loopbackHost(t, allowA), loopbackHost(t, allowB)
	allowA.Add(b.ID())
	allowB.Add(a.ID())
	var (
		mu          sync.Mutex
		scoreB      float64
		seen        int // messages A's validator saw
		inspections int
	)
	psA, err := NewPubSub(ctx, a, allowA, nil, pubsub.WithPeerScoreInspect(func(m map[peer.ID]float64) {
		mu.Lock()
		scoreB = m[b.ID()]
		inspections++
		mu.Unlock()
	}, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	psB, err := NewPubSub(ctx, b, allowB, nil)
	if err != nil {
		t.Fatal(err)
	}
	topic := NetTopic("x")
	err = psA.RegisterTopicValidator(topic, func(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		mu.Lock()
		seen++
		mu.Unlock()
		if strings.HasPrefix(string(m.Data), "ignore") {
			return pubsub.ValidationIgnore
		}
		return pubsub.ValidationReject
	})
	if err != nil {
		t.Fatal(err)
	}
	ta, err := psA.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.SetScoreParams(NetTopicScore()); err != nil {
		t.Fatal(err)
	}
	sa, err := ta.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Cancel()
	tb, err := psB.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for len(tb.ListPeers()) == 0 { // A's subscription arrived
		select {
		case <-ctx.Done():
			t.Fatal("B never saw A subscribe")
		case <-time.After(10 * time.Millisecond):
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-ctx.Done():
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("waiting until %s: score of B %v after %d messages", what, scoreB, seen)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	for i := range 10 {
		if err := tb.Publish(ctx, []byte(fmt.Sprintf("ignore %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	wait("A validated the ignored messages", func() bool { return seen == 10 })
	mu.Lock()
	after := inspections
	mu.Unlock()
	wait("B's score is inspected after them", func() bool { return inspections > after })
	mu.Lock()
	if scoreB < 0 {
		t.Errorf("ignored messages cost B %v", scoreB)
	}
	mu.Unlock()
	for i := range 6 {
		if err := tb.Publish(ctx, []byte(fmt.Sprintf("reject %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	wait("B is graylisted on A", func() bool { return scoreB <= GraylistThreshold })
}

// loopbackHost is a host on loopback TCP with a fresh key and allowlist a.
func loopbackHost(t *testing.T, a *Allowlist) host.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(Config{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Allow: a, Reachability: "private"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
