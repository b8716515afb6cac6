package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/issuemesh/issuemesh/replica"
)

// bigTwin is a twin with a description of about 1 KiB of text on each of
// its two replicas, as the benchmarks sync.
func bigTwin(id string) *Twin {
	desc := incompressible(300, 7) + strings.Repeat(" the login page times out", 30)
	tw := &Twin{ID: id, LocalKey: "K-" + id, HistN: 3}
	l := tw.Link("peer")
	l.RemoteKey = "R-" + id
	clk := replica.Clock{Wall: 1, Peer: "p"}
	l.Agreed.Set(replica.FieldDescription, replica.Value{S: desc, Clock: clk})
	l.Baseline.Set(replica.FieldDescription, replica.Value{S: desc})
	return tw
}

// storedTwin returns the bytes stored under t/<id>.
func storedTwin(t *testing.T, s *Store, id string) []byte {
	t.Helper()
	var b []byte
	if err := s.View(func(tx *Tx) (err error) { b, err = tx.get("t/" + id); return }); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTwinStoredCompressed(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	small := &Twin{ID: "small", LocalKey: "K-1"}
	big := bigTwin("big")
	if err := s.Update(t.Context(), func(tx *Tx) error { _ = tx.PutTwin(small); return tx.PutTwin(big) }); err != nil {
		t.Fatal(err)
	}
	if b := storedTwin(t, s, "small"); !reflect.DeepEqual(b, encodeTwin(small)) {
		t.Errorf("a small twin is stored as % x, want its plain encoding", b)
	}
	b, raw := storedTwin(t, s, "big"), encodeTwin(big)
	if b[0] != packedTwin || len(b) > len(raw)*2/3 {
		t.Errorf("the big twin is stored in %d bytes starting %#x; want under 2/3 of its %d-byte encoding, starting %#x", len(b), b[0], len(raw), packedTwin)
	}
	for _, want := range []*Twin{small, big} {
		var got *Twin
		if err := s.View(func(tx *Tx) (err error) { got, err = tx.GetTwin(want.ID); return }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("read back %#v\nwant %#v", got, want)
		}
	}
}

// A home written before compression (twins in their plain encoding, the
// history counter in the twin, no hn/ key) opens and works with this code:
// its twins are read, found by local and remote key, listed, given history
// and stored again (compressed), and their history goes on from where it
// stopped.
func TestTwinsOfAnOldHome(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	var want []*Twin
	err := s.Update(ctx, func(tx *Tx) error {
		for i := range 5 {
			tw := bigTwin(fmt.Sprint("old", i))
			want = append(want, tw)
			// As the code before twinpack.go and histn.go stored a twin.
			tx.set("k/"+tw.LocalKey, []byte(tw.ID))
			tx.set("rk/peer/"+tw.Links["peer"].RemoteKey, []byte(tw.ID))
			tx.set("t/"+tw.ID, encodeTwin(tw))
			for n := uint64(1); n <= tw.HistN; n++ {
				if err := tx.setMsg(histKey(tw.ID, n), &Record{What: fmt.Sprint("old ", n)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	var listed int
	err = s.View(func(tx *Tx) error {
		for _, w := range want {
			byKey, err := tx.TwinByKey(w.LocalKey)
			if err != nil {
				return err
			}
			byRemote, err := tx.TwinByRemoteKey("peer", w.Links["peer"].RemoteKey)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(byKey, w) || !reflect.DeepEqual(byRemote, w) {
				t.Errorf("old twin %s read as %#v / %#v", w.ID, byKey, byRemote)
			}
		}
		return tx.Twins(func(*Twin) error { listed++; return nil })
	})
	if err != nil || listed != len(want) {
		t.Fatalf("listed %d old twins (%v), want %d", listed, err, len(want))
	}
	// An ack's bookkeeping, then a change's.
	addHistory(t, s, "old0", "acked", false)
	addHistory(t, s, "old0", "queued", true)
	if b := storedTwin(t, s, "old0"); b[0] != packedTwin {
		t.Errorf("an old twin stored again starts %#x, want it compressed", b[0])
	}
	if got, want := fmt.Sprint(whats(t, s, "old0")), "[old 1 old 2 old 3 acked queued]"; got != want {
		t.Errorf("history of an old twin %s, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if errs := Verify(dir); len(errs) > 0 {
		t.Fatalf("the home fails verification: %v", errs)
	}
}

func TestDamagedCompressedTwin(t *testing.T) {
	huge := append([]byte{packedTwin}, s2.Encode(nil, make([]byte, 1<<20))...)
	for name, b := range map[string][]byte{
		"truncated":    append([]byte{packedTwin}, s2.Encode(nil, encodeTwin(bigTwin("x")))[:40]...),
		"not S2":       {packedTwin, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3},
		"empty":        {packedTwin},
		"not a twin":   huge,
		"claims 4 GiB": {packedTwin, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		var tw Twin
		if err := unpackTwin(b, &tw); err == nil {
			t.Errorf("%s: a damaged compressed twin decoded without an error", name)
		}
	}
}

// Events are stored compressed and come out of the logs in their wire
// encoding; events a home stored before compression (plain) come out the
// same way.
func TestEventsStoredCompressed(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	desc := incompressible(200, 3) + strings.Repeat(" the login page times out", 30)
	ev := event("tw", "1")
	ev.Replica.Set(replica.FieldSummary, replica.Value{S: desc, Clock: replica.Clock{Wall: 1, Peer: "p"}})
	wire, err := replica.MarshalEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.Append("peer", ev); err != nil {
			return err
		}
		// As the code before compression stored them.
		tx.set(seqKey("o/", "peer", 2), wire)
		tx.set(seqKey("i/", "from", 2), wire)
		tx.set(seqKey("r/", "from", 2), []byte{})
		_, _, err := tx.Receive("from", 1, wire)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := s.View(func(tx *Tx) (err error) { stored, err = tx.get(seqKey("o/", "peer", 1)); return }); err != nil {
		t.Fatal(err)
	}
	if stored[0] != packedMark || len(stored) > len(wire)*3/4 {
		t.Errorf("a queued event of %d bytes is stored in %d starting %#x; want under 3/4, compressed", len(wire), len(stored), stored[0])
	}
	err = s.View(func(tx *Tx) error {
		out, err := tx.PendingOut("peer", 0, 10)
		if err != nil {
			return err
		}
		in, err := tx.PendingIn("from", 0, 10)
		if err != nil {
			return err
		}
		if len(out) != 2 || len(in) != 2 {
			t.Fatalf("%d outgoing and %d incoming events, want 2 each", len(out), len(in))
		}
		for i := range 2 {
			ev.Seq = uint64(i + 1)
			want, _ := replica.MarshalEvent(ev)
			if i == 1 {
				want = wire // stored as it was, with its own seq
			}
			if !reflect.DeepEqual(out[i].Frame, want) {
				t.Errorf("outgoing event %d comes out as %d bytes, not its wire encoding", i+1, len(out[i].Frame))
			}
			if in[i].Event.Replica.Fields[replica.FieldSummary].S != desc {
				t.Errorf("incoming event %d decodes to %q", i+1, in[i].Event.Replica.Fields[replica.FieldSummary].S)
			}
			if got, err := tx.OutEvent("peer", uint64(i+1)); err != nil || got.ID != ev.ID {
				t.Errorf("OutEvent %d: %+v, %v", i+1, got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
