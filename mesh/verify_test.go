package mesh

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// A former member's events count (by catch-up) only for what it wrote
// while a member; gossip takes current members' only.
func TestMemberAuthorOK(t *testing.T) {
	at := func(ms int64) replica.Clock { return replica.Clock{Wall: ms, Peer: "x"} }
	rec := &store.Network{Members: map[string]*store.Member{
		"joined": {ID: "joined", State: replica.Value{S: replica.MemberJoined, Clock: at(100)}},
		"left":   {ID: "left", State: replica.Value{S: replica.MemberLeft, Clock: at(200)}},
	}}
	ev := func(origin string, clock int64) *replica.Event {
		e := &replica.Event{Origin: origin}
		e.Replica.Set(replica.FieldSummary, replica.Value{S: "s", Clock: at(clock)})
		return e
	}
	for _, tt := range []struct {
		name    string
		ev      *replica.Event
		catchUp bool
		want    bool
	}{
		{"current member, gossip", ev("joined", 500), false, true},
		{"former member, gossip", ev("left", 150), false, false},
		{"former member before it left, catch-up", ev("left", 150), true, true},
		{"former member after it left, catch-up", ev("left", 250), true, false},
		{"stranger, catch-up", ev("stranger", 50), true, false},
	} {
		if got := memberAuthorOK(rec, tt.ev, tt.catchUp); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Catch-up serves signed envelopes only: this node's own events archived
// bare (by an older version) are signed now; other authors' are left out.
func TestServableSignsOnlyOwnLegacyFrames(t *testing.T) {
	a, other := newKeyedMesh(t), newKeyedMesh(t)
	bare := []byte("a bare event frame")
	env, err := a.servable(a.self.String(), bare)
	if err != nil {
		t.Fatal(err)
	}
	frame, sig, err := p2p.OpenEvent(env)
	if err != nil || string(frame) != string(bare) || p2p.VerifyEvent(a.self, frame, sig) != nil {
		t.Fatalf("own bare frame served as %q, %v", env, err)
	}
	if again, err := a.servable(other.self.String(), env); err != nil || string(again) != string(env) {
		t.Fatalf("an envelope is served as it is: %v", err)
	}
	if _, err := a.servable(other.self.String(), bare); err == nil {
		t.Fatal("another author's bare frame is served")
	}
}

// newKeyedMesh is a Mesh with an identity and nothing else.
func newKeyedMesh(t *testing.T) *Mesh {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Key: key, Self: self})
}

// A member's answer cannot mark as held events that do not exist: a mark
// above what it served and what the asker had is cut down.
func TestCapMarks(t *testing.T) {
	had := map[string]uint64{"b": 40, "c": 7}
	seen := map[string]uint64{"b": 50}
	got := capMarks(map[string]uint64{"b": 1 << 40, "c": 7, "d": 9}, had, seen)
	want := map[string]uint64{"b": 50, "c": 7, "d": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mark of %s: %d, want %d", k, got[k], v)
		}
	}
	if got := capMarks(map[string]uint64{"b": 48}, had, seen); got["b"] != 48 {
		t.Errorf("an honest mark was cut to %d", got["b"])
	}
}
