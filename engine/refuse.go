package engine

import (
	"context"
	"errors"
	"time"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Apply, refusal (design.md guarantee 10): an event clocked further ahead
// of this node's clock than the allowed skew (Config.CheckClocks) is
// refused, never applied.

// refuseAhead answers a received event whose clocks are too far ahead:
// the event leaves the incoming log with a failed ack naming the clock (the
// ack answers retransmissions too), the twin's history says "refused" and a
// notice is kept. It reports whether ev was refused; with later, the write
// is handed over like finish's. The twin is not blocked: the source's next
// events of it are applied as usual.
func (e *Engine) refuseAhead(ctx context.Context, later *deferredFinish, src *Source, seq uint64, ev replica.Event) (replica.Ack, bool, error) {
	ack := replica.Ack{Seq: seq, EventID: ev.ID, Twin: ev.Twin}
	if e.cfg.CheckClocks == nil {
		return ack, false, nil
	}
	cerr := e.cfg.CheckClocks(&ev)
	if cerr == nil {
		return ack, false, nil
	}
	ack.Result, ack.Error = replica.ResultFailed, cerr.Error()
	e.log.Warn("refused an event with a clock too far ahead", "from", src.Key, "twin", ev.Twin, "event", ev.ID, "seq", seq, "err", cerr)
	_ = e.cfg.Store.View(func(tx *store.Tx) error {
		if tw, err := tx.GetTwin(ev.Twin); err == nil {
			ack.LocalKey = tw.LocalKey
		}
		return nil
	})
	fn := func(tx *store.Tx) error {
		tw, err := tx.GetTwin(ev.Twin)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := AddReceived(tx, tw, time.Now(), Received{Source: src.Key, Seq: seq, EventID: ev.ID, What: Refused, LocalKey: tw.LocalKey, Error: ack.Error}); err != nil {
				return err
			}
			if err := tx.PutTwin(tw); err != nil {
				return err
			}
		}
		return tx.FinishIn(string(src.Key), seq, ack)
	}
	if e.cfg.Observe != nil {
		e.cfg.Observe.Refused(store.Blocked{Twin: ev.Twin, LocalKey: ack.LocalKey, Peer: string(src.Key), Seq: seq, Error: ack.Error})
	}
	// Loaded from the incoming log at open, it may be a source of clocks
	// (unrecorded.go) until its refusal is recorded: then it is none.
	if later != nil {
		later.fn, later.ack = fn, ack
		later.recorded = func() { e.unrec.done(ev.Twin, string(src.Key), seq) }
		return ack, true, nil
	}
	if err := e.cfg.Store.Update(ctx, fn); err != nil {
		return ack, true, err
	}
	e.unrec.done(ev.Twin, string(src.Key), seq)
	return ack, true, nil
}
