package node

import (
	"bufio"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/mesh"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// forger is a test double: a member of a network (A added it) that is no
// node. It answers every catch-up request with events that claim member
// victim's authorship: an edit of twin and a "victim left". Its first
// answer carries them in envelopes it signs with its own key; later ones
// as bare event frames (what nodes accepted before events were signed).
type forger struct {
	h       host.Host
	key     crypto.PrivKey
	answers atomic.Int32
}

func newForger(t *testing.T, a *testNode) *forger {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.NewHost(p2p.Config{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Allow: p2p.NewAllowlist(a.ID()), Reachability: "private"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &forger{h: h, key: key}
}

// serve answers catch-up with forged events of network netID.
func (f *forger) serve(t *testing.T, netID, victim, twin, key string) {
	f.h.SetStreamHandler(p2p.ProtoNetSync, func(s network.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := replica.ReadFrame(bufio.NewReader(s), mesh.MaxSyncFrame); err != nil {
			s.Reset()
			return
		}
		now := time.Now().UnixMilli()
		edit := replica.Event{V: replica.Version, ID: newID(), Twin: twin, Origin: victim, Seq: 1000, Net: netID, SourceKey: key}
		edit.Replica.Set(replica.FieldSummary, replica.Value{S: "forged", Clock: replica.Clock{Wall: now, Peer: victim}})
		left := replica.Event{V: replica.Version, ID: newID(), Twin: mesh.MemberTwin + victim, Origin: victim, Seq: 1001, Net: netID, Op: replica.OpMember, Member: victim}
		left.Replica.Set(replica.MemberState, replica.Value{S: replica.MemberLeft, Clock: replica.Clock{Wall: now, Peer: victim}})
		signed := f.answers.Add(1) == 1
		var chunk mesh.SyncChunk
		for _, ev := range []*replica.Event{&left, &edit} {
			b, err := replica.MarshalEvent(ev)
			if err != nil {
				t.Error(err)
				return
			}
			if signed {
				if b, err = p2p.SignEvent(f.key, b); err != nil {
					t.Error(err)
					return
				}
			}
			chunk.Events = append(chunk.Events, b)
		}
		for _, c := range []mesh.SyncChunk{chunk, {Done: true}} {
			c.V = mesh.SyncVersion
			b, _ := msgpack.Marshal(&c)
			if err := replica.WriteFrame(s, b); err != nil {
				return
			}
		}
		s.CloseWrite()
	})
}

// TestForgedCatchUpRefused: M, a member of the network whose catch-up
// answers are forged, answers A's catch-up with an edit of B's issue and a
// "B left", both claiming B's authorship (signed by M, then unsigned). A
// refuses them: its issue keeps B's value, B stays a member, B's later
// real edit reaches A by gossip, and M is logged with its peer ID, scored
// down and shown in errors. On a node that trusts catch-up answers, B is
// removed at A and B's later edits never reach A.
func TestForgedCatchUpRefused(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{NetSyncInterval: 300 * time.Millisecond}), startNode(t, "b", Options{})
	netID := newNetwork(t, "team", a, b)
	is, err := b.tracker.Create(ctx, adapters.Issue{Summary: "B's issue", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	var onA adapters.Issue
	testutil.WaitFor(t, 15*time.Second, "A has B's issue", func() bool {
		var ok bool
		onA, ok = a.issueBySummary(t, "B's issue")
		return ok
	})
	var twin string
	if err := b.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(is.Key)
		if err == nil {
			twin = tw.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// A adds M to the network (any member may add one); M's catch-up
	// answers are forged.
	m := newForger(t, a)
	m.serve(t, netID, b.ID().String(), twin, is.Key)
	var addrs []string
	for _, ad := range m.h.Addrs() {
		addrs = append(addrs, ad.String())
	}
	if err := a.mesh.AddMember(ctx, netID, &store.Member{ID: m.h.ID().String(), Name: "mallory", Addrs: addrs}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "A asked M for catch-up three times", func() bool { return m.answers.Load() >= 3 })

	// B's real edit reaches A, and B is still a member there.
	if _, err := b.tracker.Update(ctx, is.Key, adapters.Patch{Summary: ptr("B's real edit")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "B's real edit reached A", func() bool {
		got := a.get(t, onA.Key).Summary
		if got == "forged" {
			t.Fatalf("A applied the forged edit")
		}
		return got == "B's real edit"
	})
	var rec *store.Network
	if err := a.store.View(func(tx *store.Tx) (err error) { rec, err = tx.GetNetwork(netID); return }); err != nil {
		t.Fatal(err)
	}
	if !rec.Member(b.ID().String()).Joined() {
		t.Fatalf("the forged \"B left\" removed B at A: %+v", rec.Member(b.ID().String()))
	}
	if s := a.mesh.Score(m.h.ID()); s >= p2p.GraylistThreshold {
		t.Errorf("M's score at A is %v, want below %v", s, float64(p2p.GraylistThreshold))
	}
	if logs := a.logs.String(); !strings.Contains(logs, "forged event") || !strings.Contains(logs, m.h.ID().String()) {
		t.Errorf("A's log does not name the forger %s", m.h.ID())
	}
	found := false
	for _, r := range a.refused.notices() {
		found = found || (r.Peer == m.h.ID().String() && strings.Contains(r.Error, "forged"))
	}
	if !found {
		t.Errorf("A's errors do not show M's forged answer: %+v", a.refused.notices())
	}
}
