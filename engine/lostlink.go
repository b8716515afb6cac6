package engine

import (
	"errors"
	"fmt"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// A peer that lost its link to a twin (a damaged sync log moved aside, a
// home restored from an older backup) takes its issue for unshared and
// shares it under a new twin ID. Here that event names a twin never seen,
// and without this check its first apply would create the peer's issue a
// second time (DESIGN 5.2). The peer's issue key tells it apart: a link of
// this node to that peer already holds the issue under that key (the
// rk/ index of store/check.go).

// notLinkedYet returns nil when the event's issue at its source is not
// linked here under another twin; otherwise a permanent error (the event
// fails, the twin is blocked on both sides with this error, nothing is
// created).
func (e *Engine) notLinkedYet(src *Source, ev replica.Event) error {
	if src.net() || ev.SourceKey == "" || ev.Op != "" {
		return nil
	}
	var other *store.Twin
	err := e.cfg.Store.View(func(tx *store.Tx) (err error) {
		other, err = tx.TwinByRemoteKey(string(src.link()), ev.SourceKey)
		return
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case other.ID == ev.Twin:
		return nil
	}
	return fmt.Errorf("%s at the peer is already synced here as %s (twin %s), but the peer sent it as a new twin %s: the peer lost its link (a damaged or restored sync log), and nothing is created here; restore the peer's home from a backup that has the link, or, to make a second copy on purpose, unsync %s here (issuemesh unsync %s --from PEER) and retry: %w",
		ev.SourceKey, other.LocalKey, other.ID, ev.Twin, other.LocalKey, other.LocalKey, adapters.ErrRejected)
}
