package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/issuemesh/issuemesh/internal/fuzzmsg"
	"github.com/issuemesh/issuemesh/mesh"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/replica"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// nestedMsg is a msgpack map {"x": [[[...nil...]]]} of size bytes.
func nestedMsg(size int) []byte { return fuzzmsg.Nested(size) }

// procStatus reads one "kB" figure (VmRSS, VmHWM) of this process.
func procStatus(t *testing.T, key string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status to measure memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			return kb << 10
		}
	}
	t.Skipf("no %s in /proc/self/status", key)
	return 0
}

// peakGrowth runs attack and returns how far this process's peak resident
// memory rose above what it held before (Linux: VmHWM reset through
// /proc/self/clear_refs).
func peakGrowth(t *testing.T, attack func()) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS (/proc/self/clear_refs): %v", err)
	}
	before := procStatus(t, "VmRSS")
	attack()
	return procStatus(t, "VmHWM") - before
}

// flood opens n streams of proto from h to id at once, sends msg as one
// frame on each and waits until the node has answered or reset every one.
func flood(ctx context.Context, t *testing.T, h host.Host, id peer.ID, proto protocol.ID, n int, msg []byte) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := p2p.OpenStream(ctx, h, id, proto)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			_ = s.SetDeadline(time.Now().Add(time.Minute))
			if err := replica.WriteFrame(s, msg); err != nil {
				return // reset while sending: refused early
			}
			_ = s.CloseWrite()
			_, _ = io.Copy(io.Discard, s)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening a %s stream: %v", proto, err)
	}
}

// stillRuns fails t if the node's Run ended.
func (tn *testNode) stillRuns(t *testing.T) {
	t.Helper()
	select {
	case err := <-tn.done:
		tn.done <- err
		t.Fatalf("%s stopped: %v", tn.label, err)
	default:
	}
}

// memBound is the most the peak RSS may grow while a node refuses the
// nested frames. Today's limits cost one frame buffer per stream (a few MB).
const memBound = 100 << 20

// TestNestedMsgpackOnPairProtocol: a stranger, admitted because an
// invitation is open, sends 30 frames of deeply nested msgpack on the pair
// protocol at once. The node refuses them without its memory growing by
// more than memBound, keeps running, and the invitation still works.
func TestNestedMsgpackOnPairProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	res, err := a.Invite(ctx, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stranger := newRawHost(t, a)
	if err := stranger.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.hostOrNil().Addrs()}); err != nil {
		t.Fatalf("stranger could not connect with an invitation open: %v", err)
	}
	// The attack as found (frames at the pair protocol's old 256 KiB limit),
	// then frames that fit the request limit and reach the decoder.
	big, small := nestedMsg(pairing.MaxFrame-8), nestedMsg(pairing.MaxRequest-8)
	grew := peakGrowth(t, func() {
		flood(ctx, t, stranger, a.ID(), p2p.ProtoPair, 30, big)
		flood(ctx, t, stranger, a.ID(), p2p.ProtoPair, 30, small)
	})
	t.Logf("peak RSS growth for 30 nested pair frames of %d bytes and 30 of %d: %.1f MB", len(big), len(small), float64(grew)/(1<<20))
	if grew > memBound {
		t.Errorf("peak RSS grew by %.1f MB, over the %d MB bound", float64(grew)/(1<<20), memBound>>20)
	}
	a.stillRuns(t)
	testutil.WaitFor(t, 10*time.Second, "the refusals are logged", func() bool {
		logs := a.logs.String()
		return strings.Contains(logs, "bad pair request") && strings.Contains(logs, "nesting deeper than")
	})
	if _, err := b.Accept(ctx, res.Code, "a"); err != nil {
		t.Fatalf("a real accept after the flood: %v", err)
	}
}

// TestNestedMsgpackOnCatchUpProtocol: an allowlisted peer (no member of
// any network) sends 3 catch-up requests of deeply nested msgpack at once.
// The node refuses them within memBound and keeps running.
func TestNestedMsgpackOnCatchUpProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := startNode(t, "a", Options{})
	raw := newRawHost(t, a)
	if _, err := a.AddPeer(ctx, p2p.FullAddrs(raw)[0], "raw"); err != nil {
		t.Fatal(err)
	}
	info, _ := p2p.ParsePeerAddr(a.loopbackAddr(t))
	testutil.WaitFor(t, 10*time.Second, "the raw host and A are connected", func() bool { return raw.Connect(ctx, info) == nil })
	// 1 MiB levels: enough to show the cost (several hundred MB on a
	// decoder that recurses) without the stack overflow that a full
	// 4 MiB frame causes there, which would kill the test binary.
	msg := nestedMsg(1 << 20)
	grew := peakGrowth(t, func() { flood(ctx, t, raw, a.ID(), p2p.ProtoNetSync, 3, msg) })
	t.Logf("peak RSS growth for 3 nested catch-up frames of %d bytes: %.1f MB", len(msg), float64(grew)/(1<<20))
	if grew > memBound {
		t.Errorf("peak RSS grew by %.1f MB, over the %d MB bound", float64(grew)/(1<<20), memBound>>20)
	}
	a.stillRuns(t)
	testutil.WaitFor(t, 10*time.Second, "the refusal is logged", func() bool {
		return strings.Count(a.logs.String(), "bad data on the netsync protocol") >= 3
	})
}

// TestNestedMsgpackFullFrame: the largest catch-up frame, nested to the
// last byte (past where Go's stack overflows in a recursive decoder), is
// refused by the bounded decoder at once.
func TestNestedMsgpackFullFrame(t *testing.T) {
	var req mesh.SyncRequest
	err := replica.Unmarshal(nestedMsg(mesh.MaxSyncFrame), &req)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("nesting deeper than %d levels", replica.MaxDepth)) {
		t.Fatalf("nested frame: %v, want a nesting refusal", err)
	}
}
