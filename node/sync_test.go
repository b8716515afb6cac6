package node

import (
	"bufio"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/p2p/syncproto"
	"github.com/issuemesh/issuemesh/replica"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

func ptr[T any](v T) *T { return &v }

// A change applied by sync is recognised and not sent back: after B applies
// A's issue and B's trigger has looked at the change it caused, B has sent
// nothing to A, and A has received nothing.
func TestAppliedChangeIsNotSentBack(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "echo?", Status: "Open", Labels: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "B applied A's issue and A got the ack", func() bool {
		_, ok := b.issueBySummary(t, "echo?")
		return ok && a.count(t, "o/") == 0
	})
	onB, _ := b.issueBySummary(t, "echo?")
	// B changes it; A applies; again nothing comes back to B.
	if _, err := b.tracker.Update(ctx, onB.Key, adapters.Patch{Status: ptr("Done"), AddComments: []adapters.Comment{{Author: "bob", Body: "done"}}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A applied B's change", func() bool {
		got, err := a.tracker.Get(ctx, is.Key)
		return err == nil && got.Status == "Done" && len(got.Comments) == 1 && b.count(t, "o/") == 0
	})
	testutil.WaitFor(t, 10*time.Second, "both triggers looked at every change", func() bool { return a.settled(t) && b.settled(t) })

	count := func(recs []string, what string) int {
		n := 0
		for _, r := range recs {
			if r == what {
				n++
			}
		}
		return n
	}
	summarise := func(tn *testNode, key string) []string {
		var out []string
		for _, r := range tn.history(t, key) {
			out = append(out, r.Dir+" "+r.What)
		}
		return out
	}
	ha, hb := summarise(a, is.Key), summarise(b, onB.Key)
	// A: queued its create once and applied B's change once; B: applied
	// A's create once and queued its own change once. No other events.
	if count(ha, "out queued") != 1 || count(ha, "in applied") != 1 || count(hb, "out queued") != 1 || count(hb, "in applied") != 1 {
		t.Fatalf("echo: A's history %v, B's history %v", ha, hb)
	}
	if a.count(t, "o/") != 0 || b.count(t, "o/") != 0 || a.count(t, "i/") != 0 || b.count(t, "i/") != 0 {
		t.Fatal("events left in a queue")
	}
}

// A stranger (a valid libp2p key that is not allowlisted) can neither
// connect nor get a replica stream to the handler.
func TestStrangerReplicaStreamRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := startNode(t, "a", Options{})
	stranger := newRawHost(t, a)

	info, err := p2p.ParsePeerAddr(a.loopbackAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	// The dialer may see its side of the handshake complete before A's
	// gater drops the connection in InterceptSecured; what matters is that
	// nothing is ever served to it.
	_ = stranger.Connect(ctx, info)
	if s, err := p2p.OpenStream(ctx, stranger, a.ID(), syncproto.ProtoReplica); err == nil {
		writeEvent(t, s, stranger.ID(), 1)
		buf := make([]byte, 1)
		if _, rerr := s.Read(buf); rerr == nil {
			t.Fatal("a stranger's replica stream was served")
		}
	}
	testutil.WaitFor(t, 5*time.Second, "the refusal is logged with the stranger's ID", func() bool {
		return strings.Contains(a.logs.String(), stranger.ID().String())
	})
	if n := a.count(t, "r/"); n != 0 {
		t.Fatalf("A received %d events from a stranger", n)
	}
}

// Garbage on the replica protocol from an allowlisted peer is logged and
// that stream is closed; the node keeps serving, and the same peer's next,
// well-formed stream is applied.
func TestGarbageOnReplicaProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := startNode(t, "a", Options{})
	peerHost := newRawHost(t, a)
	if _, err := a.AddPeer(ctx, p2p.FullAddrs(peerHost)[0], "raw"); err != nil {
		t.Fatal(err)
	}
	info, _ := p2p.ParsePeerAddr(a.loopbackAddr(t))
	// A dials the raw host too; two dials at the same instant between the
	// same TCP ports (reuseport) can make both fail once. Either side's
	// next attempt connects.
	testutil.WaitFor(t, 10*time.Second, "the raw host and A are connected", func() bool {
		return peerHost.Connect(ctx, info) == nil
	})
	garbage := []string{
		"\x05hello",                        // a frame that is not msgpack
		"\xff\xff\xff\xff\xff\xff\xff\x7f", // a length far over the limit
		"\x03\x81\xa1v",                    // truncated msgpack
	}
	for i, g := range garbage {
		s, err := p2p.OpenStream(ctx, peerHost, a.ID(), syncproto.ProtoReplica)
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte(g))
		s.CloseWrite()
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1)
		s.Read(buf) // returns when A resets or closes
		s.Close()
		testutil.WaitFor(t, 5*time.Second, "error logged", func() bool {
			return strings.Count(a.logs.String(), "bad data on the replica protocol") >= i+1
		})
	}
	// The node still serves: a well-formed event from the same peer lands.
	s, err := p2p.OpenStream(ctx, peerHost, a.ID(), syncproto.ProtoReplica)
	if err != nil {
		t.Fatal(err)
	}
	writeEvent(t, s, peerHost.ID(), 1)
	s.CloseWrite()
	testutil.WaitFor(t, 10*time.Second, "the good event is applied", func() bool {
		_, ok := a.issueBySummary(t, "after garbage")
		return ok
	})
	s.Close()
}

