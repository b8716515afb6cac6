package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/store"
)

// The engine's sync path between two nodes on memNet, without fsync and
// without libp2p: the CPU the engine, the sync logs and the trackers spend
// per event, which on a loaded machine is what can be compared between two
// versions of the code (go test -bench with -count, old and new
// interleaved; docs/performance.md). Every issue has a description of
// about 1 KiB, as in `make bench`.

const benchIssues = 500

// benchDescription is about 1 KiB of words in a pseudo-random order, text
// that compresses as prose does rather than to nothing (bench/stats.go).
var benchDescription = func() string {
	words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ticket login page error crash timeout reproduce steps expected actual server client deploy rollback")
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for sb.Len() < 1000 {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteByte(' ')
	}
	return sb.String()
}()

// benchNet is two nodes with benchIssues issues on a, not shared yet.
func benchNet(b *testing.B) (*memNet, *testNode, *testNode) {
	m := newMemNet(b, "a", "b")
	a := m.nodes[0]
	for i := range benchIssues {
		_, err := a.tr.Tracker.Create(context.Background(), adapters.Issue{Summary: fmt.Sprint("issue ", i), Description: benchDescription, Status: "Open"})
		if err != nil {
			b.Fatal(err)
		}
	}
	return m, a, m.nodes[1]
}

// BenchmarkFirstSync shares benchIssues existing issues with a new peer:
// a's trigger pass, b's creates, the acks, b's pass that sends nothing back.
func BenchmarkFirstSync(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	var cpu time.Duration
	var w writeTotals
	for b.Loop() {
		b.StopTimer()
		m, _, bn := benchNet(b)
		b.StartTimer()
		c0, w0 := cpuTime(), written(m)
		m.settle(ctx)
		cpu += cpuTime() - c0
		w.add(written(m), w0)
		b.StopTimer()
		if got := bn.count(b, "t/"); got != benchIssues {
			b.Fatalf("b has %d twins, want %d", got, benchIssues)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchIssues), "ns/issue")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchIssues), "cpu-ns/issue")
	w.report(b, b.N*benchIssues, "issue")
}

// BenchmarkUpdates edits every synced issue on a once and settles: a's
// trigger pass, b's updates, the acks, b's pass that sends nothing back.
func BenchmarkUpdates(b *testing.B) {
	ctx := context.Background()
	m, a, _ := benchNet(b)
	m.settle(ctx)
	all, _, err := a.tr.Tracker.Changes(ctx, "", benchIssues)
	if err != nil {
		b.Fatal(err)
	}
	round := 0
	b.ReportAllocs()
	var cpu time.Duration
	var w writeTotals
	for b.Loop() {
		b.StopTimer()
		round++
		for _, is := range all {
			d := fmt.Sprint(benchDescription, round)
			if _, err := a.tr.Tracker.Update(ctx, is.Key, adapters.Patch{Description: &d}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		c0, w0 := cpuTime(), written(m)
		if moved := m.settle(ctx); moved != benchIssues {
			b.Fatalf("%d events moved, want %d", moved, benchIssues)
		}
		cpu += cpuTime() - c0
		w.add(written(m), w0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchIssues), "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchIssues), "cpu-ns/event")
	w.report(b, b.N*benchIssues, "event")
}

// cpuTime is the process's CPU time (user and system) so far: on a shared
// machine, wall time says more about the neighbours than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// written is what both nodes' sync logs were asked to write so far.
func written(m *memNet) store.WriteStats {
	var w store.WriteStats
	for _, n := range m.nodes {
		s := n.st.Written()
		w.Commits += s.Commits
		w.Sets += s.Sets
		w.Deletes += s.Deletes
		w.Bytes += s.Bytes
	}
	return w
}

// writeTotals adds up the sync-log writes of the timed parts.
type writeTotals struct{ keys, bytes uint64 }

func (w *writeTotals) add(after, before store.WriteStats) {
	w.keys += after.Sets + after.Deletes - before.Sets - before.Deletes
	w.bytes += after.Bytes - before.Bytes
}

func (w *writeTotals) report(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(w.bytes)/float64(n), "logB/"+unit)
	b.ReportMetric(float64(w.keys)/float64(n), "logkeys/"+unit)
}

// A pass over more issues than ShareParallel chunks shares each once, in
// chunks committed concurrently: every issue arrives once, and each twin's
// history has its one queued and one acked line.
func TestShareInParallelChunks(t *testing.T) {
	ctx := context.Background()
	m := newMemNet(t, "a", "b")
	a, b := m.nodes[0], m.nodes[1]
	n := ShareChunk*ShareParallel + ShareChunk/2
	keys := make([]string, n)
	for i := range n {
		keys[i] = a.create(t, fmt.Sprint("issue ", i)).Key
	}
	if err := a.eng.ShareAll(ctx, []LinkKey{PeerLink(b.id)}); err != nil {
		t.Fatal(err)
	}
	if got := a.count(t, "o/"); got != n {
		t.Fatalf("%d events queued for %d issues", got, n)
	}
	m.settle(ctx)
	if got := b.count(t, "t/"); got != n || int(b.tr.create.Load()) != n {
		t.Fatalf("b has %d twins after %d creates, want %d", got, b.tr.create.Load(), n)
	}
	for _, k := range []string{keys[0], keys[n/2], keys[n-1]} {
		if h := fmt.Sprint(a.history(t, k)); h != "[out queued out acked]" {
			t.Errorf("history of %s: %s", k, h)
		}
	}
	if got := a.count(t, "o/"); got != 0 {
		t.Errorf("%d events still queued", got)
	}
}
