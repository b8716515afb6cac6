package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Manual operations on one issue and link (issuemesh sync, unsync, link):
// the same path as share (share.go): the outgoing rules run outside the
// store's update, values other links hold keep their clocks, a network's
// owned fields and blocked records are respected.

// ErrBadRequest marks an operation that cannot be done as asked; the
// error says why.
var ErrBadRequest = errors.New("bad request")

// ManualOp is a manual operation.
type ManualOp int

const (
	// ManualSync shares the issue now, whatever the link's filter says;
	// the link then keeps syncing it.
	ManualSync ManualOp = iota
	// ManualUnsync stops syncing the twin on the link, on both sides.
	ManualUnsync
	// ManualLink links the issue with the peer's issue remote.
	ManualLink
)

// ShareManual does one manual operation on the issue with that key and a
// link, under the twin's lock, and reports whether an event was queued.
func (e *Engine) ShareManual(ctx context.Context, key string, link LinkKey, op ManualOp, remote string) (bool, error) {
	read := e.fresh.begin()
	defer e.fresh.end()
	is, twin, linked, err := e.manualTwin(ctx, key, link, op)
	if err != nil {
		return false, err
	}
	defer e.locks.Lock(twin)()
	if e.fresh.stale(twin, read) {
		if is, err = e.cfg.Tracker.Get(ctx, key); err != nil {
			return false, err
		}
	}
	all := []LinkKey{link}
	for _, l := range e.cfg.Links.Links() {
		if l != link {
			all = append(all, l)
		}
	}
	var outs []linkOutcome
	if op != ManualUnsync {
		outs = e.outgoing(shareWork{is, twin}, all, 1, linked)
		if err := outs[0].err; err != nil {
			return false, err
		}
		if outs[0].skip {
			return false, fmt.Errorf("%w: the outgoing rules for %s skip %s", ErrBadRequest, link, key)
		}
	}
	own := e.ownership(link)
	now := time.Now()
	sent := false
	var restores []ownedRestore
	err = e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		sent, restores = false, restores[:0]
		tw, err := tx.GetTwin(twin)
		if errors.Is(err, store.ErrNotFound) {
			tw, err = &store.Twin{ID: twin, LocalKey: key, Created: now}, nil
		}
		if err != nil {
			return err
		}
		tw.LocalKey = key
		l := tw.Link(string(link))
		ev := replica.Event{V: replica.Version, ID: NewID(), Twin: twin, Origin: e.cfg.Self, SourceKey: key, Sent: now.UnixNano()}
		changed, err := manualState(l, &ev, op, key, remote)
		if err != nil || (op == ManualUnsync && changed == nil) {
			return err // an unsync of an unsynced link: nothing to do
		}
		if op != ManualUnsync {
			if b, err := tx.GetBlocked(twin, store.BlockOut, string(link)); err == nil {
				return fmt.Errorf("%w: %s is blocked for %s: %s; fix it, then run issuemesh retry", ErrBadRequest, key, link, b.Error)
			}
			out := outs[0].out
			if err := CheckEventSize(key, out, &l.Agreed); err != nil {
				return fmt.Errorf("%w: %w", ErrBadRequest, err)
			}
			if own.active() {
				var reverted []string
				if out, reverted = own.keepOwned(e.cfg.Self, out, l.Baseline); len(reverted) > 0 {
					restores = append(restores, ownedRestore{link: link, twin: twin, key: key, fields: reverted})
				}
			}
			p := sharePass{e: e, now: now}
			hs := append(heldBy(tw, link, all, outs), e.unrec.held(twin, out)...)
			changed = stamp(&l.Agreed, l.Baseline, out, p.clock, hs)
			l.Baseline = out
			if len(changed) == 0 && ev.Op == "" {
				return tx.PutTwin(tw) // shared already and unchanged
			}
		}
		if err := e.append(tx, tw, link, l, &ev, changed, now, changeNote{}); err != nil {
			return err
		}
		sent = true
		return tx.PutTwin(tw)
	})
	if err != nil {
		return false, err
	}
	if sent {
		e.wake(link)
	}
	for _, r := range restores {
		e.restoreOwned(ctx, r)
	}
	return sent, nil
}

// manualTwin reads the issue and resolves its twin: the one it is linked
// as, else its twin marker, else a new one. linked holds twin ID + " " +
// link for the twin's links.
func (e *Engine) manualTwin(ctx context.Context, key string, link LinkKey, op ManualOp) (adapters.Issue, string, map[string]bool, error) {
	is, err := e.cfg.Tracker.Get(ctx, key)
	if err != nil {
		return is, "", nil, err
	}
	twin := is.TwinID
	linked := map[string]bool{}
	err = e.cfg.Store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err == nil {
			twin = tw.ID
			for l := range tw.Links {
				linked[tw.ID+" "+l] = true
			}
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			if op == ManualUnsync {
				return fmt.Errorf("%w: %s is not synced with %s", store.ErrNotFound, key, link)
			}
			return nil
		}
		return err
	})
	if twin == "" {
		twin = NewID()
	}
	return is, twin, linked, err
}

// manualState changes the link's state as the operation says and makes ev
// its operation's event; for an unsync it returns what changed (nil: the
// link was unsynced already).
func manualState(l *store.Link, ev *replica.Event, op ManualOp, key, remote string) ([]string, error) {
	switch op {
	case ManualUnsync:
		if l.Unsynced {
			return nil, nil
		}
		l.Unsynced, l.Manual = true, false
		ev.Op = replica.OpUnsync
		return []string{"unsync"}, nil
	case ManualLink:
		if l.RemoteKey != "" && l.RemoteKey != remote && !l.Unsynced {
			return nil, fmt.Errorf("%w: %s is already linked to %s at that peer; unsync it first", ErrBadRequest, key, l.RemoteKey)
		}
		l.RemoteKey, l.Unsynced, l.Manual = remote, false, true
		l.Agreed, l.Baseline = replica.Replica{}, replica.Replica{}
		ev.Op, ev.LinkKey = replica.OpLink, remote
	case ManualSync:
		l.Manual = true
		if l.Unsynced {
			// Syncing again after unsync: the peer links its issue again.
			l.Unsynced = false
			l.Agreed, l.Baseline = replica.Replica{}, replica.Replica{}
			if l.RemoteKey != "" {
				ev.Op, ev.LinkKey = replica.OpLink, l.RemoteKey
			}
		}
	}
	return nil, nil
}
