package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// rkIndexed marks a sync log whose remote key index (rk/) holds the links
// of every twin, also those stored before the index existed.
const rkIndexed = "m/rk-indexed"

// backfillRemoteKeys indexes, once, the peers' keys of every twin stored
// before PutTwin kept the rk/ index (check.go), so that TwinByRemoteKey
// finds their links too. The marker key says it was done.
func (s *Store) backfillRemoteKeys(ctx context.Context) error {
	done := false
	if err := s.View(func(tx *Tx) error {
		_, err := tx.get(rkIndexed)
		switch {
		case err == nil:
			done = true
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if !done {
			// A log without twins (a new one) has nothing to index: it is
			// left unwritten, and the first open that finds twins marks it.
			n, err := tx.Count("t/")
			done = err == nil && n == 0
			return err
		}
		return nil
	}); err != nil || done {
		return err
	}
	n := 0
	err := s.Update(ctx, func(tx *Tx) error {
		n = 0
		var twins []*Twin
		err := tx.scan("t/", false, func(key string, val []byte) (bool, error) {
			tw := &Twin{}
			if err := unpackTwin(val, tw); err != nil {
				return false, fmt.Errorf("decode %s: %w", key, err)
			}
			for peer, l := range tw.Links {
				if l != nil && l.RemoteKey != "" && !strings.HasPrefix(peer, "net:") {
					twins = append(twins, tw)
					break
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, tw := range twins {
			tx.indexRemoteKeys(tw)
			n++
			tx.Checkpoint() // a large log commits part by part
		}
		tx.set(rkIndexed, []byte{1})
		return nil
	})
	if err != nil {
		return fmt.Errorf("index the peers' keys of the sync log in %s: %w", s.dir, err)
	}
	if n > 0 {
		s.log.Info("indexed the peers' keys of twins stored before the index existed", "twins", n)
	}
	return nil
}
