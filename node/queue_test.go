package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// faultyTracker wraps the local tracker: it can reject issues whose summary
// contains a marker (a permanent error) or be down (a transient one).
type faultyTracker struct {
	*local.Tracker
	mu     sync.Mutex
	reject string
	down   bool
	calls  atomic.Int64
}

func newFaultyTracker(t *testing.T) *faultyTracker {
	t.Helper()
	lt, err := local.Open(filepath.Join(t.TempDir(), "tracker"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &faultyTracker{Tracker: lt}
}

func (f *faultyTracker) set(reject string, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject, f.down = reject, down
}

func (f *faultyTracker) check(summary string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.Add(1)
	if f.down {
		return fmt.Errorf("connection refused: %w", adapters.ErrUnavailable)
	}
	if f.reject != "" && strings.Contains(summary, f.reject) {
		return fmt.Errorf("summary %q is not allowed here: %w", summary, adapters.ErrRejected)
	}
	return nil
}

func (f *faultyTracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	if err := f.check(in.Summary); err != nil {
		return adapters.Issue{}, err
	}
	return f.Tracker.Create(ctx, in)
}

func (f *faultyTracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	s := ""
	if p.Summary != nil {
		s = *p.Summary
	}
	if err := f.check(s); err != nil {
		return adapters.Issue{}, err
	}
	return f.Tracker.Update(ctx, key, p)
}

func (f *faultyTracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	if err := f.check(""); err != nil {
		return adapters.Issue{}, err
	}
	return f.Tracker.FindByTwin(ctx, twin)
}

// Changes fails while the tracker is down: a tracker that is down answers
// nothing (the engine shares the feed's issues without reading them again).
func (f *faultyTracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	if err := f.check(""); err != nil {
		return nil, since, err
	}
	return f.Tracker.Changes(ctx, since, limit)
}

func (f *faultyTracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	if err := f.check(""); err != nil {
		return adapters.Issue{}, err
	}
	return f.Tracker.Get(ctx, key)
}

// adminCall calls the node's admin API in-process.
func adminCall(t *testing.T, n *Node, method, path string, in, out any) int {
	t.Helper()
	var body *strings.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	} else {
		body = strings.NewReader("")
	}
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, body))
	if out != nil && rec.Code < 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, rec.Body)
		}
	}
	return rec.Code
}

// A lost ack leads to a retransmission, which is applied once.
func TestLostAckRetransmittedAndAppliedOnce(t *testing.T) {
	ctx := context.Background()
	var dropped atomic.Int64
	a := startNode(t, "a", Options{AckTimeout: 300 * time.Millisecond})
	b := startNode(t, "b", Options{dropAck: func(replica.Ack) bool {
		return dropped.Add(1) <= 3 // the first three acks are lost
	}})
	pairNodes(t, a, b)
	for i := range 3 {
		if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("lost ack %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 15*time.Second, "A's queue drains through retransmission", func() bool {
		return dropped.Load() > 3 && a.count(t, "o/") == 0 && a.settled(t)
	})
	all, _, _ := b.tracker.Changes(ctx, "", 100)
	if len(all) != 3 {
		t.Fatalf("B has %d issues, want 3", len(all))
	}
	for _, is := range all {
		applied := 0
		for _, r := range b.history(t, is.Key) {
			if r.What == "applied" {
				applied++
			}
		}
		if applied != 1 {
			t.Fatalf("%s applied %d times on B", is.Key, applied)
		}
	}
}

