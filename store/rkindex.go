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
	done, empty := false, false
	if err := s.View(func(tx *Tx) error {
		_, err := tx.get(rkIndexed)
		switch {
		case err == nil:
			done = true
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if !done {
			n, err := tx.Count("t/")
			empty = err == nil && n == 0
			return err
		}
		return nil
	}); err != nil || done {
		return err
	}
	if empty {
		// A log without twins (a new one) has nothing to index, and
		// PutTwin keeps the index from now on: it is marked at once. Left
		// unmarked, the next open of a log that has grown to 100,000
		// twins indexed them all in one update (minutes, and a GB).
		return s.Update(ctx, func(tx *Tx) error { tx.set(rkIndexed, []byte{1}); return nil })
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
