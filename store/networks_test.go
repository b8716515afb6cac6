package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
)

func netEvent(author, twin string, seq uint64) (*replica.Event, []byte) {
	ev := event(twin, fmt.Sprintf("%s-%d", author, seq))
	ev.Origin, ev.Seq, ev.Net = author, seq, "n1"
	b, err := replica.MarshalEvent(ev)
	if err != nil {
		panic(err)
	}
	return ev, b
}

// The archive keeps the newest event per author and twin, lists membership
// events first, and the complete mark of an author moves over every event
// received without a gap.
func TestNetArchiveAndMarks(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	type in struct {
		author, twin string
		seq          uint64
		kept         bool
	}
	steps := []in{
		{"a", "t1", 1, true},
		{"a", "t2", 2, true},
		{"a", "t1", 4, true},  // replaces a/1
		{"a", "t1", 3, false}, // older than a/4: dropped
		{"b", "member:x", 1, true},
		{"b", "t1", 2, true},
	}
	for _, st := range steps {
		err := s.Update(ctx, func(tx *Tx) error {
			ev, frame := netEvent(st.author, st.twin, st.seq)
			if dup, err := tx.ReceiveNet("net:n1/"+st.author, st.seq); err != nil || dup {
				return fmt.Errorf("receive %+v: dup %v, %w", st, dup, err)
			}
			kept, err := tx.ArchiveNet("n1", ev, frame)
			if err == nil && kept != st.kept {
				err = fmt.Errorf("%+v: kept %v", st, kept)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.Update(ctx, func(tx *Tx) error {
		if dup, _ := tx.ReceiveNet("net:n1/a", 4); !dup {
			t.Error("a/4 received twice is not a duplicate")
		}
		es, more, err := tx.NetArchive("n1", "member:", map[string]uint64{"b": 1}, 100)
		if err != nil {
			return err
		}
		var got []string
		for _, e := range es {
			got = append(got, fmt.Sprintf("%s/%d", e.Author, e.Seq))
		}
		if want := []string{"a/2", "a/4", "b/2"}; more || !slices.Equal(got, want) {
			t.Errorf("archive after b/1: %v (more %v), want %v", got, more, want)
		}
		es, _, _ = tx.NetArchive("n1", "member:", nil, 100)
		if len(es) != 4 || es[0].Twin != "member:x" {
			t.Errorf("archive: %+v, want the membership event first", es)
		}
		if _, err := tx.NetFrame("n1", "a", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("a/1 still archived: %v", err)
		}
		// a: 1..4 all received, so the mark moves to 4; b: 1, 2.
		for author, want := range map[string]uint64{"a": 4, "b": 2} {
			if m, err := tx.SetNetMark("n1", author, "net:n1/"+author, 0); err != nil || m != want {
				t.Errorf("mark of %s: %d (%v), want %d", author, m, err, want)
			}
		}
		// Raising a mark past a gap (as a catch-up answer does) keeps it.
		if m, _ := tx.SetNetMark("n1", "c", "net:n1/c", 7); m != 7 {
			t.Errorf("mark of c: %d, want 7", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *Tx) error { // scans see committed writes
		marks, err := tx.NetMarks("n1")
		if err != nil || len(marks) != 3 || marks["a"] != 4 || marks["c"] != 7 {
			t.Errorf("marks %v (%v)", marks, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