// A permanent error on one issue blocks only that twin; later issues still
// arrive; errors shows it; after the fix, retry delivers it with its later
// change, in order.
func TestPermanentErrorBlocksOnlyItsTwin(t *testing.T) {
	ctx := context.Background()
	ft := newFaultyTracker(t)
	ft.set("FORBIDDEN", false)
	a := startNode(t, "a", Options{})
	b := startNode(t, "b", Options{Tracker: ft})
	pairNodes(t, a, b)

	bad, err := a.tracker.Create(ctx, adapters.Issue{Summary: "FORBIDDEN word", Description: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("fine %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A later change of the blocked issue waits behind it.
	if _, err := a.tracker.Update(ctx, bad.Key, adapters.Patch{Description: ptr("v2")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the fine issues arrive and the bad one is blocked", func() bool {
		n := 0
		for i := range 3 {
			if _, ok := b.issueBySummary(t, fmt.Sprintf("fine %d", i)); ok {
				n++
			}
		}
		var errs []store.Blocked
		adminCall(t, b.Node, "GET", "/v1/errors", nil, &errs)
		return n == 3 && len(errs) == 1 && b.count(t, "i/") == 2
	})
	var errs []store.Blocked
	adminCall(t, b.Node, "GET", "/v1/errors", nil, &errs)
	if !strings.Contains(errs[0].Error, "FORBIDDEN") || errs[0].Remote || errs[0].Since.IsZero() {
		t.Fatalf("blocked record on B: %+v", errs[0])
	}
	testutil.WaitFor(t, 10*time.Second, "A shows the peer's failure", func() bool {
		var aerrs []store.Blocked
		adminCall(t, a.Node, "GET", "/v1/errors", nil, &aerrs)
		return len(aerrs) == 1 && aerrs[0].Remote && aerrs[0].LocalKey == bad.Key
	})

	ft.set("", false) // the cause is fixed
	var res RetryResult
	if code := adminCall(t, b.Node, "POST", "/v1/retry", RetryInput{Key: errs[0].Twin}, &res); code != http.StatusOK || len(res.Retried) != 1 {
		t.Fatalf("retry: %d %+v", code, res)
	}
	testutil.WaitFor(t, 10*time.Second, "the blocked issue arrives with its later change and A's error clears", func() bool {
		is, ok := b.issueBySummary(t, "FORBIDDEN word")
		var aerrs []store.Blocked
		adminCall(t, a.Node, "GET", "/v1/errors", nil, &aerrs)
		return ok && is.Description == "v2" && b.count(t, "i/") == 0 && len(aerrs) == 0
	})
	all, _, _ := b.tracker.Changes(ctx, "", 100)
	if len(all) != 4 {
		t.Fatalf("B has %d issues, want 4", len(all))
	}
}

// A tracker outage is ridden out with backoff; the queue drains afterwards
// with nothing lost.
func TestTrackerOutageDrainsAfterwards(t *testing.T) {
	ctx := context.Background()
	ft := newFaultyTracker(t)
	a := startNode(t, "a", Options{})
	b := startNode(t, "b", Options{Tracker: ft})
	pairNodes(t, a, b)
	ft.set("", true)
	for i := range 30 {
		if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("during outage %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "B holds the events and has tried the tracker several times", func() bool {
		return b.count(t, "i/") == 30 && ft.calls.Load() >= 3
	})
	if b.count(t, "b/") != 0 {
		t.Fatal("a transient error blocked a twin")
	}
	ft.set("", false)
	testutil.WaitFor(t, 15*time.Second, "everything drains", func() bool {
		all, _, _ := b.tracker.Changes(ctx, "", 100)
		return len(all) == 30 && b.count(t, "i/") == 0 && a.count(t, "o/") == 0
	})
}

// Changes queue while a peer is paused and all arrive after resume.
func TestPausedPeerQueuesThenDelivers(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	var pi PeerInfo
	if code := adminCall(t, a.Node, "POST", "/v1/peers/b/pause", nil, &pi); code != http.StatusOK || !pi.Paused {
		t.Fatalf("pause: %d %+v", code, pi)
	}
	for i := range 20 {
		if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("paused %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "20 events queue on A", func() bool { return a.count(t, "o/") == 20 && a.settled(t) })
	var q []QueueEntry
	adminCall(t, a.Node, "GET", "/v1/queue", nil, &q)
	if len(q) != 1 || q[0].Pending != 20 || !q[0].Paused || q[0].Age == "" {
		t.Fatalf("queue: %+v", q)
	}
	if n := b.count(t, "r/"); n != 0 {
		t.Fatalf("B received %d events from a paused peer", n)
	}
	if code := adminCall(t, a.Node, "POST", "/v1/peers/b/resume", nil, &pi); code != http.StatusOK || pi.Paused {
		t.Fatalf("resume: %d %+v", code, pi)
	}
	testutil.WaitFor(t, 10*time.Second, "all 20 arrive", func() bool {
		all, _, _ := b.tracker.Changes(ctx, "", 100)
		return len(all) == 20 && a.count(t, "o/") == 0
	})
}
