package store

import (
	"context"
	"errors"
	"testing"
)

// A sync log written before the rk/ index existed (simulated by deleting
// the index and its marker) gets the index once, at open: TwinByRemoteKey
// finds the old links, and the marker keeps a later open from scanning
// again.
func TestRemoteKeysBackfilledAtOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	err := s.Update(ctx, func(tx *Tx) error {
		for _, id := range []string{"t1", "t2"} {
			tw := &Twin{ID: id, LocalKey: "L-" + id}
			tw.Link("peerA").RemoteKey = "R-" + id
			tw.Link("net:x").RemoteKey = "N-" + id
			if err := tx.PutTwin(tw); err != nil {
				return err
			}
		}
		// As an old log has it: no index, no marker.
		tx.del("rk/peerA/R-t1")
		tx.del("rk/peerA/R-t2")
		tx.del(rkIndexed)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	find := func(s *Store, key string) error {
		return s.View(func(tx *Tx) error { _, err := tx.TwinByRemoteKey("peerA", key); return err })
	}
	if err := find(s, "R-t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before the reopen: %v, want not found", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	for _, k := range []string{"R-t1", "R-t2"} {
		if err := find(s, k); err != nil {
			t.Fatalf("after the reopen, %s: %v", k, err)
		}
	}
	// Done once: an entry lost now is not indexed again by an open.
	if err := s.Update(ctx, func(tx *Tx) error { tx.del("rk/peerA/R-t1"); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	if err := find(s, "R-t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the second open indexed again: %v", err)
	}
}

// TestNewLogMarkedIndexed checks that a new, empty sync log is marked as
// indexed at its first open, so that a later open of the grown log does
// not index every twin again (at 100,000 twins that took minutes and a GB
// before the node answered).
func TestNewLogMarkedIndexed(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var err error
	if verr := s.View(func(tx *Tx) error { _, err = tx.get(rkIndexed); return nil }); verr != nil {
		t.Fatal(verr)
	}
	s.Close()
	if err != nil {
		t.Fatalf("a new sync log is not marked indexed after its first open: %v", err)
	}
}
