package store

import (
	"context"
	"testing"
	"time"
)

// A twin blocked several ways has one record per direction and link;
// deleting one leaves the others; a record of the older shape (one per
// twin under b/<twin>) is read with the direction its flags say.
func TestBlockedRecordsPerDirectionAndLink(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	now := time.Now().UTC()
	err := s.Update(ctx, func(tx *Tx) error {
		for _, b := range []Blocked{
			{Twin: "t1", Peer: "b2", Dir: BlockIn, Seq: 4, Error: "rule", Since: now},
			{Twin: "t1", Peer: "c2", Dir: BlockOut, Error: "too big", Since: now.Add(time.Second)},
			{Twin: "t1", Peer: "c2", Dir: BlockAtPeer, Seq: 7, Error: "refused", Since: now.Add(2 * time.Second)},
		} {
			if err := tx.PutBlocked(b); err != nil {
				return err
			}
		}
		// The older shape: one record per twin, direction by flags.
		return tx.setMsg("b/t2", &Blocked{Twin: "t2", Peer: "b2", Outgoing: true, Error: "old", Since: now.Add(3 * time.Second)})
	})
	if err != nil {
		t.Fatal(err)
	}
	var all, t1 []Blocked
	_ = s.View(func(tx *Tx) (err error) {
		if all, err = tx.BlockedTwins(); err != nil {
			return err
		}
		t1, err = tx.BlockedOf("t1")
		return err
	})
	if len(all) != 4 || len(t1) != 3 {
		t.Fatalf("records: all %+v, t1 %+v", all, t1)
	}
	if all[1].Dir != BlockOut || !all[1].Outgoing || all[2].Dir != BlockAtPeer || !all[2].Remote || all[3].Dir != BlockOut || all[3].Twin != "t2" {
		t.Fatalf("directions: %+v", all)
	}
	err = s.Update(ctx, func(tx *Tx) error {
		tx.DeleteBlocked("t1", BlockOut, "c2")
		tx.DeleteBlocked("t2", BlockOut, "b2")
		tx.DeleteBlocked("t1", BlockIn, "c2") // none: nothing happens
		return tx.PutBlocked(Blocked{Twin: "t/x", Peer: "p", Dir: BlockIn})
	})
	if err == nil {
		t.Fatal("a twin ID with '/' was stored")
	}
	_ = s.Update(ctx, func(tx *Tx) error {
		tx.DeleteBlocked("t1", BlockOut, "c2")
		tx.DeleteBlocked("t2", BlockOut, "b2")
		return nil
	})
	_ = s.View(func(tx *Tx) (err error) { all, err = tx.BlockedTwins(); return })
	if len(all) != 2 || all[0].Dir != BlockIn || all[1].Dir != BlockAtPeer {
		t.Fatalf("after deleting two: %+v", all)
	}
	_ = s.View(func(tx *Tx) error {
		if _, err := tx.GetBlocked("t1", BlockIn, "b2"); err != nil {
			t.Errorf("get: %v", err)
		}
		if _, err := tx.GetBlocked("t1", BlockIn, "c2"); err == nil {
			t.Error("got a record that is not there")
		}
		return nil
	})
}
