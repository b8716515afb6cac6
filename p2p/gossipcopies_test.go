package p2p

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// copyTracer counts the published messages a host receives (every copy)
// and the peers grafted onto its mesh.
type copyTracer struct{ recv, grafts atomic.Int64 }

func (t *copyTracer) RecvRPC(r *pubsub.RPC)                                { t.recv.Add(int64(len(r.GetPublish()))) }
func (t *copyTracer) Graft(peer.ID, string)                                { t.grafts.Add(1) }
func (t *copyTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (t *copyTracer) RemovePeer(peer.ID)                                   {}
func (t *copyTracer) Join(string)                                          {}
func (t *copyTracer) Leave(string)                                         {}
func (t *copyTracer) Prune(peer.ID, string)                                {}
func (t *copyTracer) ValidateMessage(*pubsub.Message)                      {}
func (t *copyTracer) DeliverMessage(*pubsub.Message)                       {}
func (t *copyTracer) RejectMessage(*pubsub.Message, string)                {}
func (t *copyTracer) DuplicateMessage(*pubsub.Message)                     {}
func (t *copyTracer) ThrottlePeer(peer.ID)                                 {}
func (t *copyTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *copyTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (t *copyTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (t *copyTracer) UndeliverableMessage(*pubsub.Message)                 {}
func (t *copyTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *copyTracer) OnClosedOutboundStream(peer.ID)                       {}

// TestNetGossipCopies: in a fully connected network of 8 members, an
// author's events of 2 KiB reach every member about once from the author
// (flood publish) and a few times more by mesh forwarding; with gossipsub's
// default mesh degree (6) each member got every event 6 to 8 times, which
// made a network's fan-out slower than a star of pairwise links.
func TestNetGossipCopies(t *testing.T) {
	const members, events = 8, 30
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hosts := make([]host.Host, members)
	allows := make([]*Allowlist, members)
	for i := range hosts {
		allows[i] = NewAllowlist()
		hosts[i] = loopbackHost(t, allows[i])
	}
	for i := range hosts {
		for j := range hosts {
			if i != j {
				allows[i].Add(hosts[j].ID())
			}
		}
	}
	tracers := make([]*copyTracer, members)
	topics := make([]*pubsub.Topic, members)
	subs := make([]*pubsub.Subscription, members)
	for i, h := range hosts {
		tracers[i] = &copyTracer{}
		ps, err := NewPubSub(ctx, h, allows[i], nil, pubsub.WithRawTracer(tracers[i]))
		if err != nil {
			t.Fatal(err)
		}
		if topics[i], err = ps.Join(NetTopic("copies")); err != nil {
			t.Fatal(err)
		}
		if subs[i], err = topics[i].Subscribe(pubsub.WithBufferSize(QueueSize)); err != nil {
			t.Fatal(err)
		}
		defer subs[i].Cancel()
	}
	for i := range hosts {
		for j := range i {
			if err := hosts[i].Connect(ctx, peer.AddrInfo{ID: hosts[j].ID(), Addrs: hosts[j].Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every member sees the others subscribed and has its mesh: grafts
	// happen at heartbeats (1 s), so the mesh is complete once no member
	// grafted for longer than a heartbeat.
	for i := range hosts {
		for len(topics[i].ListPeers()) < members-1 || tracers[i].grafts.Load() < 2 {
			select {
			case <-ctx.Done():
				t.Fatalf("member %d: %d peers, %d grafts", i, len(topics[i].ListPeers()), tracers[i].grafts.Load())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	sum := func(f func(*copyTracer) int64) func() int64 {
		return func() (n int64) {
			for _, tr := range tracers {
				n += f(tr)
			}
			return n
		}
	}
	steady(ctx, t, "the meshes", sum(func(c *copyTracer) int64 { return c.grafts.Load() }), 1500*time.Millisecond)
	before := make([]int64, members)
	for i := range tracers {
		before[i] = tracers[i].recv.Load()
	}
	for k := range events {
		data := append(bytes.Repeat([]byte{'x'}, 2048), byte(k))
		if err := topics[0].Publish(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < members; i++ {
		for range events {
			if _, err := subs[i].Next(ctx); err != nil {
				t.Fatalf("member %d: %v", i, err)
			}
		}
	}
	// Copies forwarded after the last delivery still count.
	steady(ctx, t, "the copies received", sum(func(c *copyTracer) int64 { return c.recv.Load() }), 300*time.Millisecond)
	var copies int64
	for i := 1; i < members; i++ {
		copies += tracers[i].recv.Load() - before[i]
	}
	per := float64(copies) / float64(events*(members-1))
	t.Logf("each member received each event %.2f times", per)
	if per > 5 {
		t.Fatalf("each member received each event %.2f times, want at most 5", per)
	}
}

// steady waits until f's value has not changed for d.
func steady(ctx context.Context, t *testing.T, what string, f func() int64, d time.Duration) {
	t.Helper()
	last, since := f(), time.Now()
	for time.Since(since) < d {
		select {
		case <-ctx.Done():
			t.Fatalf("%s kept changing", what)
		case <-time.After(50 * time.Millisecond):
		}
		if v := f(); v != last {
			last, since = v, time.Now()
		}
	}
}
