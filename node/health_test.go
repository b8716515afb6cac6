package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// refusingTracker is the local tracker behind a key that the tracker may
// refuse (401) or answer without permission (403).
type refusingTracker struct {
	*local.Tracker
	refuse atomic.Value // adapters.ErrorClass; "" answers
	calls  atomic.Int64
	retry  atomic.Int64 // RetryAt (Unix ns) of a rate_limited refusal
}

func (r *refusingTracker) fail() error {
	r.calls.Add(1)
	if c, _ := r.refuse.Load().(adapters.ErrorClass); c != "" {
		return &adapters.TrackerError{Class: c, Status: 401, RetryAt: time.Unix(0, r.retry.Load()).UTC(), Err: fmt.Errorf("test: refused (%s): %w", c, adapters.ErrUnavailable)}
	}
	return nil
}

func (r *refusingTracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	if err := r.fail(); err != nil {
		return nil, since, err
	}
	return r.Tracker.Changes(ctx, since, limit)
}

func (r *refusingTracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	if err := r.fail(); err != nil {
		return adapters.Issue{}, err
	}
	return r.Tracker.Get(ctx, key)
}

// A permanent tracker error (here a permission refusal) stops the node's
// calls to the tracker and shows in its health; a reload (SIGHUP) lets
// them through again, and the health recovers. A transient one is retried
// and shown as failing.
func TestPermanentTrackerErrorStopsCalls(t *testing.T) {
	lt, err := local.Open(filepath.Join(t.TempDir(), "tracker"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := &refusingTracker{Tracker: lt}
	rt.refuse.Store(adapters.ClassPermission)
	a := startNode(t, "a", Options{Tracker: rt})
	testutil.WaitFor(t, 10*time.Second, "the tracker is stopped with a permission error", func() bool {
		h := a.TrackerHealth()
		return h.State == "stopped" && h.Error != nil && h.Error.Class == adapters.ClassPermission && h.Error.Permanent
	})
	_, err = a.tracker.Get(context.Background(), "LOCAL-1")
	if class, _ := adapters.Classify(err); class != adapters.ClassPermission || !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("a call while stopped: %v (class %q); want the permission error, transient for the queue", err, class)
	}
	// The trigger retries every 20 ms without the stop: over this window
	// it would call dozens of times. The window is the measurement.
	before := rt.calls.Load()
	for range 10 {
		a.kickTrigger()
		time.Sleep(30 * time.Millisecond)
	}
	if n := rt.calls.Load() - before; n != 0 {
		t.Fatalf("%d calls reached the tracker after a permanent error", n)
	}

	rt.refuse.Store(adapters.ErrorClass(""))
	a.ReloadConfig()
	testutil.WaitFor(t, 10*time.Second, "the tracker answers again after the reload", func() bool {
		h := a.TrackerHealth()
		return h.State == "ok" && !h.LastPoll.IsZero() && h.Error == nil && h.LastError != nil && h.LastError.Class == adapters.ClassPermission
	})

	rt.refuse.Store(adapters.ClassUnreachable)
	before = rt.calls.Load()
	testutil.WaitFor(t, 10*time.Second, "a transient error is retried and shown as failing", func() bool {
		h := a.TrackerHealth()
		return h.State == "failing" && h.Error != nil && h.Error.Class == adapters.ClassUnreachable && rt.calls.Load() > before+2
	})

	// A rate-limited tracker that says when to come back gets no call
	// before then.
	reset := time.Now().Add(time.Hour).UTC()
	rt.retry.Store(reset.UnixNano())
	rt.refuse.Store(adapters.ClassRateLimited)
	testutil.WaitFor(t, 10*time.Second, "the tracker is rate-limited until its reset", func() bool {
		h := a.TrackerHealth()
		return h.Error != nil && h.Error.Class == adapters.ClassRateLimited && h.Error.RetryAt.Equal(reset)
	})
	before = rt.calls.Load()
	for range 10 {
		a.kickTrigger()
		time.Sleep(30 * time.Millisecond)
	}
	if n := rt.calls.Load() - before; n != 0 {
		t.Fatalf("%d calls reached the tracker before the reset it asked for", n)
	}
}
