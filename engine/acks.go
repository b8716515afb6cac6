package engine

import (
	"context"
	"errors"
	"time"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Steps 7 and 8, acks and clean: the peer's answer to an event is
// recorded at the source (the peer's key of the issue, the history line, a
// blocked record when it failed or its removal when it applied), and the
// acked event leaves the outgoing log. History stays bounded by the store
// (store.HistoryKeep per twin).

// Acked is one counted ack: its result and when its event was queued
// (Unix nanoseconds).
type Acked struct {
	Result replica.Result
	// Sent and Changed are the event's queueing time and the tracker's
	// change it carried (Unix nanoseconds; 0: not known).
	Sent, Changed int64
}

// RecordAcks records a batch of acks from the peer: in one write when it
// fits one sync-log transaction, else twin by twin (store.Tx.Checkpoint),
// each twin's acks, history lines and link in one part, so that a crash
// between parts leaves every twin either wholly acked or still queued (sent
// again, and answered again from the peer's received set). A first sync
// receives thousands of acks at once: in one transaction they did not fit,
// the failed write left the events queued, the same batch came back, and
// the link stopped. A twin acked several times in the batch is decoded and
// stored once. Only acks of events waiting in the peer's outgoing log
// (sent, not acked yet) count: any other (a forged one, or one for an
// event acked already) is logged and ignored, so it can neither set the
// peer's key of an issue nor block it.
func (e *Engine) RecordAcks(ctx context.Context, link LinkKey, items []replica.Ack, now time.Time) ([]Acked, error) {
	pid := string(link)
	var ignored []replica.Ack
	var counted []Acked
	defer func() {
		for _, a := range ignored {
			e.log.Warn("ignoring an ack for an event this node has not sent to the peer (or has had acked already)", "peer", pid, "seq", a.Seq, "twin", a.Twin, "event", a.EventID)
		}
	}()
	// The acks of each twin, in the batch's order, twins in the order of
	// their first ack.
	byTwin := map[string][]replica.Ack{}
	var twinOrder []string
	for _, a := range items {
		if _, ok := byTwin[a.Twin]; !ok {
			twinOrder = append(twinOrder, a.Twin)
		}
		byTwin[a.Twin] = append(byTwin[a.Twin], a)
	}
	err := e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		// Built inside the function: the store may run it more than once.
		ignored, counted = ignored[:0], counted[:0]
		for _, id := range twinOrder {
			if err := e.recordTwinAcks(tx, link, id, byTwin[id], now, &ignored, &counted); err != nil {
				return err
			}
			tx.Checkpoint()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counted, nil
}

// recordTwinAcks records the acks of one twin (RecordAcks).
func (e *Engine) recordTwinAcks(tx *store.Tx, link LinkKey, id string, acks []replica.Ack, now time.Time, ignored *[]replica.Ack, counted *[]Acked) error {
	pid := string(link)
	var tw *store.Twin
	read, dirty := false, false
	for _, a := range acks {
		sent, changed, ok := sentTo(tx, pid, a)
		if !ok {
			*ignored = append(*ignored, a)
			continue
		}
		*counted = append(*counted, Acked{Result: a.Result, Sent: sent, Changed: changed})
		tx.DeleteOut(pid, a.Seq)
		if !read {
			read = true
			var err error
			tw, err = tx.GetTwin(id)
			if errors.Is(err, store.ErrNotFound) {
				tw = nil
			} else if err != nil {
				return err
			}
		}
		if tw == nil {
			continue
		}
		if tw.Links[pid] == nil {
			dirty = true
		}
		l := tw.Link(pid)
		if a.LocalKey != "" && l.RemoteKey != a.LocalKey {
			l.RemoteKey = a.LocalKey
			dirty = true
		}
		rec := Sent{Link: link, Seq: a.Seq, EventID: a.EventID, LocalKey: a.LocalKey}
		switch a.Result {
		case replica.ResultApplied:
			rec.What = AckApplied
			Unblock(tx, a.Twin, store.BlockAtPeer, pid)
		case replica.ResultSkipped:
			rec.What = AckSkipped
		default:
			rec.What, rec.Error = AckFailed, a.Error
			if err := BlockAtPeer(tx, a.Twin, tw.LocalKey, link, a.Seq, a.Error); err != nil {
				return err
			}
		}
		if err := AddSent(tx, tw, now, rec); err != nil {
			return err
		}
	}
	// The twin's links changed: store it. Otherwise not: its history lines
	// are keys of their own.
	if tw != nil && dirty {
		return tx.PutTwin(tw)
	}
	return nil
}

// sentTo reports whether ack a answers an event in the peer's outgoing log:
// one with the ack's sequence, twin and (when the ack names it) event ID.
// sent and changed are that event's queueing time and the tracker's
// change it carried (Unix nanoseconds), for metrics.
func sentTo(tx *store.Tx, pid string, a replica.Ack) (sent, changed int64, ok bool) {
	if a.Seq == 0 {
		return 0, 0, false
	}
	es, err := tx.PendingOut(pid, a.Seq-1, 1)
	if err != nil || len(es) == 0 || es[0].Seq != a.Seq {
		return 0, 0, false
	}
	ev, err := replica.UnmarshalEvent(es[0].Frame)
	if err != nil {
		return 0, 0, false
	}
	return ev.Sent, ev.Changed, ev.Twin == a.Twin && (a.EventID == "" || ev.ID == a.EventID)
}
