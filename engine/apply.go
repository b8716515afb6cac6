package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Steps 5 and 6, apply: the events received from a source, logged durably
// by the transport, are taken from the incoming log in order, merged with
// the twin's link (merge.go), run through the link's incoming rules
// (rules.go), applied through the tracker (tracker.go) and recorded with
// their ack (finish.go). A failing twin blocks only itself.

// Source is where received events come from: a peer, or one author in a
// network, with the way to answer them.
type Source struct {
	Key SourceKey
	// Ack sends the answer to an event back to its source; nil for a
	// network, where nobody waits for acks.
	Ack func(replica.Ack)
}

// link is the link the source's events merge into and whose rules apply.
func (s *Source) link() LinkKey { return s.Key.Link() }

// net reports whether the source is an author in a network.
func (s *Source) net() bool { return s.link().IsNet() }

// ApplyPending applies every event of the source's incoming log that is not
// held by a blocked twin. It returns the first transient error (the pass
// is tried again from the oldest event left) or diskspace.ErrLow.
func (e *Engine) ApplyPending(ctx context.Context, src *Source) error {
	var after uint64
	for {
		// Not a tracker write that could not be recorded.
		if err := e.checkSpace(); err != nil {
			return err
		}
		var entries []store.InEntry
		var blocked map[string]bool
		err := e.cfg.Store.View(func(tx *store.Tx) error {
			var err error
			if entries, err = tx.PendingIn(string(src.Key), after, 256); err != nil {
				return err
			}
			blocked, err = BlockedIn(tx, src.Key)
			return err
		})
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		after = entries[len(entries)-1].Seq
		err = e.applyBatch(ctx, src, entries, blocked)
		e.landWaitingRelations(ctx) // relations.go: once the batch's twins are linked and unlocked
		if err != nil {
			return err
		}
	}
}

// applyWorkers bounds how many twins of one source are applied at once.
const applyWorkers = 128

