package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/store"
)

// Step 1, the trigger: the change feed of the tracker, read from the
// stored cursor, each change shared with every link (share.go), by a loop
// (Trigger.Run) woken by the tracker's pushes and a poll timer, backing off
// while the tracker fails. A link's choice of issues is its "filter"
// (Rules.Matches), never its trigger.

// Trigger is the change-feed loop, a service of the node.
type Trigger struct {
	Engine *Engine
	// Wake is signalled when the tracker has changes (its push).
	Wake <-chan struct{}
	// Every is the poll interval, asked after each pass (it may change).
	Every func() time.Duration
	// Backoff is the retry policy of failed passes.
	Backoff func() *backoff.Backoff
	// Failed waits after a failed pass (for room on the disk, for the
	// tracker, with b's backoff); false ends the loop (ctx ended).
	Failed func(ctx context.Context, err error, b *backoff.Backoff) bool
}

// Run scans the feed until ctx ends.
func (t Trigger) Run(ctx context.Context) error {
	every := t.Every()
	tick := time.NewTicker(every)
	defer tick.Stop()
	idle := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return false
		case <-t.Wake:
		case <-tick.C:
		}
		if e := t.Every(); e != every { // config.yaml changed it
			every = e
			tick.Reset(e)
		}
		return true
	}
	return backoff.Retry(ctx, t.Backoff(), t.Engine.Scan, idle, t.Failed)
}

// CursorName is the sync log's cursor of the tracker's change feed.
const CursorName = "tracker"

// ChangeBatch is how many tracker changes one pass takes at a time.
const ChangeBatch = 500

// Scan shares every tracker change after the stored cursor. The cursor is
// advanced only after the events are in the sync log; a crash in between
// makes the next pass look at the same issues again, which sends nothing
// twice because unchanged fields match the link's baseline.
func (e *Engine) Scan(ctx context.Context) error {
	st := e.cfg.Store
	for {
		// A full disk takes nothing new from the feed.
		if err := e.checkSpace(); err != nil {
			return err
		}
		var cur string
		if err := st.View(func(tx *store.Tx) (err error) { cur, err = tx.Cursor(CursorName); return }); err != nil {
			return err
		}
		read := e.fresh.begin()
		issues, next, err := e.cfg.Tracker.Changes(ctx, adapters.Cursor(cur), ChangeBatch)
		if err != nil {
			e.fresh.end()
			return fmt.Errorf("tracker changes since %q: %w", cur, err)
		}
		items := make([]shareItem, len(issues))
		for i := range issues {
			items[i] = shareItem{key: issues[i].Key, issue: &issues[i], read: read, full: e.cfg.FullFeed}
		}
		err = e.share(ctx, items, e.cfg.Links.Links())
		e.fresh.end()
		if err != nil {
			return err
		}
		if string(next) != cur {
			if err := st.Update(ctx, func(tx *store.Tx) error { tx.SetCursor(CursorName, string(next)); return nil }); err != nil {
				return err
			}
		}
		if len(issues) < ChangeBatch {
			return nil
		}
	}
}

// freshness tells whether an issue read from the tracker may have been
// written by an apply since: an issue the change feed returned is shared
// as it is only if no apply wrote its twin after the read began; else
// share reads it again under the twin's lock. Appliers mark a twin after
// their tracker write, under the twin's lock; a mark at or before a read
// began was seen by that read.
type freshness struct {
	mu      sync.Mutex
	gen     uint64
	readers int
	wrote   map[string]uint64 // twin -> generation of the last write, while a read is under way
}

// begin starts a read and returns its generation.
func (f *freshness) begin() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers++
	return f.gen
}

// end ends a read; with none under way, the marks are forgotten.
func (f *freshness) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readers--; f.readers == 0 {
		f.wrote = nil
	}
}

// written marks the twin's issue as written by an apply.
func (f *freshness) written(twin string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	if f.readers == 0 {
		return
	}
	if f.wrote == nil {
		f.wrote = map[string]uint64{}
	}
	f.wrote[twin] = f.gen
}

// stale reports whether an apply wrote the twin's issue after a read of
// generation read began.
func (f *freshness) stale(twin string, read uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wrote[twin] > read
}
