package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/store"
)

// A batch of acks too big for one sync-log transaction (a first sync's
// thousands, received together) is recorded in parts, twin by twin. Before,
// recording it failed every time ("Txn is too big to fit into one
// request"): the events were sent again, acked again in the same batch,
// and the link stopped for good.
func TestRecordAcksTooBigForOneTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: shares 3,000 issues")
	}
	ctx := context.Background()
	m := newMemNet(t, "a", "b")
	a, b := m.nodes[0], m.nodes[1]
	const n = 3000
	buf := make([]byte, 1500)
	for i := range n {
		_, _ = rand.Read(buf) // does not compress: each twin's record stays big
		if _, err := a.tr.Tracker.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("big %d", i), Status: "Open", Description: hex.EncodeToString(buf)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.eng.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.count(t, "o/"); got != n {
		t.Fatalf("%d events queued for B, want %d", got, n)
	}
	fresh, acks := m.deliver(ctx, a, b) // records every ack in one RecordAcks call
	if fresh != n || len(acks) != n {
		t.Fatalf("B received %d new events and answered %d, want %d", fresh, len(acks), n)
	}
	if got := a.count(t, "o/"); got != 0 {
		t.Fatalf("%d events still queued for B after their acks", got)
	}
	// Every twin on A has B's key of its issue.
	for _, key := range []string{"big 0", fmt.Sprintf("big %d", n/2), fmt.Sprintf("big %d", n-1)} {
		is, ok := a.bySummary(t, key)
		if !ok {
			t.Fatalf("no issue %q on A", key)
		}
		onB, ok := b.bySummary(t, key)
		if !ok {
			t.Fatalf("no issue %q on B", key)
		}
		if got := a.remoteKey(t, is.Key, b); got != onB.Key {
			t.Errorf("A's twin of %s has B's key %q, want %q", is.Key, got, onB.Key)
		}
	}
}

// remoteKey is the peer's key of the issue in A's twin of key.
func (n *testNode) remoteKey(t *testing.T, key string, peer *testNode) string {
	t.Helper()
	var remote string
	err := n.st.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err == nil && tw.Links[peer.id] != nil {
			remote = tw.Links[peer.id].RemoteKey
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return remote
}
