package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/store"
)

// Manual operations of the admin API: share one issue now, share every
// issue in bulk, stop syncing a twin, link two issues that exist already.
// They call the engine's manual path (engine/manual.go) directly.

// Sync shares one issue with a peer now, whatever the trigger says, or (All)
// a page of every issue that matches the trigger and is not shared yet.
func (b adminBackend) Sync(ctx context.Context, in SyncInput) (SyncResult, error) {
	n := b.n
	id, err := n.resolvePeer(in.To)
	if err != nil {
		return SyncResult{}, err
	}
	if !in.All {
		if in.Key == "" {
			return SyncResult{}, fmt.Errorf("%w: name an issue key, or ask for all", errBadRequest)
		}
		sent, err := n.eng.ShareManual(ctx, in.Key, engine.PeerLink(id.String()), engine.ManualSync, "")
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
		if res.Total, err = issueCount(ctx, n.tracker); err != nil {
			return err
		}
		for _, is := range issues {
			if !n.rules.Match(id.String(), is) {
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
	if err := n.eng.Share(ctx, keys, []engine.LinkKey{engine.PeerLink(id.String())}); err != nil {
		return res, err
	}
	res.Shared = len(keys)
	return res, nil
}

// issueCount counts the tracker's issues (for progress).
func issueCount(ctx context.Context, tr adapters.Tracker) (int, error) {
	if c, ok := tr.(interface {
		Count(context.Context) (int, error)
	}); ok {
		return c.Count(ctx)
	}
	return 0, nil
}

// Unsync stops syncing a twin with a peer on both sides, keeping both
// issues: the link is marked unsynced here, and an unsync event tells the
// peer to do the same.
func (b adminBackend) Unsync(ctx context.Context, in UnsyncInput) error {
	id, err := b.n.resolvePeer(in.From)
	if err != nil {
		return err
	}
	_, err = b.n.eng.ShareManual(ctx, in.Key, engine.PeerLink(id.String()), engine.ManualUnsync, "")
	return err
}

// Link connects an issue here with one that exists at the peer already:
// the peer links its issue to this twin and this issue's state lands on it;
// from then on they sync as any twin.
func (b adminBackend) Link(ctx context.Context, in LinkInput) error {
	id, err := b.n.resolvePeer(in.To)
	if err != nil {
		return err
	}
	if in.Key == "" || in.Remote == "" {
		return fmt.Errorf("%w: link needs the local key and the peer's key (--remote)", errBadRequest)
	}
	_, err = b.n.eng.ShareManual(ctx, in.Key, engine.PeerLink(id.String()), engine.ManualLink, in.Remote)
	return err
}
