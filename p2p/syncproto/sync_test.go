package syncproto

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/internal/testutil"
	"github.com/issuemesh/issuemesh/replica"
)

// pipe is a source A sending to a destination B over in-memory hosts:
// A runs a Sender and serves acks, B serves the replica protocol and an
// "applier" answers every newly logged event with an applied ack.
type pipe struct {
	a, b       host.Host
	aLog, bLog *memLog
	wake       chan struct{}
	// dropAck, when set, drops an ack before B sends it (a lost ack).
	dropAck func(replica.Ack) bool
	// logged counts Logged calls on B.
	mu     sync.Mutex
	logged int
}

func newPipe(t *testing.T, ackTimeout time.Duration, dropAck func(replica.Ack) bool) *pipe {
	hs := linked(t, 2)
	p := &pipe{a: hs[0], b: hs[1], aLog: newMemLog(), bLog: newMemLog(), wake: make(chan struct{}, 1), dropAck: dropAck}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	// B: the replica handler, an applier and the ack sender.
	acks := make(chan replica.Ack, 8192)
	applied := make(chan struct{}, 1)
	bPeers := &testPeers{known: p.a.ID(), logged: func(id peer.ID, again []replica.Ack) {
		p.mu.Lock()
		p.logged++
		p.mu.Unlock()
		for _, a := range again {
			acks <- a
		}
		select {
		case applied <- struct{}{}:
		default:
		}
	}}
	rh := &ReplicaHandler{Log: p.bLog, Peers: bPeers, Logger: discard()}
	p.b.SetStreamHandler(ProtoReplica, rh.Handle)
	src := p.a.ID().String()
	wg.Add(2)
	go func() { // the applier: answers each event once, in order
		defer wg.Done()
		done := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-applied:
			}
			p.bLog.mu.Lock()
			todo := slices.Clone(p.bLog.in[src][done:])
			if p.bLog.answered[src] == nil {
				p.bLog.answered[src] = map[uint64]replica.Ack{}
			}
			for _, e := range todo {
				ev, _ := replica.UnmarshalEvent(e.Frame)
				a := replica.Ack{Seq: e.Seq, EventID: ev.ID, Twin: ev.Twin, Result: replica.ResultApplied}
				p.bLog.answered[src][e.Seq] = a
			}
			p.bLog.mu.Unlock()
			done += len(todo)
			for _, e := range todo {
				a := p.bLog.answered[src][e.Seq]
				if p.dropAck != nil && p.dropAck(a) {
					continue
				}
				acks <- a
			}
		}
	}()
	go func() {
		defer wg.Done()
		_ = RunAcks(ctx, p.a.ID(), AckSenderConfig{Host: func() host.Host { return p.b }, Queue: acks, Backoff: testBackoff})
	}()

	// A: the ack handler and the sender.
	aPeers := &testPeers{known: p.b.ID(), acked: func(ctx context.Context, id peer.ID, acks []replica.Ack) error {
		for _, a := range acks {
			p.aLog.ack(id.String(), a.Seq)
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
		return nil
	}}
	ah := &AckHandler{Peers: aPeers, Logger: discard()}
	p.a.SetStreamHandler(ProtoAck, ah.Handle)
	s := NewSender(p.b.ID(), SenderConfig{
		Host: func() host.Host { return p.a }, Log: p.aLog, Paused: func() bool { return false }, Wake: p.wake,
		AckTimeout: ackTimeout, Backoff: testBackoff,
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.Run(ctx)
	}()
	return p
}

func (p *pipe) send(t *testing.T, seqs ...uint64) {
	for _, seq := range seqs {
		p.aLog.queue(p.b.ID().String(), event(t, p.a.ID().String(), seq))
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// received is B's log of A's events, by sequence, in the order logged.
func (p *pipe) received() []uint64 {
	p.bLog.mu.Lock()
	defer p.bLog.mu.Unlock()
	var seqs []uint64
	for _, e := range p.bLog.in[p.a.ID().String()] {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

type testPeers struct {
	known  peer.ID
	logged func(peer.ID, []replica.Ack)
	acked  func(context.Context, peer.ID, []replica.Ack) error
}

func (p *testPeers) Known(id peer.ID) bool { return id == p.known }
func (p *testPeers) Logged(id peer.ID, again []replica.Ack) {
	if p.logged != nil {
		p.logged(id, again)
	}
}
func (p *testPeers) Acked(ctx context.Context, id peer.ID, acks []replica.Ack) error {
	if p.acked != nil {
		return p.acked(ctx, id, acks)
	}
	return nil
}

func seqs(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// Every event reaches the destination once and in order, with sequence
// gaps, over more than one read batch, and leaves the source's log once
// acked.
func TestSenderDeliversInOrderAndDrains(t *testing.T) {
	p := newPipe(t, 5*time.Second, nil)
	want := append(seqs(1, 300), seqs(1000, 1400)...) // a gap, as after a restart
	p.send(t, want...)
	peerKey := p.b.ID().String()
	testutil.WaitFor(t, 20*time.Second, "every event acked", func() bool { out, _ := p.aLog.counts(peerKey); return out == 0 })
	if got := p.received(); !slices.Equal(got, want) {
		t.Fatalf("destination logged %d events (first %v), want %d in order", len(got), got[:min(len(got), 5)], len(want))
	}
	// More later: the sender wakes and sends only those.
	p.send(t, 2000, 2001)
	testutil.WaitFor(t, 20*time.Second, "the later events acked", func() bool { out, _ := p.aLog.counts(peerKey); return out == 0 })
	if got := p.received(); !slices.Equal(got, append(want, 2000, 2001)) {
		t.Fatalf("after more events the destination has %d, want %d", len(got), len(want)+2)
	}
}

// A lost ack: the source sends the event again after its ack timeout, the
// destination drops the duplicate and answers it with the ack it gave.
func TestSenderResendsAfterLostAck(t *testing.T) {
	var mu sync.Mutex
	dropped := 0
	p := newPipe(t, 200*time.Millisecond, func(a replica.Ack) bool {
		mu.Lock()
		defer mu.Unlock()
		if a.Seq == 2 && dropped == 0 {
			dropped++
			return true
		}
		return false
	})
	p.send(t, 1, 2, 3)
	peerKey := p.b.ID().String()
	testutil.WaitFor(t, 20*time.Second, "every event acked", func() bool { out, _ := p.aLog.counts(peerKey); return out == 0 })
	mu.Lock()
	if dropped != 1 {
		t.Fatalf("%d acks dropped, want 1", dropped)
	}
	mu.Unlock()
	if got := p.received(); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("destination logged %v, want each of 1, 2, 3 once", got)
	}
}

// A receive that is not durable is not handed on and the source keeps the
// events; once the log works again they arrive.
func TestReceiveNotDurableLosesNothing(t *testing.T) {
	p := newPipe(t, 300*time.Millisecond, nil)
	p.bLog.mu.Lock()
	p.bLog.failReceive = errors.New("disk on fire")
	p.bLog.mu.Unlock()
	p.send(t, 1, 2, 3)
	peerKey := p.b.ID().String()
	testutil.WaitFor(t, 20*time.Second, "three failed sessions", func() bool {
		p.bLog.mu.Lock()
		defer p.bLog.mu.Unlock()
		return p.bLog.receives >= 3
	})
	p.mu.Lock()
	logged := p.logged
	p.mu.Unlock()
	if out, in := p.aLog.counts(peerKey); logged != 0 || out != 3 || in != 0 {
		t.Fatalf("with a failing log: %d handed on, source holds %d, destination %d; want 0, 3, 0", logged, out, in)
	}
	p.bLog.mu.Lock()
	p.bLog.failReceive = nil
	p.bLog.mu.Unlock()
	testutil.WaitFor(t, 20*time.Second, "every event acked", func() bool { out, _ := p.aLog.counts(peerKey); return out == 0 })
	if got := p.received(); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("destination logged %v, want 1, 2, 3", got)
	}
}

// Events claiming another origin than the sending peer, and streams of a
// peer that is not known, are refused before anything is logged.
func TestReplicaHandlerRefuses(t *testing.T) {
	hs := linked(t, 3)
	a, b, stranger := hs[0], hs[1], hs[2]
	for _, tc := range []struct {
		name   string
		from   host.Host
		origin string
	}{
		{"another origin", a, stranger.ID().String()},
		{"unknown peer", stranger, stranger.ID().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bLog := newMemLog()
			rh := &ReplicaHandler{Log: bLog, Peers: &testPeers{known: a.ID()}, Logger: discard()}
			b.SetStreamHandler(ProtoReplica, rh.Handle)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := tc.from.NewStream(ctx, b.ID(), ProtoReplica)
			if err != nil {
				t.Fatal(err)
			}
			e := event(t, tc.origin, 1)
			_ = replica.WriteFrame(s, e.Frame)
			_ = s.CloseWrite()
			_, _ = s.Read(make([]byte, 1)) // ends when B closes or resets
			_ = s.Close()
			for _, src := range []string{a.ID().String(), stranger.ID().String()} {
				if _, in := bLog.counts(src); in != 0 {
					t.Fatalf("%d events of %s logged, want none", in, src)
				}
			}
		})
	}
}
