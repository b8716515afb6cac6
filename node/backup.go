package node

// Backup and restore of the node's home live in package backup; here are
// the node's thin calls and the resync service a restored node runs (see
// package backup's backup.go for why).

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/node/backup"
	"github.com/issuemesh/issuemesh/store"
)

// Backup writes a backup of the home into dir, which must be an absolute
// path that does not exist or is an empty folder.
func (n *Node) Backup(ctx context.Context, dir string) (BackupInfo, error) {
	src := backup.Node{PeerID: n.self.String(), Online: n.hostOrNil() != nil, SyncLog: n.store.Backup, Log: n.log}
	if n.local != nil {
		src.Tracker = n.local.Backup
	}
	return backup.Write(ctx, homeOf(n.home), src, dir)
}

// Restore creates the home from the backup in dir: the home must not hold
// a node. The restored node asks its peers for a resync when it runs.
func Restore(home, dir string, opts Options) (BackupInfo, error) {
	return backup.Restore(homeOf(home), dir, opts.NoSync, opts.Logger)
}

// runResync is the resync service of a restored node (backup.Resync).
func (n *Node) runResync(ctx context.Context) error {
	known := func(id peer.ID) bool { return n.peer(id) != nil }
	return backup.Resync{DB: n.store, Backoff: n.backoff(), Known: known, Host: n.hostOrNil, Log: n.log}.Run(ctx)
}

// resendAll appends, for every twin with a link to peer p that is still
// synced, an event with the link's whole agreed state.
func (n *Node) resendAll(ctx context.Context, p string) (int, error) {
	var ids []string
	err := n.store.View(func(tx *store.Tx) error {
		return tx.Twins(func(tw *store.Twin) error {
			if l := tw.Links[p]; l != nil && !l.Unsynced {
				ids = append(ids, tw.ID)
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	slices.Sort(ids)
	count := 0
	for i := 0; i < len(ids); i += shareChunk {
		chunk := ids[i:min(i+shareChunk, len(ids))]
		c, err := n.resendChunk(ctx, p, chunk)
		if err != nil {
			return count, err
		}
		count += c
	}
	n.wakeLink(p)
	return count, nil
}

func (n *Node) resendChunk(ctx context.Context, p string, ids []string) (int, error) {
	for _, id := range ids {
		defer n.eng.Lock(id)()
	}
	count := 0
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		count = 0
		now := time.Now()
		for _, id := range ids {
			tw, err := tx.GetTwin(id)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				return err
			}
			l := tw.Links[p]
			if l == nil || l.Unsynced {
				continue
			}
			if err := n.queueEvent(tx, tw, p, l, []string{"resync"}, now); err != nil {
				return err
			}
			if err := tx.PutTwin(tw); err != nil {
				return err
			}
			tx.Checkpoint()
			count++
		}
		return nil
	})
	return count, err
}
