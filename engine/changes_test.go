package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/store"
)

// records is the twin's history of the issue with key at n.
func (n *testNode) records(t *testing.T, key string) []store.Record {
	t.Helper()
	var out []store.Record
	err := n.st.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		out, err = tx.History(tw.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// last is the newest record of rs with that direction and outcome.
func last(rs []store.Record, dir string, what Outcome) (store.Record, bool) {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Dir == dir && rs[i].What == string(what) {
			return rs[i], true
		}
	}
	return store.Record{}, false
}

// change is the change of field in r.
func change(r store.Record, field string) (store.Change, bool) {
	for _, c := range r.Changes {
		if c.Field == field {
			return c, true
		}
	}
	return store.Change{}, false
}

// The history keeps each changed field's old and new values, on the queued
// record here and the applied record at the peer, cut to store.ChangeMax;
// the queued record keeps the tracker's change time the trigger saw.
func TestHistoryKeepsOldAndNewValues(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("é", store.ChangeMax+50)
	cases := []struct {
		name, old, new, wantNew string
		truncated               bool
	}{
		{"short", "first", "second", "second", false},
		{"long", "first", long, strings.Repeat("é", store.ChangeMax) + "…", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemNet(t, "a", "b")
			a, b := m.nodes[0], m.nodes[1]
			is := a.create(t, tc.old)
			m.settle(ctx)
			onB, ok := b.bySummary(t, tc.old)
			if !ok {
				t.Fatal("the issue did not reach B")
			}
			a.edit(t, is.Key, tc.new)
			edited, err := a.tr.Tracker.Get(ctx, is.Key)
			if err != nil {
				t.Fatal(err)
			}
			m.settle(ctx)

			q, ok := last(a.records(t, is.Key), "out", Queued)
			if !ok {
				t.Fatal("A recorded no queued event")
			}
			c, ok := change(q, "summary")
			if !ok || c.Old != tc.old || c.New != tc.wantNew || c.Truncated != tc.truncated {
				t.Fatalf("A's queued record: change %+v (found %v), want %q -> %q truncated %v", c, ok, tc.old, tc.wantNew, tc.truncated)
			}
			if !q.Changed.Equal(edited.Updated) || q.Changed.IsZero() {
				t.Fatalf("A's queued record: tracker change at %v, want the issue's updated time %v", q.Changed, edited.Updated)
			}
			ack, ok := last(a.records(t, is.Key), "out", AckApplied)
			if !ok || ack.Seq != q.Seq {
				t.Fatalf("A's ack record %+v (found %v), want seq %d", ack, ok, q.Seq)
			}
			if d, ok := store.ChangeToAck(q, ack); !ok || d < 0 {
				t.Fatalf("change to ack: %v (%v)", d, ok)
			}

			ap, ok := last(b.records(t, onB.Key), "in", Applied)
			if !ok {
				t.Fatal("B recorded no applied event")
			}
			if c, ok := change(ap, "summary"); !ok || c.Old != tc.old || c.New != tc.wantNew || c.Truncated != tc.truncated {
				t.Fatalf("B's applied record: change %+v (found %v), want %q -> %q", c, ok, tc.old, tc.wantNew)
			}
		})
	}
}
