package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func event(twin string, body string) *replica.Event {
	var r replica.Replica
	r.Set(replica.FieldSummary, replica.Value{S: body, Clock: replica.Clock{Wall: 1, Peer: "p"}})
	return &replica.Event{V: replica.Version, ID: "e-" + body, Twin: twin, Origin: "origin", Replica: r}
}

func TestAppendPendingAckOrder(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	for i := range 10 {
		err := s.Update(ctx, func(tx *Tx) error {
			_, err := tx.Append("peerA", event("t", fmt.Sprint(i)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var es []OutEntry
	s.View(func(tx *Tx) (err error) { es, err = tx.PendingOut("peerA", 3, 100); return })
	if len(es) != 7 || es[0].Seq != 4 || es[6].Seq != 10 {
		t.Fatalf("pending after 3: %+v", es)
	}
	s.Update(ctx, func(tx *Tx) error { tx.DeleteOut("peerA", 1); tx.DeleteOut("peerA", 2); return nil })
	var stats map[string]*QueueStat
	s.View(func(tx *Tx) (err error) { stats, err = tx.QueueStats(); return })
	if stats["peerA"].Pending != 8 {
		t.Fatalf("queue stats %+v", stats["peerA"])
	}
	// Another peer's log is separate, and prefixes of peer names do not mix.
	s.Update(ctx, func(tx *Tx) error { _, err := tx.Append("peerAB", event("t", "x")); return err })
	s.View(func(tx *Tx) (err error) { es, err = tx.PendingOut("peerA", 0, 100); return })
	if len(es) != 8 {
		t.Fatalf("peerA has %d pending, want 8", len(es))
	}
}

// A failed update leaves no trace, even when it wrote before failing and
// shares its batch with successful updates.
func TestFailedUpdateLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	var wg sync.WaitGroup
	boom := errors.New("boom")
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx *Tx) error {
				tx.SetCursor(fmt.Sprintf("k%02d", i), "v")
				if i%2 == 1 {
					return boom
				}
				return nil
			})
			if (i%2 == 1) != errors.Is(err, boom) {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	s.View(func(tx *Tx) error {
		for i := range 50 {
			v, _ := tx.Cursor(fmt.Sprintf("k%02d", i))
			if (v == "v") != (i%2 == 0) {
				t.Errorf("cursor k%02d = %q", i, v)
			}
		}
		return nil
	})
}

// An update too big for one Badger transaction beside others still commits
// (alone), and the others are not lost.
func TestUpdateTooBigForTheBatch(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	// Small values (under the value-log threshold) count fully toward
	// Badger's batch limit: 20 updates of 6,000 entries cannot share one
	// transaction.
	big := strings.Repeat("x", 200)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx *Tx) error {
				for j := range 6000 {
					tx.SetCursor(fmt.Sprintf("big%02d-%d", i, j), big)
				}
				return nil
			})
			if err != nil {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	n := 0
	s.View(func(tx *Tx) (err error) { n, err = tx.Count("c/big"); return })
	if n != 120000 {
		t.Fatalf("%d cursors written, want 120000", n)
	}
}

func TestReceiveDeduplicatesAndRemembersTheAck(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	frame, _ := replica.MarshalEvent(&replica.Event{V: 1, ID: "e", Twin: "t", Origin: "o", Seq: 5})
	recv := func() (dup bool, ack *replica.Ack) {
		err := s.Update(ctx, func(tx *Tx) (err error) { dup, ack, err = tx.Receive("o", 5, frame); return })
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if dup, _ := recv(); dup {
		t.Fatal("first receive is a duplicate")
	}
	if dup, ack := recv(); !dup || ack != nil {
		t.Fatalf("second receive while pending: dup %v ack %v", dup, ack)
	}
	var in []InEntry
	s.View(func(tx *Tx) (err error) { in, err = tx.PendingIn("o", 0, 10); return })
	if len(in) != 1 || in[0].Seq != 5 {
		t.Fatalf("pending in: %+v", in)
	}
	s.Update(ctx, func(tx *Tx) error {
		return tx.FinishIn("o", 5, replica.Ack{Seq: 5, Twin: "t", Result: replica.ResultApplied, LocalKey: "L-1"})
	})
	if dup, ack := recv(); !dup || ack == nil || ack.LocalKey != "L-1" {
		t.Fatalf("receive after apply: dup %v ack %+v", dup, ack)
	}
	s.View(func(tx *Tx) (err error) { in, err = tx.PendingIn("o", 0, 10); return })
	if len(in) != 0 {
		t.Fatalf("still pending: %+v", in)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	tw := &Twin{ID: "twin", LocalKey: "L-1"}
	for i := range HistoryKeep + 50 {
		err := s.Update(ctx, func(tx *Tx) error {
			if err := tx.AddHistory(tw, Record{What: fmt.Sprint(i)}); err != nil {
				return err
			}
			return tx.PutTwin(tw)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var h []Record
	s.View(func(tx *Tx) (err error) { h, err = tx.History("twin"); return })
	if len(h) != HistoryKeep || h[0].What != "50" || h[len(h)-1].What != fmt.Sprint(HistoryKeep+49) {
		t.Fatalf("history: %d records, first %q last %q", len(h), h[0].What, h[len(h)-1].What)
	}
}

func TestTwinsAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	err := s.Update(ctx, func(tx *Tx) error {
		tw := &Twin{ID: "tw1", LocalKey: "L-7"}
		tw.Link("peer").RemoteKey = "R-3"
		if err := tx.PutPeer(Peer{ID: "peer", Name: "partner", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}}); err != nil {
			return err
		}
		return tx.PutTwin(tw)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	s.View(func(tx *Tx) error {
		tw, err := tx.TwinByKey("L-7")
		if err != nil || tw.Links["peer"].RemoteKey != "R-3" {
			t.Fatalf("twin after reopen: %+v %v", tw, err)
		}
		if _, err := tx.TwinByKey("L-8"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
		ps, err := tx.Peers()
		if err != nil || len(ps) != 1 || ps[0].Name != "partner" {
			t.Fatalf("peers: %+v %v", ps, err)
		}
		return nil
	})
}

func TestUpdateHonoursCancelledContext(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, func(tx *Tx) error { tx.SetCursor("x", "y"); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	v := ""
	s.View(func(tx *Tx) (err error) { v, err = tx.Cursor("x"); return })
	if v != "" {
		t.Fatal("a cancelled update was written")
	}
}

func TestPruneReceivedKeepsPendingAndNewest(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	frame, _ := replica.MarshalEvent(&replica.Event{V: 1, ID: "e", Twin: "t", Origin: "o"})
	s.Update(ctx, func(tx *Tx) error {
		for seq := uint64(1); seq <= 20; seq++ {
			if _, _, err := tx.Receive("o", seq, frame); err != nil {
				return err
			}
			if seq != 3 { // seq 3 is still waiting to be applied
				if err := tx.FinishIn("o", seq, replica.Ack{Seq: seq, Twin: "t", Result: replica.ResultApplied}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	var n int
	s.Update(ctx, func(tx *Tx) (err error) { n, err = tx.PruneReceived("o", 5, 1000); return })
	if n != 15 {
		t.Fatalf("pruned %d, want 15", n)
	}
	s.View(func(tx *Tx) error {
		left, _ := tx.Count("r/o/")
		if left != 5 {
			t.Errorf("%d markers left, want 5", left)
		}
		for _, seq := range []uint64{3, 17, 20} {
			if _, err := tx.get(seqKey("r/", "o", seq)); err != nil {
				t.Errorf("marker %d was pruned", seq)
			}
		}
		return nil
	})
}

// Updates racing with Close (a stream handler finishing while the node
// shuts down) either commit or get ErrClosed; none panics, and Close can be
// called twice.
func TestUpdateDuringClose(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				errs <- s.Update(ctx, func(tx *Tx) error {
					_, err := tx.Append("peer", event(fmt.Sprintf("tw-%d-%d", g, i), "x"))
					return err
				})
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("update during close: %v", err)
		}
	}
	if err := s.Update(ctx, func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("update after close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
