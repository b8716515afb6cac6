package engine

import (
	"strconv"
	"sync"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// unrecorded remembers, per twin, the received events that may be in the
// tracker while the sync log does not say so: every event still in the
// incoming log. An applier writes the tracker first and records the event
// (link state, baseline, removal from the incoming log) afterwards; a crash
// or a refused write (a full disk) in between leaves the tracker with the
// event's values and the link with the old ones. The trigger then sees
// values that differ from the baseline, but they are not local edits: they
// carry the clocks of the event, never a fresh one, or an old value would
// beat a peer's later edit (docs/engine.md, "Values the node failed to
// record").
//
// It is filled when the node opens (from the incoming log left by the last
// run) and by the appliers before they write the tracker, and an event
// leaves it once its outcome is in the sync log.
type unrecorded struct {
	mu     sync.Mutex
	byTwin map[string]map[string]replica.Replica // twin -> source key/seq -> the event's replica
}

func unrecordedID(src string, seq uint64) string { return src + "/" + strconv.FormatUint(seq, 10) }

// add notes that the event seq from src may reach the tracker before it is
// recorded.
func (u *unrecorded) add(twin, src string, seq uint64, r replica.Replica) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byTwin == nil {
		u.byTwin = map[string]map[string]replica.Replica{}
	}
	m := u.byTwin[twin]
	if m == nil {
		m = map[string]replica.Replica{}
		u.byTwin[twin] = m
	}
	m[unrecordedID(src, seq)] = r
}

// done forgets the event once its outcome is in the sync log.
func (u *unrecorded) done(twin, src string, seq uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := u.byTwin[twin]
	delete(m, unrecordedID(src, seq))
	if len(m) == 0 {
		delete(u.byTwin, twin)
	}
}

// held returns the twin's unrecorded events as sources of clocks for stamp:
// a value the issue shows (out) that one of them carries is held with that
// event's clock.
func (u *unrecorded) held(twin string, out replica.Replica) []held {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := u.byTwin[twin]
	if len(m) == 0 {
		return nil
	}
	hs := make([]held, 0, len(m))
	for _, r := range m {
		hs = append(hs, held{agreed: r, baseline: r, out: out})
	}
	return hs
}

// load fills u from the incoming log: the events a previous run received
// and may have applied without recording it.
func (u *unrecorded) load(st *store.Store) error {
	return st.View(func(tx *store.Tx) error {
		srcs, err := tx.InPeers()
		if err != nil {
			return err
		}
		for _, src := range srcs {
			var after uint64
			for {
				entries, err := tx.PendingIn(src, after, 256)
				if err != nil {
					return err
				}
				for _, e := range entries {
					u.add(e.Event.Twin, src, e.Seq, e.Event.Replica)
				}
				if len(entries) < 256 {
					break
				}
				after = entries[len(entries)-1].Seq
			}
		}
		return nil
	})
}
