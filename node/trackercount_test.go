package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/internal/testutil"
	"github.com/issuemesh/issuemesh/store"
)

// countingTracker is the local tracker counting the requests the node
// makes of it (the test's own calls go to the embedded tracker directly).
type countingTracker struct {
	*local.Tracker
	get, changes, create, update, find atomic.Int64
}

func newCountingTracker(t *testing.T) *countingTracker {
	t.Helper()
	lt, err := local.Open(filepath.Join(t.TempDir(), "tracker"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &countingTracker{Tracker: lt}
}

func (c *countingTracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	c.get.Add(1)
	return c.Tracker.Get(ctx, key)
}

func (c *countingTracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	c.changes.Add(1)
	return c.Tracker.Changes(ctx, since, limit)
}

func (c *countingTracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	c.create.Add(1)
	return c.Tracker.Create(ctx, in)
}

func (c *countingTracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	c.update.Add(1)
	return c.Tracker.Update(ctx, key, p)
}

func (c *countingTracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	c.find.Add(1)
	return c.Tracker.FindByTwin(ctx, twin)
}

func (c *countingTracker) reset() {
	for _, v := range []*atomic.Int64{&c.get, &c.changes, &c.create, &c.update, &c.find} {
		v.Store(0)
	}
}

func (c *countingTracker) String() string {
	return fmt.Sprintf("get %d, changes %d, create %d, update %d, find-by-twin %d", c.get.Load(), c.changes.Load(), c.create.Load(), c.update.Load(), c.find.Load())
}

// settledOn reports whether the trigger has seen every change of the
// tracker (asked of the uncounted tracker).
func settledOn(t *testing.T, tn *testNode, lt *local.Tracker) bool {
	t.Helper()
	var cur string
	if err := tn.store.View(func(tx *store.Tx) (err error) { cur, err = tx.Cursor(triggerName); return }); err != nil {
		t.Fatal(err)
	}
	more, _, err := lt.Changes(context.Background(), adapters.Cursor(cur), 1)
	if err != nil {
		t.Fatal(err)
	}
	return len(more) == 0
}

// TestTrackerRequestsPerChange counts the requests the sharing node makes
// of its tracker per synced change: the issue the change feed returned is
// shared as it is, without reading it again (design.md, "tracker requests
// per synced change"), for a first share and for an edit.
func TestTrackerRequestsPerChange(t *testing.T) {
	ctx := context.Background()
	ca, cb := newCountingTracker(t), newCountingTracker(t)
	a, b := startNode(t, "a", Options{Tracker: ca}), startNode(t, "b", Options{Tracker: cb})
	pairNodes(t, a, b)
	const n = 20
	quiet := func(what string, done func() bool) {
		testutil.WaitFor(t, 20*time.Second, what, func() bool {
			return done() && a.count(t, "o/") == 0 && b.count(t, "o/") == 0 && b.count(t, "i/") == 0 &&
				settledOn(t, a, ca.Tracker) && settledOn(t, b, cb.Tracker)
		})
	}
	quiet("both nodes idle", func() bool { return true })
	ca.reset()
	cb.reset()
	keys := make([]string, n)
	for i := range keys {
		is, err := ca.Tracker.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("count %d", i), Status: "Open"})
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = is.Key
	}
	quiet("B has every issue", func() bool { return b.count(t, "t/") >= n })
	t.Logf("first share of %d issues: sender %v; receiver %v", n, ca, cb)
	firstGets := ca.get.Load()
	ca.reset()
	cb.reset()
	for i, k := range keys {
		if _, err := ca.Tracker.Update(ctx, k, adapters.Patch{Summary: ptr(fmt.Sprintf("count %d edited", i))}); err != nil {
			t.Fatal(err)
		}
	}
	quiet("B has every edit", func() bool {
		_, ok := b.issueBySummary(t, fmt.Sprintf("count %d edited", n-1))
		return ok
	})
	t.Logf("edit of %d issues: sender %v; receiver %v", n, ca, cb)
	t.Logf("sender Get per change: first share %.2f, edit %.2f", float64(firstGets)/n, float64(ca.get.Load())/n)
	if firstGets > 0 || ca.get.Load() > 0 {
		t.Errorf("the sender read issues the change feed had returned: %d reads for %d first shares, %d for %d edits", firstGets, n, ca.get.Load(), n)
	}
}
