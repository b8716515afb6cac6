package node

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Refused events (DESIGN 5.10). An event whose clocks are further ahead of
// this node's clock than max_clock_skew, or a network event whose author's
// signature does not verify (a forgery), is refused: never logged for
// applying, never applied. Each refusal is logged and kept as a notice,
// the newest maxRefusals, shown by `errors` (direction "refused") and
// counted by `status` (refused). Notices live in memory: the twin's history
// keeps a "refused" line where the twin is known, and a sender learns of a
// refusal of its event to a peer by the failed ack (its own `errors` then
// shows the twin blocked at that peer).

// maxRefusals bounds the notices kept.
const maxRefusals = 200

// refusals holds the newest refusal notices.
type refusals struct {
	mu    sync.Mutex
	list  []store.Blocked
	total int64
	// byLink counts the refusals per link, for metrics.
	byLink map[string]int64
}

// add keeps a notice, dropping the oldest past maxRefusals.
func (r *refusals) add(b store.Blocked) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b.Dir, b.Since, b.Attempts = DirRefused, time.Now().UTC(), 1
	r.total++
	if r.byLink == nil {
		r.byLink = map[string]int64{}
	}
	r.byLink[b.Peer]++
	r.list = append(r.list, b)
	if len(r.list) > maxRefusals {
		r.list = slices.Delete(r.list, 0, len(r.list)-maxRefusals)
	}
}

// notices lists the notices, oldest first.
func (r *refusals) notices() []store.Blocked {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// count is how many events were refused since the node started.
func (r *refusals) count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// countByLink is how many events were refused per link since the node
// started.
func (r *refusals) countByLink() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.byLink)
}

// maxSkew is the configured max_clock_skew.
func (n *Node) maxSkew() time.Duration {
	if n.cfg != nil && n.cfg.MaxClockSkew > 0 {
		return n.cfg.MaxClockSkew
	}
	return replica.DefaultMaxSkew
}

// checkClocks refuses an event with a clock too far ahead of this node's.
func (n *Node) checkClocks(ev *replica.Event) error {
	return replica.CheckSkew(&ev.Replica, time.Now(), n.maxSkew())
}

// refuseAhead answers a received event whose clocks are too far ahead:
// the event leaves the incoming log with a failed ack naming the clock (the
// ack answers retransmissions too), the twin's history says "refused" and a
// notice is kept. It reports whether ev was refused; with later, the write
// is handed over like finish's. The twin is not blocked: the source's next
// events of it are applied as usual.
func (n *Node) refuseAhead(ctx context.Context, later *deferredFinish, src *source, seq uint64, ev replica.Event) (replica.Ack, bool, error) {
	cerr := n.checkClocks(&ev)
	ack := replica.Ack{Seq: seq, EventID: ev.ID, Twin: ev.Twin}
	if cerr == nil {
		return ack, false, nil
	}
	ack.Result, ack.Error = replica.ResultFailed, cerr.Error()
	n.log.Warn("refused an event with a clock too far ahead", "from", src.key, "twin", ev.Twin, "event", ev.ID, "seq", seq, "err", cerr)
	_ = n.store.View(func(tx *store.Tx) error {
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
			if err := engine.AddReceived(tx, tw, time.Now(), engine.Received{Source: engine.SourceKey(src.key), Seq: seq, EventID: ev.ID, What: engine.Refused, LocalKey: tw.LocalKey, Error: ack.Error}); err != nil {
				return err
			}
			if err := tx.PutTwin(tw); err != nil {
				return err
			}
		}
		return tx.FinishIn(src.key, seq, ack)
	}
	n.refused.add(store.Blocked{Twin: ev.Twin, LocalKey: ack.LocalKey, Peer: src.key, Seq: seq, Error: ack.Error})
	// Loaded from the incoming log at open, it may be a source of clocks
	// (unrecorded.go) until its refusal is recorded: then it is none.
	if later != nil {
		later.fn, later.ack = fn, ack
		later.recorded = func() { n.unrec.done(ev.Twin, src.key, seq) }
		return ack, true, nil
	}
	if err := n.store.Update(ctx, fn); err != nil {
		return ack, true, err
	}
	n.unrec.done(ev.Twin, src.key, seq)
	return ack, true, nil
}