// applyBatch applies a batch of received events: the events of one twin one
// after another, in order, and different twins concurrently, so that their
// tracker commits share fsyncs (group commit). A twin whose event fails
// permanently is blocked and its later events wait; a transient error stops
// that twin's chain and is returned, so the batch is retried from the oldest
// event left in the incoming log.
//
// The last event of every chain is recorded in one sync-log write for the
// whole batch (commitFinishes) instead of a commit of its own: serial
// durable commits per event, not CPU, bounded how many events a peer's
// applier carried. Hence the batch holds the locks of all its twins until
// that commit (else a trigger pass would see an applied change before its
// baseline is stored and send it back), taken up front in twin ID order as
// share takes them (a lock held while waiting for one lower in the order
// deadlocks against share). With the locks held, the batch's twins are read
// in one transaction.
func (e *Engine) applyBatch(ctx context.Context, src *Source, entries []store.InEntry, blocked map[string]bool) error {
	chains := map[string][]store.InEntry{}
	var order []string
	for _, en := range entries {
		t := en.Event.Twin
		if blocked[t] {
			continue // keeps its place in order until retried
		}
		if _, ok := chains[t]; !ok {
			order = append(order, t)
		}
		chains[t] = append(chains[t], en)
	}
	if len(order) == 0 {
		return nil
	}
	sorted := slices.Sorted(maps.Keys(chains))
	unlocks := make([]func(), 0, len(sorted))
	defer func() {
		for _, unlock := range unlocks {
			unlock()
		}
	}()
	for _, t := range sorted {
		unlocks = append(unlocks, e.locks.Lock(t))
	}
	// A twin that cannot be read here is left out (nil): applyOne reads it
	// again and fails that twin's chain alone.
	twins := make(map[string]*store.Twin, len(order))
	_ = e.cfg.Store.View(func(tx *store.Tx) error {
		for _, t := range order {
			tw, err := tx.GetTwin(t)
			switch {
			case errors.Is(err, store.ErrNotFound):
				tw = &store.Twin{ID: t, Created: time.Now()}
			case err != nil:
				continue
			}
			twins[t] = tw
		}
		return nil
	})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, applyWorkers)
		finishes []*deferredFinish
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, t := range order {
		chain := chains[t]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			tw := twins[t]
			for i, en := range chain {
				var later *deferredFinish
				if i == len(chain)-1 {
					later = &deferredFinish{}
				}
				// An event clocked too far ahead is refused, not applied,
				// and does not hold the twin's next events (refuse.go).
				ack, refused, err := e.refuseAhead(ctx, later, src, en.Seq, en.Event)
				if !refused && err == nil {
					start := time.Now()
					ack, err = e.applyOne(ctx, src, en.Seq, en.Event, tw, later)
					e.observeApply(src.Key, start)
				}
				tw = nil // the next event reads the twin its predecessor stored
				if err != nil {
					fail(err)
					return
				}
				if later != nil && later.fn != nil {
					mu.Lock()
					finishes = append(finishes, later)
					mu.Unlock()
					return
				}
				if src.Ack != nil {
					src.Ack(ack)
				}
				if ack.Result == replica.ResultFailed && !refused {
					mu.Lock()
					blocked[en.Event.Twin] = true
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := e.commitFinishes(ctx, src, finishes); err != nil {
		fail(err)
	}
	return firstErr
}

// applying is one received event on its way through the steps of apply.
type applying struct {
	e     *Engine
	src   *Source
	link  LinkKey
	seq   uint64
	ev    replica.Event
	tw    *store.Twin
	later *deferredFinish
	ack   replica.Ack
	ctxt  context.Context // the apply's, for the relation resolver (relations.go)

	// merge.go
	rules    IncomingRules
	previous replica.Replica // the link's agreed state before the event
	merged   replica.Replica
	ch       replica.Changes // what the event changes in the agreed state
	kept     []string        // fields where the issue keeps a newer value (keepNewer), or a conflict policy's
	settled  []settlement    // conflicts a policy settled (conflictpolicy.go)
	newer    map[string]replica.Value

	// rules.go and tracker.go
	before  *replica.Replica      // the link's view of the issue before the change
	full    bool                  // the issue arrived (or was linked) by this event
	skipped string                // the incoming rules skipped it, with this reason
	attach  []adapters.Attachment // the files the incoming rules attach

	// relations.go: the rules landed the relations (relsLanded); those
	// whose other issue is not here wait
	relsLanded bool
	unresolved map[replica.Relation]bool
}

// applyOne merges one received event into its twin's link, applies the
// result to the tracker and records the outcome. It returns the ack to send,
// or an error when the event must be tried again later (transient). The
// caller holds the twin's lock. tw is the twin as stored, if the caller read
// it under that lock (nil: read here). With later, an applied or skipped
// event's finish write is not committed but handed to the caller in later,
// which commits it before it sends the ack or releases the lock; a failed
// event is recorded at once.
func (e *Engine) applyOne(ctx context.Context, src *Source, seq uint64, ev replica.Event, tw *store.Twin, later *deferredFinish) (replica.Ack, error) {
	a := &applying{e: e, src: src, link: src.link(), seq: seq, ev: ev, tw: tw, later: later,
		ack: replica.Ack{Seq: seq, EventID: ev.ID, Twin: ev.Twin}, ctxt: ctx}
	// Until its outcome is recorded, the event's values may be in the
	// tracker with the link still as before (unrecorded.go).
	e.unrec.add(ev.Twin, string(src.Key), seq, ev.Replica)
	if a.tw == nil {
		err := e.cfg.Store.View(func(tx *store.Tx) (err error) { a.tw, err = tx.GetTwin(ev.Twin); return })
		if errors.Is(err, store.ErrNotFound) {
			a.tw, err = &store.Twin{ID: ev.Twin, Created: time.Now()}, nil
		}
		if err != nil {
			return a.ack, err
		}
	}
	a.ack.LocalKey = a.tw.LocalKey
	if done, err := a.operation(ctx); done {
		return a.ack, err
	}
	if err := a.merge(); err != nil {
		return a.ack, err // transient: waits until the rule files are fixed
	}
	issue, err := a.write(ctx) // tracker.go
	if err == nil && len(a.attach) > 0 && issue.Key != "" && e.cfg.Files != nil {
		issue, err = e.cfg.Files.AttachFiles(ctx, ev, issue, a.attach)
	}
	e.fresh.written(ev.Twin) // a feed's read of the issue before this is stale (trigger.go)
	switch {
	case err != nil && Transient(err):
		return a.ack, err
	case err != nil:
		a.ack.Result, a.ack.Error, a.ack.LocalKey = replica.ResultFailed, err.Error(), a.tw.LocalKey
		e.log.Warn("event could not be applied; the twin is blocked until retried", "source", src.Key, "twin", ev.Twin, "key", a.tw.LocalKey, "err", err)
		return a.ack, e.fail(ctx, src, seq, ev, a.ack)
	case a.skipped != "" && issue.Key == "":
		return a.ack, a.finishSkipped(ctx)
	}
	return a.ack, a.finishApplied(ctx, issue)
}

// operation handles the events that are an operation rather than a state
// (unsync, link) and a link unsynced here; done says the event is handled.
func (a *applying) operation(ctx context.Context) (done bool, err error) {
	l := a.tw.Link(string(a.link))
	switch {
	case a.ev.Op == replica.OpUnsync:
		a.ack.Result = replica.ResultApplied
		link := a.link
		return true, a.e.finish(ctx, a.later, a.src, a.seq, a.ev, a.ack, func(_ *store.Tx, tw *store.Twin) error { tw.Link(string(link)).Unsynced = true; return nil }, nil, nil, Unsynced)
	case a.ev.Op == replica.OpLink:
		if err := a.e.checkLink(a.ev, a.tw); err != nil {
			a.ack.Result, a.ack.Error = replica.ResultFailed, err.Error()
			return true, a.e.fail(ctx, a.src, a.seq, a.ev, a.ack)
		}
		// Linking (again) starts from scratch: the peer's state lands on
		// the existing issue, field by field.
		a.tw.LocalKey = a.ev.LinkKey
		l.Agreed, l.Baseline = replica.Replica{}, replica.Replica{}
	case l.Unsynced:
		a.ack.Result = replica.ResultSkipped
		return true, a.e.finish(ctx, a.later, a.src, a.seq, a.ev, a.ack, nil, nil, nil, "")
	}
	return false, nil
}
