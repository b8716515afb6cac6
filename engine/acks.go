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

// recordAcks records a batch of acks from the peer in one write. A twin
// acked several times in the batch is decoded and stored once. Only acks
// of events waiting in the peer's outgoing log (sent, not acked yet) count:
// any other (a forged one, or one for an event acked already) is logged and
// ignored, so it can neither set the peer's key of an issue nor block it.
func (e *Engine) RecordAcks(ctx context.Context, link LinkKey, items []replica.Ack, now time.Time) ([]Acked, error) {
	pid := string(link)
	var ignored []replica.Ack
	var counted []Acked
	defer func() {
		for _, a := range ignored {
			e.log.Warn("ignoring an ack for an event this node has not sent to the peer (or has had acked already)", "peer", pid, "seq", a.Seq, "twin", a.Twin, "event", a.EventID)
		}
	}()
	err := e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		// Built inside the function: the store may run it more than once.
		twins := map[string]*store.Twin{}
		var order []*store.Twin
		// dirty: the twins whose links the acks changed. The others are
		// not stored again: their history lines are keys of their own.
		dirty := map[*store.Twin]bool{}
		ignored, counted = ignored[:0], counted[:0]
		for _, a := range items {
			sent, changed, ok := sentTo(tx, pid, a)
			if !ok {
				ignored = append(ignored, a)
				continue
			}
			counted = append(counted, Acked{Result: a.Result, Sent: sent, Changed: changed})
			tx.DeleteOut(pid, a.Seq)
			tw, seen := twins[a.Twin]
			if !seen {
				var err error
				tw, err = tx.GetTwin(a.Twin)
				if errors.Is(err, store.ErrNotFound) {
					twins[a.Twin] = nil
					continue
				}
				if err != nil {
					return err
				}
				twins[a.Twin] = tw
				order = append(order, tw)
			}
			if tw == nil {
				continue
			}
			if tw.Links[pid] == nil {
				dirty[tw] = true
			}
			l := tw.Link(pid)
			if a.LocalKey != "" && l.RemoteKey != a.LocalKey {
				l.RemoteKey = a.LocalKey
				dirty[tw] = true
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
		for _, tw := range order {
			if !dirty[tw] {
				continue
			}
			if err := tx.PutTwin(tw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counted, nil
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
