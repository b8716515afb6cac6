package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/store"
)

// Operator commands: the queue, blocked twins and their retry, pausing a
// peer, and the history of an issue.

// Retry releases blocked twins: one issue's (by local key, or twin ID for a
// twin that could not be created here), or all; every record of the twin
// (one per link and direction) is retried for what it held:
//   - blocked here (store.BlockIn): the held events of that link are
//     applied again from the oldest, in order;
//   - refused here (store.BlockOut): the twin is shared with that link
//     again; only what changed since the link's baseline gets a clock, so
//     an old value never comes back with a fresh one;
//   - failed at the peer (store.BlockAtPeer): the link's agreed state is
//     sent again with its original clocks, and any local change since.
//
// The rule files are reloaded first, so that a fix counts at once.
func (b adminBackend) Retry(ctx context.Context, in RetryInput) (RetryResult, error) {
	n := b.n
	if in.Key == "" && !in.All {
		return RetryResult{}, fmt.Errorf("%w: name an issue key or ask for all", errBadRequest)
	}
	n.live.reload(ctx, false) // an edited map applies to this retry
	n.rules.Reload()
	var res RetryResult
	var wake []string
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		res.Retried, wake = res.Retried[:0], wake[:0]
		bs, err := engine.BlockedAll(tx)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, b := range bs {
			if !in.All && b.LocalKey != in.Key && b.Twin != in.Key {
				continue
			}
			engine.Unblock(tx, b.Twin, b.Dir, b.Peer)
			res.Retried = append(res.Retried, b)
			if b.Dir != store.BlockAtPeer || isNetLink(b.Peer) {
				continue
			}
			tw, err := tx.GetTwin(b.Twin)
			if err != nil {
				continue
			}
			if l := tw.Links[b.Peer]; l != nil && !l.Unsynced {
				if err := n.eng.Queue(tx, tw, engine.LinkKey(b.Peer), l, nil, now); err != nil {
					return err
				}
				if err := tx.PutTwin(tw); err != nil {
					return err
				}
				wake = append(wake, b.Peer)
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if !in.All && len(res.Retried) == 0 {
		return res, fmt.Errorf("%w: issue %s is not blocked", store.ErrNotFound, in.Key)
	}
	for _, l := range wake {
		n.wakeLink(l)
	}
	for _, b := range res.Retried {
		if isNet, err := n.mesh.Retry(ctx, b); isNet {
			if err != nil {
				return res, err
			}
			continue
		}
		id, err := peer.Decode(b.Peer)
		if err != nil {
			continue
		}
		if b.Dir != store.BlockIn {
			if b.LocalKey == "" {
				continue
			}
			if err := n.eng.Share(ctx, []string{b.LocalKey}, []engine.LinkKey{engine.PeerLink(id.String())}); err != nil {
				return res, err
			}
		} else if ps := n.peer(id); ps != nil {
			ps.kick(ps.wakeApply)
		}
	}
	if res.Retried == nil {
		res.Retried = []store.Blocked{}
	}
	return res, nil
}

// resolvePeer finds a peer by ID or name.
func (n *Node) resolvePeer(s string) (peer.ID, error) {
	if id, err := peer.Decode(s); err == nil {
		if n.peer(id) != nil {
			return id, nil
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var found []peer.ID
	for id, ps := range n.peers {
		ps.mu.Lock()
		name := ps.info.Name
		ps.mu.Unlock()
		if name == s {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("%w: no peer with ID or name %q", store.ErrNotFound, s)
	default:
		return "", fmt.Errorf("%w: %d peers are named %q; use the peer ID", errBadRequest, len(found), s)
	}
}

// setPaused pauses or resumes sending to a peer. While paused, changes keep
// queueing; on resume they all go out in order.
func (b adminBackend) setPaused(ctx context.Context, id peer.ID, pause bool) error {
	n := b.n
	var p store.Peer
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = tx.GetPeer(id.String()); err != nil {
			return err
		}
		p.Paused = pause
		return tx.PutPeer(p)
	})
	if err != nil {
		return err
	}
	if ps := n.peer(id); ps != nil {
		ps.mu.Lock()
		ps.info = p
		ps.mu.Unlock()
		ps.kick(ps.wakeSend)
	}
	n.log.Info("peer paused state changed", "peer", id, "paused", pause)
	return nil
}

// receivedKeep is how many finished received markers are kept per peer
// for deduplication of retransmissions.
const receivedKeep = 100_000

// maintenance bounds the sync log's bookkeeping once an hour: a service
// of the node.
type maintenance struct {
	store *store.Store
	peers func() []peer.ID // the peers whose received sets are pruned
	gc    func()           // asks for a value-log GC (kickGC)
	log   *slog.Logger
}

// Run prunes the received sets and asks for a GC every hour until ctx ends.
func (m maintenance) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, id := range m.peers() {
			for {
				var dropped int
				err := m.store.Update(ctx, func(tx *store.Tx) (err error) {
					dropped, err = tx.PruneReceived(id.String(), receivedKeep, 10_000)
					return err
				})
				if err != nil {
					m.log.Warn("pruning the received set failed", "peer", id, "err", err)
					break
				}
				if dropped == 0 {
					break
				}
				m.log.Debug("pruned the received set", "peer", id, "dropped", dropped)
			}
		}
		m.gc()
	}
}
