package backup

import (
	"context"
	"errors"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/p2p/syncproto"
	"github.com/issuemesh/issuemesh/store"
)

// Resync is the resync service of a restored node: it asks each peer
// marked for a resync to send its state again, with backoff, until every
// one answered.
type Resync struct {
	DB      *store.Store
	Backoff *backoff.Backoff
	Known   func(peer.ID) bool // whether the peer is still added
	Host    func() host.Host   // nil while the node is not online
	Log     *slog.Logger
}

// Run runs the service until every marked peer answered or ctx ends.
func (n Resync) Run(ctx context.Context) error {
	b := n.Backoff
	for {
		var pending []string
		err := n.DB.View(func(tx *store.Tx) error {
			cs, err := tx.Cursors(ResyncCursor)
			for k := range cs {
				pending = append(pending, k)
			}
			return err
		})
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		for _, p := range pending {
			id, err := peer.Decode(p)
			if err != nil || !n.Known(id) {
				n.clearResync(ctx, p) // a peer removed since
				continue
			}
			err = errors.New("the node is not running")
			if h := n.Host(); h != nil {
				err = syncproto.AskResync(ctx, h, id)
			}
			if err != nil {
				n.Log.Info("asking a peer to resend its state after the restore; trying again", "peer", id, "err", err, "in", b.Current())
				continue
			}
			n.Log.Info("the peer resends its state after the restore", "peer", id)
			n.clearResync(ctx, p)
		}
		if !b.Wait(ctx) {
			return nil
		}
	}
}

func (n Resync) clearResync(ctx context.Context, p string) {
	err := n.DB.Update(ctx, func(tx *store.Tx) error { tx.DeleteCursor(ResyncCursor + p); return nil })
	if err != nil {
		n.Log.Warn("could not record that the peer resends its state", "peer", p, "err", err)
	}
}
