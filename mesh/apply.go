package mesh

import (
	"context"
	"log/slog"
	"sort"
	"sync"

	"github.com/issuemesh/issuemesh/store"
)

// Applying a network's events: the engine applies each author's source;
// afterwards the issues created here tell the network their key.

// netApplier applies a network's received events, author by author, each
// in order, like a peer's applier; afterwards the issues created here from
// the network tell the network their key.
func (n *Mesh) netApplier(ctx context.Context, ns *netState) error {
	return n.cfg.Retry(ctx, ns.wakeApply, slog.LevelWarn, "applying received network events failed; retrying", []any{"network", ns.name},
		func(ctx context.Context) error { return n.applyNet(ctx, ns) })
}

func (n *Mesh) applyNet(ctx context.Context, ns *netState) error {
	var srcs []string
	if err := n.store.View(func(tx *store.Tx) (err error) { srcs, err = tx.InSources(ns.link + "/"); return }); err != nil {
		return err
	}
	// Authors are applied side by side: their events of one twin meet at
	// the twin's lock, and merging does not depend on their order.
	twins := map[string]bool{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for _, src := range srcs {
		wg.Go(func() {
			var ids []string
			err := n.store.View(func(tx *store.Tx) error {
				es, err := tx.PendingIn(src, 0, 4096)
				for _, e := range es {
					ids = append(ids, e.Event.Twin)
				}
				return err
			})
			if err == nil {
				err = n.eng.Apply(ctx, src)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				twins[id] = true
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	n.announceKeys(ctx, ns, twins)
	return firstErr
}

// announceKeys shares the issues of these twins that this node has not
// yet told the network its key of (it created them from network events).
func (n *Mesh) announceKeys(ctx context.Context, ns *netState, twins map[string]bool) {
	var keys []string
	self := n.self.String()
	_ = n.store.View(func(tx *store.Tx) error {
		for id := range twins {
			tw, err := tx.GetTwin(id)
			if err != nil {
				continue
			}
			if l := tw.Links[ns.link]; l != nil && tw.LocalKey != "" && !l.Unsynced && l.Keys[self] != tw.LocalKey {
				keys = append(keys, tw.LocalKey)
			}
		}
		return nil
	})
	if len(keys) == 0 {
		return
	}
	sort.Strings(keys)
	if err := n.eng.Share(ctx, keys, []string{ns.link}); err != nil && ctx.Err() == nil {
		n.log.Warn("telling a network this node's keys failed; they go with the next change", "network", ns.name, "err", err)
	}
}
