package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/engine"
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
		sent, err := n.shareManual(ctx, in.Key, id, engine.ManualSync, "")
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
	_, err = n.shareManual(ctx, in.Key, id, engine.ManualUnsync, "")
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
	_, err = n.shareManual(ctx, in.Key, id, engine.ManualLink, in.Remote)
	return err
}

// shareManual does one manual operation on one issue and peer through the
// engine's share path (engine/manual.go) and reports whether an event was
// queued.
func (n *Node) shareManual(ctx context.Context, key string, id peer.ID, op engine.ManualOp, remote string) (bool, error) {
	return n.eng.ShareManual(ctx, key, engine.PeerLink(id.String()), op, remote)
}
