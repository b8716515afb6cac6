package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Apply, finish: the outcome is recorded in one sync-log write (the link's
// agreed state and baseline, the history line, the ack that answers
// retransmissions, the event's removal from the incoming log), and only
// then is the ack sent. The baseline takes what the outgoing rules make of
// the issue now for the fields the event touched, so that the change is
// not sent back (design.md guarantee 3).

// finishSkipped records an event the rules skip for a twin not created
// here: acknowledge, keep nothing but the agreed state.
func (a *applying) finishSkipped(ctx context.Context) error {
	a.ack.Result, a.ack.Error = replica.ResultSkipped, a.skipped
	link, merged, ev, net := a.link, a.merged, a.ev, a.src.net()
	return a.e.finish(ctx, a.later, a.src, a.seq, ev, a.ack, func(_ *store.Tx, tw *store.Twin) error {
		l := tw.Link(string(link))
		l.Agreed = merged
		if net {
			l.SetKey(ev.Origin, ev.SourceKey)
		}
		return nil
	}, ChangeNames(a.ch), nil, Skipped)
}

// finishApplied records an event applied to issue.
func (a *applying) finishApplied(ctx context.Context, issue adapters.Issue) error {
	e := a.e
	a.ack.Result, a.ack.LocalKey = replica.ResultApplied, issue.Key
	out, _, oerr := e.cfg.Rules.Outgoing(a.link, issue)
	if oerr != nil {
		// Without a baseline from the outgoing rules, the next local change
		// of this issue is compared with the previous one: at worst a field
		// is sent once more.
		e.log.Warn("outgoing rules failed after applying an incoming change", "link", a.link, "key", issue.Key, "err", oerr)
		out = a.tw.Link(string(a.link)).Baseline
	}
	link, ev, net, full, before, merged, ch, kept := a.link, a.ev, a.src.net(), a.full, a.before, a.merged, a.ch, a.kept
	for _, c := range ch.Conflicts {
		e.log.Info("concurrent edits of one field: the newest is kept everywhere, the conflict is recorded", "link", link, "key", issue.Key, "conflict", conflictText(c))
	}
	seq := a.seq
	waits, setWaits := a.waitsOf() // relations.go
	settled := a.settled           // conflictpolicy.go
	var wakeAlso []LinkKey
	err := e.finish(ctx, a.later, a.src, a.seq, ev, a.ack, func(tx *store.Tx, tw *store.Twin) error {
		tw.LocalKey = issue.Key
		if err := recordConflicts(tx, tw, link, seq, ev.ID, ch.Conflicts); err != nil { // conflicts.go
			return err
		}
		if setWaits {
			if err := tx.SetRelationWaits(ev.Twin, waits); err != nil {
				return err
			}
		}
		if err := recordSettled(tx, tw, link, seq, ev.ID, settled); err != nil {
			return err
		}
		if err := e.indexHeld(tx, tw, link, ch.Conflicts); err != nil {
			return err
		}
		told, err := e.tellOtherLinks(tx, tw, link, ch.Conflicts, time.Now()) // conflicts.go
		if err != nil {
			return err
		}
		wakeAlso = told
		l := tw.Link(string(link))
		l.Unsynced = false
		switch {
		case net:
			l.SetKey(ev.Origin, ev.SourceKey)
		case ev.SourceKey != "":
			l.RemoteKey = ev.SourceKey
		}
		l.Agreed = merged
		if full {
			// An issue that arrived from the peer (or that it linked)
			// keeps syncing back with it, whatever this side's filter says.
			l.Baseline, l.Manual = out, true
			return nil
		}
		rebase(&l.Baseline, before, out, replica.Changes{Fields: append(slices.Clone(ch.Fields), kept...), Comments: ch.Comments, Attachments: ch.Attachments})
		if len(kept) == 0 {
			return nil
		}
		// The peer sent older values than the issue holds: tell it.
		return e.Queue(tx, tw, link, l, kept, time.Now())
	}, ChangeNames(ch), ValueChanges(a.previous, merged, ChangeNames(ch)), "")
	if err == nil {
		// Looked at after the batch (relations.go): the waits for this
		// issue, and its own, for an issue that landed meanwhile.
		if len(waits) > 0 {
			e.rels.stored()
		}
		e.rels.mark(landedNames(link, ev.Twin, ev.SourceKey)...)
		for _, w := range waits {
			e.rels.mark(w.Name)
		}
		if a.later != nil {
			a.later.also = wakeAlso // once committed
		} else {
			for _, l := range wakeAlso {
				e.wake(l)
			}
		}
	}
	if err == nil && len(kept) > 0 {
		if a.later != nil {
			a.later.wake = link // once committed
		} else {
			e.wake(link)
		}
	}
	return err
}

// deferredFinish is the finish write of an event applied in a batch, left
// for applyBatch to commit together with the batch's others.
type deferredFinish struct {
	// fn is the write; nil when the event was recorded already (failed).
	fn  func(*store.Tx) error
	ack replica.Ack
	// wake is a link to wake once fn is committed (an event was queued to
	// it), or "".
	wake LinkKey
	also []LinkKey // more links to wake once fn is committed
	// recorded is called once fn is committed.
	recorded func()
}

// finish records an applied or skipped event: the twin update (done on the
// twin as stored at commit time, so that concurrent ack bookkeeping is
// kept), the history line, the ack to answer retransmissions with, and the
// removal from the incoming log. With later, the write is handed over in
// later.fn instead of committed.
func (e *Engine) finish(ctx context.Context, later *deferredFinish, src *Source, seq uint64, ev replica.Event, ack replica.Ack, update func(*store.Tx, *store.Twin) error, fields []string, changes []store.Change, what Outcome) error {
	key := src.Key
	if what == "" {
		what = Applied
		if ack.Result == replica.ResultSkipped {
			what = Skipped
		}
	}
	fn := func(tx *store.Tx) error {
		tw, err := tx.GetTwin(ev.Twin)
		if errors.Is(err, store.ErrNotFound) {
			tw, err = &store.Twin{ID: ev.Twin, Created: time.Now()}, nil
		}
		if err != nil {
			return err
		}
		if update != nil {
			if err := update(tx, tw); err != nil {
				return err
			}
		}
		Unblock(tx, ev.Twin, store.BlockIn, string(key))
		if err := AddReceived(tx, tw, time.Now(), Received{Source: key, Seq: seq, EventID: ev.ID, What: what, Fields: fields, Changes: changes, LocalKey: tw.LocalKey}); err != nil {
			return err
		}
		if err := tx.PutTwin(tw); err != nil {
			return err
		}
		return tx.FinishIn(string(key), seq, ack)
	}
	recorded := func() {
		e.unrec.done(ev.Twin, string(key), seq)
		e.recorded(key, string(what))
	}
	if later != nil {
		later.fn, later.ack, later.recorded = fn, ack, recorded
		return nil
	}
	if err := e.cfg.Store.Update(ctx, fn); err != nil {
		return err
	}
	recorded()
	return nil
}

// fail blocks the twin for events from src (BlockIn): the event stays in
// the incoming log, and so do the twin's later events from src, until an
// operator retries it. The twin's other links are not touched.
func (e *Engine) fail(ctx context.Context, src *Source, seq uint64, ev replica.Event, ack replica.Ack) error {
	err := e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		if err := BlockIn(tx, ev.Twin, ack.LocalKey, src.Key, seq, ack.Error); err != nil {
			return err
		}
		tw, err := tx.GetTwin(ev.Twin)
		if err != nil {
			return nil // never linked here: the blocked record says it all
		}
		if err := AddReceived(tx, tw, time.Now(), Received{Source: src.Key, Seq: seq, EventID: ev.ID, What: Failed, LocalKey: tw.LocalKey, Error: ack.Error}); err != nil {
			return err
		}
		return tx.PutTwin(tw)
	})
	if err == nil {
		e.recorded(src.Key, string(Failed))
	}
	return err
}

// commitFinishes commits the deferred finish writes of a batch in one
// sync-log write, then sends their acks. If that write fails, each is tried
// alone, so that a twin whose write fails holds back only itself.
func (e *Engine) commitFinishes(ctx context.Context, src *Source, fs []*deferredFinish) error {
	if len(fs) == 0 {
		return nil
	}
	done := func(f *deferredFinish) {
		if f.recorded != nil {
			f.recorded()
		}
		if src.Ack != nil {
			src.Ack(f.ack)
		}
		if f.wake != "" {
			e.wake(f.wake)
		}
		for _, l := range f.also {
			e.wake(l)
		}
	}
	err := e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		for _, f := range fs {
			if err := f.fn(tx); err != nil {
				return err
			}
			tx.Checkpoint() // each finish on its own if the batch is too big
		}
		return nil
	})
	if err == nil {
		for _, f := range fs {
			done(f)
		}
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	e.log.Debug("recording a batch of applied events failed; recording them one by one", "source", src.Key, "events", len(fs), "err", err)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, f := range fs {
		wg.Go(func() {
			if err := e.cfg.Store.Update(ctx, f.fn); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			done(f)
		})
	}
	wg.Wait()
	return firstErr
}
