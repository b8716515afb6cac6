package store

import (
	"context"
	"fmt"
	"testing"
)

// addHistory adds one record to the stored twin (read in the update, as
// the engine does) and stores the twin only when put is set.
func addHistory(t *testing.T, s *Store, twin, what string, put bool) {
	t.Helper()
	err := s.Update(context.Background(), func(tx *Tx) error {
		tw, err := tx.GetTwin(twin)
		if err != nil {
			return err
		}
		if err := tx.AddHistory(tw, Record{What: what}); err != nil {
			return err
		}
		if put {
			return tx.PutTwin(tw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func whats(t *testing.T, s *Store, twin string) []string {
	t.Helper()
	var h []Record
	if err := s.View(func(tx *Tx) (err error) { h, err = tx.History(twin); return }); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(h))
	for i, r := range h {
		out[i] = r.What
	}
	return out
}

// A history line added without storing the twin again (an ack of a twin
// whose links did not change) is numbered after the previous one: with the
// counter only in the twin record, the next line took the same number and
// overwrote it.
func TestHistoryWithoutStoringTheTwin(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutTwin(&Twin{ID: "twin", LocalKey: "L-1"}) }); err != nil {
		t.Fatal(err)
	}
	addHistory(t, s, "twin", "queued", true)
	addHistory(t, s, "twin", "acked", false)
	addHistory(t, s, "twin", "queued again", true)
	addHistory(t, s, "twin", "acked again", false)
	if got, want := fmt.Sprint(whats(t, s, "twin")), "[queued acked queued again acked again]"; got != want {
		t.Fatalf("history %s, want %s", got, want)
	}
	// Bounded as before, by the counter under its own key.
	for i := range HistoryKeep {
		addHistory(t, s, "twin", fmt.Sprint(i), i%3 == 0)
	}
	h := whats(t, s, "twin")
	if len(h) != HistoryKeep || h[0] != "0" || h[len(h)-1] != fmt.Sprint(HistoryKeep-1) {
		t.Fatalf("history: %d records, first %q last %q", len(h), h[0], h[len(h)-1])
	}
}

// A home written before hn/ existed (the counter in the twin record only,
// no hn/ key) opens and goes on numbering the history where it stopped,
// trimming the oldest lines it wrote.
func TestHistoryCountOfAnOldHome(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	// The old layout, as the code before hn/ wrote it.
	err := s.Update(ctx, func(tx *Tx) error {
		tw := &Twin{ID: "old", LocalKey: "L-9", HistN: HistoryKeep}
		for n := uint64(1); n <= HistoryKeep; n++ {
			if err := tx.setMsg(histKey(tw.ID, n), &Record{What: fmt.Sprint("old ", n)}); err != nil {
				return err
			}
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
	addHistory(t, s, "old", "new 1", false)
	addHistory(t, s, "old", "new 2", true)
	addHistory(t, s, "old", "new 3", false)
	h := whats(t, s, "old")
	if len(h) != HistoryKeep || h[0] != "old 4" || h[len(h)-3] != "new 1" || h[len(h)-1] != "new 3" {
		t.Fatalf("history of the old twin: %d records, first %q, last three %q", len(h), h[0], h[len(h)-3:])
	}
	var n uint64
	if err := s.View(func(tx *Tx) error {
		tw, err := tx.GetTwin("old")
		if err == nil {
			n, err = tx.historyCount(tw)
		}
		return err
	}); err != nil || n != HistoryKeep+3 {
		t.Fatalf("history count %d (%v), want %d", n, err, HistoryKeep+3)
	}
}
