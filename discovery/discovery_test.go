package discovery

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/store"
)

// fakePeers is the node's peers as a test double.
type fakePeers struct {
	mu         sync.Mutex
	remembered map[peer.ID][]string
}

func (f *fakePeers) Remembered() map[peer.ID][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[peer.ID][]string{}
	for id, a := range f.remembered {
		out[id] = slices.Clone(a)
	}
	return out
}

func (f *fakePeers) Remember(id peer.ID, addrs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remembered[id] = slices.Clone(addrs)
}

func (f *fakePeers) Retry(peer.ID) {}

func newID(t *testing.T) peer.ID {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func addrs(t *testing.T, ss ...string) []ma.Multiaddr {
	t.Helper()
	out := make([]ma.Multiaddr, len(ss))
	for i, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a
	}
	return out
}

// LearnAddrs remembers an allowlisted peer's new addresses, newest first,
// in the store and with the node's peers; known addresses cause no write,
// and a peer that is not stored (removed meanwhile) is left alone.
func TestLearnAddrs(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	known, gone := newID(t), newID(t)
	old := "/ip4/192.0.2.1/tcp/4001"
	if err := st.Update(ctx, func(tx *store.Tx) error { return tx.PutPeer(store.Peer{ID: known.String(), Addrs: []string{old}}) }); err != nil {
		t.Fatal(err)
	}
	peers := &fakePeers{remembered: map[peer.ID][]string{known: {old}}}
	d := New(Config{Store: st, Allow: p2p.NewAllowlist(known), Self: newID(t), Peers: peers})

	for _, tt := range []struct {
		name      string
		id        peer.ID
		announced []string
		want      []string // the stored addresses afterwards; nil: no record
	}{
		{"new address first", known, []string{"/ip4/192.0.2.2/tcp/4001", old}, []string{"/ip4/192.0.2.2/tcp/4001", old}},
		{"nothing new", known, []string{old}, []string{"/ip4/192.0.2.2/tcp/4001", old}},
		{"unspecified only", known, []string{"/ip4/0.0.0.0/tcp/1"}, []string{"/ip4/192.0.2.2/tcp/4001", old}},
		{"removed peer", gone, []string{"/ip4/192.0.2.9/tcp/4001"}, nil},
	} {
		d.LearnAddrs(ctx, tt.id, addrs(t, tt.announced...), nil)
		var p store.Peer
		err := st.View(func(tx *store.Tx) (err error) { p, err = tx.GetPeer(tt.id.String()); return })
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("%s: a record was written: %+v", tt.name, p)
		case tt.want != nil && (err != nil || !slices.Equal(p.Addrs, tt.want)):
			t.Errorf("%s: stored %v, %v; want %v", tt.name, p.Addrs, err, tt.want)
		case tt.want != nil && !slices.Equal(peers.Remembered()[tt.id], tt.want):
			t.Errorf("%s: the node's peers remember %v, want %v", tt.name, peers.Remembered()[tt.id], tt.want)
		}
	}
}

// RelayCandidates offers the peers with a usable direct address, without
// their relayed addresses; before the host runs, from what is remembered.
func TestRelayCandidates(t *testing.T) {
	direct, relayedOnly := newID(t), newID(t)
	peers := &fakePeers{remembered: map[peer.ID][]string{
		direct:      {"/ip4/192.0.2.1/tcp/4001", "/ip4/192.0.2.7/tcp/4001/p2p/" + relayedOnly.String() + "/p2p-circuit"},
		relayedOnly: {"/ip4/192.0.2.7/tcp/4001/p2p/" + direct.String() + "/p2p-circuit"},
	}}
	d := New(Config{Self: newID(t), Peers: peers})
	got := d.RelayCandidates()
	if len(got) != 1 || got[0].ID != direct {
		t.Fatalf("candidates %v, want only %s", got, direct)
	}
	if len(got[0].Addrs) != 1 || got[0].Addrs[0].String() != "/ip4/192.0.2.1/tcp/4001" {
		t.Fatalf("candidate addresses %v, want the direct one only", got[0].Addrs)
	}
}
