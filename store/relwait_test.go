package store

import (
	"context"
	"slices"
	"testing"
)

// Relation waits survive a reopen, are found by the name of the issue they
// wait for and by their twin, and setting a twin's waits replaces them.
func TestRelationWaits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	x1 := RelationWait{Name: "t/Y", Twin: "X", Kind: "blocks"}
	x2 := RelationWait{Name: "k/peer/owner/repo#3", Twin: "X", Kind: "relates"}
	z := RelationWait{Name: "t/Y", Twin: "Z", Kind: "parent"}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.SetRelationWaits("X", []RelationWait{x1, x2}); err != nil {
			return err
		}
		return tx.SetRelationWaits("Z", []RelationWait{z})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	view := func() (forY, forRef, ofX []RelationWait, all int) {
		t.Helper()
		if err := s.View(func(tx *Tx) (err error) {
			if forY, err = tx.RelationWaitsFor("t/Y"); err != nil {
				return err
			}
			if forRef, err = tx.RelationWaitsFor("k/peer/owner/repo#3"); err != nil {
				return err
			}
			if ofX, err = tx.RelationWaitsOf("X"); err != nil {
				return err
			}
			return tx.RelationWaits(func(RelationWait) error { all++; return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return
	}
	forY, forRef, ofX, all := view()
	if !slices.Equal(forY, []RelationWait{x1, z}) || !slices.Equal(forRef, []RelationWait{x2}) || len(ofX) != 2 || all != 3 {
		t.Fatalf("after reopening: for Y %+v, for the ref %+v, of X %+v, %d in all", forY, forRef, ofX, all)
	}
	// X's relation to the reference is gone: only its wait for Y stays.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetRelationWaits("X", []RelationWait{x1}) }); err != nil {
		t.Fatal(err)
	}
	if _, forRef, ofX, all = view(); len(forRef) != 0 || !slices.Equal(ofX, []RelationWait{x1}) || all != 2 {
		t.Fatalf("after replacing X's waits: for the ref %+v, of X %+v, %d in all", forRef, ofX, all)
	}
	if err := s.Update(ctx, func(tx *Tx) error { tx.DeleteRelationWait(z); return nil }); err != nil {
		t.Fatal(err)
	}
	if forY, _, _, all = view(); !slices.Equal(forY, []RelationWait{x1}) || all != 1 {
		t.Fatalf("after deleting Z's wait: for Y %+v, %d in all", forY, all)
	}
	for _, bad := range []RelationWait{{Name: "", Twin: "X", Kind: "blocks"}, {Name: "a\x00b", Twin: "X", Kind: "blocks"}, {Name: "t/Y", Twin: "Q", Kind: "blocks"}} {
		if err := s.Update(ctx, func(tx *Tx) error { return tx.SetRelationWaits("X", []RelationWait{bad}) }); err == nil {
			t.Errorf("wait %+v was stored", bad)
		}
	}
}