func writeEvent(t *testing.T, s interface{ Write([]byte) (int, error) }, origin peer.ID, seq uint64) {
	t.Helper()
	var r replica.Replica
	r.Set(replica.FieldSummary, replica.Value{S: "after garbage", Clock: replica.Clock{Wall: time.Now().UnixMilli(), Peer: origin.String()}})
	b, err := replica.MarshalEvent(&replica.Event{V: replica.Version, ID: "ev1", Twin: "twin1", Origin: origin.String(), Seq: seq, Replica: r})
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(s)
	if err := replica.WriteFrame(w, b); err != nil {
		t.Fatal(err)
	}
	w.Flush()
}

// Passes of share over the same twins in opposite orders (a trigger pass
// and a network's key announcement, say) take the twin locks in one order
// and so never wait on each other for ever; an issue shared by two passes
// at once gets one twin.
func TestConcurrentSharesOverlap(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	var keys []string
	for i := range 16 {
		is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "overlap " + string(rune('a'+i)), Status: "Open"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, is.Key)
	}
	reversed := slices.Clone(keys)
	slices.Reverse(reversed)
	links := []string{b.self.String()}
	done := make(chan error, 2)
	for _, ks := range [][]string{keys, reversed} {
		go func() {
			for range 50 {
				if err := a.shareLinks(ctx, ks, links); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	deadline := time.After(30 * time.Second)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("two share passes over the same twins in opposite orders are stuck on each other's locks")
		}
	}
	testutil.WaitFor(t, 10*time.Second, "B has every issue", func() bool { return b.count(t, "t/") == len(keys) })
	if got := a.count(t, "t/"); got != len(keys) {
		t.Fatalf("A has %d twins for %d issues", got, len(keys))
	}
}

// The applier holds the locks of a batch's twins until the batch's finish
// writes are committed, taken in twin ID order: share passes over the same
// twins in another order meanwhile neither deadlock with it nor see an
// applied change before its baseline is stored (which would send it back).
func TestBatchApplyWhileSharing(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	const issues, rounds = 48, 6
	var keys []string
	for i := range issues {
		is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "batch " + strconv.Itoa(i), Status: "Open"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, is.Key)
	}
	stop := make(chan struct{})
	shared := make(chan error, 1)
	go func() {
		// B's passes over everything it has, in reverse key order.
		links := []string{a.self.String()}
		for {
			select {
			case <-stop:
				shared <- nil
				return
			default:
			}
			all, _, err := b.tracker.Changes(ctx, "", 10000)
			if err != nil {
				shared <- err
				return
			}
			var ks []string
			for _, is := range all {
				ks = append(ks, is.Key)
			}
			slices.Reverse(ks)
			if err := b.shareLinks(ctx, ks, links); err != nil {
				shared <- err
				return
			}
		}
	}()
	for r := range rounds {
		for _, k := range keys {
			if _, err := a.tracker.Update(ctx, k, adapters.Patch{Status: ptr("S" + strconv.Itoa(r))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	last := "S" + strconv.Itoa(rounds-1)
	testutil.WaitFor(t, 30*time.Second, "B applied every last update and A got the acks", func() bool {
		all, _, err := b.tracker.Changes(ctx, "", 10000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, is := range all {
			if is.Status == last {
				n++
			}
		}
		return n == issues && a.count(t, "o/") == 0
	})
	close(stop)
	select {
	case err := <-shared:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("B's share passes are stuck")
	}
	testutil.WaitFor(t, 10*time.Second, "B's trigger looked at every change", func() bool { return b.settled(t) })
	all, _, err := b.tracker.Changes(ctx, "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range all {
		for _, r := range b.history(t, is.Key) {
			if r.Dir == "out" {
				t.Fatalf("echo: B sent %s's applied change back: %+v", is.Key, r)
			}
		}
	}
	if n := b.count(t, "o/"); n != 0 {
		t.Fatalf("echo: %d events queued on B", n)
	}
}
