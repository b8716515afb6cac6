package node

import (
	"context"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// The errors the admin API lists carry the peer's side of a blocked twin:
// its key there and the replica both sides last agreed on, for a peer's
// link and for one author of a network.
func TestPeerSidesFromTheTwinRecord(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var agreed replica.Replica
	agreed.Set("summary", replica.Value{S: "Printer jammed"})
	agreed.Set("labels", replica.Value{L: []string{"hw", "urgent"}})
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		tw := &store.Twin{ID: "t1", LocalKey: "LOCAL-1"}
		l := tw.Link("12D3KooWpeer")
		l.RemoteKey, l.Agreed = "REMOTE-9", agreed
		nl := tw.Link("net:n1")
		nl.Agreed = agreed
		nl.SetKey("12D3KooWauthor", "THEIRS-4")
		return tx.PutTwin(tw)
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ peer, wantKey string }{
		{"12D3KooWpeer", "REMOTE-9"},
		{"net:n1/12D3KooWauthor", "THEIRS-4"},
	}
	for _, tc := range cases {
		bs := []store.Blocked{{Twin: "t1", LocalKey: "LOCAL-1", Peer: tc.peer}, {Twin: "unknown", Peer: tc.peer}}
		if err := st.View(func(tx *store.Tx) error { peerSides(tx, bs); return nil }); err != nil {
			t.Fatal(err)
		}
		if b := bs[0]; b.PeerKey != tc.wantKey || b.Agreed["summary"] != "Printer jammed" || b.Agreed["labels"] != "hw, urgent" {
			t.Errorf("%s: peer key %q, agreed %v; want %q and the agreed fields", tc.peer, b.PeerKey, b.Agreed, tc.wantKey)
		}
		if bs[1].PeerKey != "" || bs[1].Agreed != nil {
			t.Errorf("%s: a twin not linked here got a peer side: %+v", tc.peer, bs[1])
		}
	}
}
