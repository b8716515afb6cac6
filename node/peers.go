package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/store"
)

// Peer management beyond peer add (admin.go): removing a peer, and the
// admin API of invitations.

// dropChunk is how many queued events one write of RemovePeer deletes.
const dropChunk = 2000

// admitPeer allowlists id: it stores the peer record (adding addrs, and
// setting the name unless empty), with inTx run in the same write (it may
// change the record, or refuse by returning an error, which leaves no
// trace), forgets the peer's cached rules (its name may select another
// connection entry), then starts syncing with the peer when the node runs.
// It is the one way a peer is admitted: peer add (AddPeer) and both sides
// of an invitation use it. It does not share existing issues; the caller
// does (shareAll).
func (n *Node) admitPeer(ctx context.Context, id peer.ID, addrs []string, name string, inTx func(*store.Tx, *store.Peer) error) (store.Peer, error) {
	if id == n.self {
		return store.Peer{}, fmt.Errorf("%w: %s is this node", errBadRequest, id)
	}
	var p store.Peer
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		old, err := tx.GetPeer(id.String())
		switch {
		case err == nil:
			p = old
		case errors.Is(err, store.ErrNotFound):
			p = store.Peer{ID: id.String(), Added: time.Now().UTC()}
		default:
			return err
		}
		if name != "" {
			p.Name = name
		}
		for _, a := range addrs {
			if !slices.Contains(p.Addrs, a) {
				p.Addrs = append(p.Addrs, a)
			}
		}
		if inTx != nil {
			if err := inTx(tx, &p); err != nil {
				return err
			}
		}
		return tx.PutPeer(p)
	})
	if err != nil {
		return store.Peer{}, err
	}
	n.allow.Add(id)
	n.mu.Lock()
	ps := n.peers[id]
	if ps == nil {
		ps = newPeerState(id, p)
		n.peers[id] = ps
	} else {
		ps.mu.Lock()
		ps.info = p
		ps.mu.Unlock()
	}
	n.mu.Unlock()
	// The name may select another connection entry. Outside n.mu: loading
	// rules takes n.rules.mu, then n.mu.
	n.rules.Forget(id.String())
	n.mu.Lock()
	if n.host != nil {
		n.addAddrs(id, p.Addrs)
		ps.start(n.runCtx, n)
		n.connector.Retry(id)
	}
	n.mu.Unlock()
	n.disc.PeerAdded(id) // tells the running discovery; never blocks
	return p, nil
}

// shareAllLater shares every existing issue with a new peer in the
// background (the pair protocol answers first).
func (n *Node) shareAllLater(id peer.ID) {
	n.mu.Lock()
	ctx := n.runCtx
	running := n.host != nil
	n.mu.Unlock()
	if !running {
		return
	}
	n.goRun(ctx, "share with new peer", func(ctx context.Context) error {
		if err := n.shareAll(ctx, []peer.ID{id}); err != nil && ctx.Err() == nil {
			n.log.Warn("sharing existing issues with a new peer failed; they are shared on their next change", "peer", id, "err", err)
		}
		return nil
	})
}

// RemovePeer forgets a peer: it leaves the allowlist (its connections are
// closed and new ones refused), its addresses are forgotten, the events
// queued for it and the ones received from it that wait to be applied are
// dropped, its blocked twins are released, and every twin link with it is
// kept but marked unsynced, so that nothing flows to it again even if it is
// added back (sync the issues again for that).
func (n *Node) RemovePeer(ctx context.Context, id peer.ID) (RemoveResult, error) {
	res := RemoveResult{ID: id.String()}
	pid := id.String()

	n.allow.Remove(id)
	n.mu.Lock()
	ps := n.peers[id]
	delete(n.peers, id)
	h, conn := n.host, n.connector
	n.mu.Unlock()
	if ps != nil {
		res.Name = ps.name()
		if ps.cancel != nil {
			ps.cancel()
		}
	}
	if h != nil {
		h.ConnManager().Unprotect(id, p2p.ProtectTag)
		_ = h.Network().ClosePeer(id)
		h.Peerstore().ClearAddrs(id)
		h.Peerstore().RemovePeer(id)
	}
	if conn != nil {
		conn.Kick()
	}

	err := n.store.Update(ctx, func(tx *store.Tx) error {
		tx.DeletePeer(pid)
		return engine.UnblockLink(tx, engine.PeerLink(pid))
	})
	if err != nil {
		return res, err
	}
	for _, drop := range []struct {
		fn    func(*store.Tx, string, int) (int, error)
		count *int
	}{{(*store.Tx).DropOut, &res.DroppedOut}, {(*store.Tx).DropIn, &res.DroppedIn}} {
		for {
			var k int
			err := n.store.Update(ctx, func(tx *store.Tx) (err error) { k, err = drop.fn(tx, pid, dropChunk); return })
			if err != nil {
				return res, err
			}
			*drop.count += k
			if k == 0 {
				break
			}
		}
	}

	var twins []string
	err = n.store.View(func(tx *store.Tx) error {
		return tx.Twins(func(tw *store.Twin) error {
			if l := tw.Links[pid]; l != nil && !l.Unsynced {
				twins = append(twins, tw.ID)
			}
			return nil
		})
	})
	if err != nil {
		return res, err
	}
	now := time.Now().UTC()
	for chunk := range slices.Chunk(twins, 500) {
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			for _, twin := range chunk {
				tw, err := tx.GetTwin(twin)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				l := tw.Links[pid]
				if l == nil || l.Unsynced {
					continue
				}
				l.Unsynced = true
				if err := engine.AddSent(tx, tw, now, engine.Sent{Link: engine.PeerLink(pid), What: engine.PeerRemoved, Error: "peer removed"}); err != nil {
					return err
				}
				if err := tx.PutTwin(tw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Unsynced += len(chunk)
	}
	n.log.Info("peer removed", "peer", id, "name", res.Name, "dropped_out", res.DroppedOut, "dropped_in", res.DroppedIn, "unsynced", res.Unsynced)
	return res, nil
}
