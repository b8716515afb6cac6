package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Manual operations: share one issue now, share every issue in bulk, stop
// syncing a twin, link two issues that exist already.

// Sync shares one issue with a peer now, whatever the trigger says, or (All)
// a page of every issue that matches the trigger and is not shared yet.
func (n *Node) Sync(ctx context.Context, in SyncInput) (SyncResult, error) {
	id, err := n.resolvePeer(in.To)
	if err != nil {
		return SyncResult{}, err
	}
	if !in.All {
		if in.Key == "" {
			return SyncResult{}, fmt.Errorf("%w: name an issue key, or ask for all", errBadRequest)
		}
		sent, err := n.shareManual(ctx, in.Key, id, manualSync, "")
		if err != nil {
			return SyncResult{}, err
		}
		res := SyncResult{Done: true}
		if sent {
			res.Shared = 1
		} else {
			res.Already = 1
		}
		return res, nil
	}
	limit := in.Limit
	if limit <= 0 || limit > changeBatch {
		limit = changeBatch
	}
	issues, next, err := n.tracker.Changes(ctx, adapters.Cursor(in.Cursor), limit)
	if err != nil {
		return SyncResult{}, err
	}
	res := SyncResult{Cursor: string(next), Done: len(issues) < limit}
	var keys []string
	err = n.store.View(func(tx *store.Tx) error {
		if res.Total, err = n.issueCount(ctx); err != nil {
			return err
		}
		for _, is := range issues {
			if !n.matches(id, is) {
				res.Skipped++
				continue
			}
			tw, err := tx.TwinByKey(is.Key)
			if err == nil {
				if l := tw.Links[id.String()]; l != nil && !l.Unsynced && len(l.Baseline.Fields) > 0 {
					res.Already++
					continue
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			keys = append(keys, is.Key)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := n.share(ctx, keys, []peer.ID{id}); err != nil {
		return res, err
	}
	res.Shared = len(keys)
	return res, nil
}

// issueCount counts the tracker's issues (for progress).
func (n *Node) issueCount(ctx context.Context) (int, error) {
	if c, ok := n.tracker.(interface {
		Count(context.Context) (int, error)
	}); ok {
		return c.Count(ctx)
	}
	return 0, nil
}

// Unsync stops syncing a twin with a peer on both sides, keeping both
// issues: the link is marked unsynced here, and an unsync event tells the
// peer to do the same.
func (n *Node) Unsync(ctx context.Context, in UnsyncInput) error {
	id, err := n.resolvePeer(in.From)
	if err != nil {
		return err
	}
	_, err = n.shareManual(ctx, in.Key, id, manualUnsync, "")
	return err
}

// Link connects an issue here with one that exists at the peer already:
// the peer links its issue to this twin and this issue's state lands on it;
// from then on they sync as any twin.
func (n *Node) Link(ctx context.Context, in LinkInput) error {
	id, err := n.resolvePeer(in.To)
	if err != nil {
		return err
	}
	if in.Key == "" || in.Remote == "" {
		return fmt.Errorf("%w: link needs the local key and the peer's key (--remote)", errBadRequest)
	}
	_, err = n.shareManual(ctx, in.Key, id, manualLink, in.Remote)
	return err
}

type manualOp int

const (
	manualSync manualOp = iota
	manualUnsync
	manualLink
)

// shareManual does one manual operation on one issue and peer, under the
// twin's lock, and reports whether an event was queued.
func (n *Node) shareManual(ctx context.Context, key string, id peer.ID, op manualOp, remote string) (bool, error) {
	is, err := n.tracker.Get(ctx, key)
	if err != nil {
		return false, err
	}
	twin := is.TwinID
	err = n.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err == nil {
			twin = tw.ID
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			if op == manualUnsync {
				return fmt.Errorf("%w: %s is not synced with %s", store.ErrNotFound, key, id)
			}
			return nil
		}
		return err
	})
	if err != nil {
		return false, err
	}
	if twin == "" {
		twin = newID()
	}
	unlock := n.locks.Lock(twin)
	defer unlock()
	if is, err = n.tracker.Get(ctx, key); err != nil {
		return false, err
	}
	pid := id.String()
	now := time.Now()
	sent := false
	err = n.store.Update(ctx, func(tx *store.Tx) error {
		sent = false
		tw, err := tx.GetTwin(twin)
		if errors.Is(err, store.ErrNotFound) {
			tw, err = &store.Twin{ID: twin, LocalKey: key, Created: now}, nil
		}
		if err != nil {
			return err
		}
		tw.LocalKey = key
		l := tw.Link(pid)
		ev := replica.Event{V: replica.Version, ID: newID(), Twin: twin, Origin: n.self.String(), SourceKey: key, Sent: now.UnixNano()}
		var changed []string
		switch op {
		case manualUnsync:
			if l.Unsynced {
				return nil
			}
			l.Unsynced, l.Manual = true, false
			ev.Op = replica.OpUnsync
			changed = []string{"unsync"}
		case manualLink:
			if l.RemoteKey != "" && l.RemoteKey != remote && !l.Unsynced {
				return fmt.Errorf("%w: %s is already linked to %s at that peer; unsync it first", errBadRequest, key, l.RemoteKey)
			}
			l.RemoteKey, l.Unsynced, l.Manual = remote, false, true
			l.Agreed, l.Baseline = replica.Replica{}, replica.Replica{}
			ev.Op, ev.LinkKey = replica.OpLink, remote
		case manualSync:
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
		if op != manualUnsync {
			out, skip, err := n.outgoingFor(id, is)
			if err != nil {
				return err
			}
			if skip {
				return fmt.Errorf("%w: the outgoing rules for %s skip %s", errBadRequest, id, key)
			}
			changed = stamp(&l.Agreed, l.Baseline, out, n.hlc.Now, n.unrec.held(tw.ID, out))
			l.Baseline = out
			if len(changed) == 0 && ev.Op == "" {
				return tx.PutTwin(tw) // shared already and unchanged
			}
			ev.Replica = l.Agreed.Clone()
		}
		seq, err := tx.Append(pid, &ev)
		if err != nil {
			return err
		}
		if err := engine.AddSent(tx, tw, now, engine.Sent{Link: engine.PeerLink(pid), Seq: seq, EventID: ev.ID, What: engine.QueuedOutcome(ev.Op), Fields: changed, LocalKey: key}); err != nil {
			return err
		}
		sent = true
		return tx.PutTwin(tw)
	})
	if err != nil {
		return false, err
	}
	if sent {
		n.wakeSender(id)
	}
	return sent, nil
}
