package node

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// year2100 is a field clock far in the future (DESIGN 5.10).
func year2100(peer string) replica.Clock {
	return replica.Clock{Wall: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Peer: peer}
}

// hasRefusal reports whether tn's errors list a refused event of twin whose
// error names the clock.
func hasRefusal(t *testing.T, tn *testNode, twin string) bool {
	t.Helper()
	var bs []store.Blocked
	if code := adminCall(t, tn.Node, "GET", "/v1/errors", nil, &bs); code != http.StatusOK {
		t.Fatalf("errors: HTTP %d", code)
	}
	for _, b := range bs {
		if b.Dir == DirRefused && b.Twin == twin && strings.Contains(b.Error, "2100-01-01") && strings.Contains(b.Error, "max_clock_skew") {
			return true
		}
	}
	return false
}

// TestClockAheadRefusedDirect: a peer sends an event whose summary clock is
// in 2100 over the replica protocol. The receiver refuses it: its issue
// keeps its value, its errors and status show the refusal, and the
// sender's errors show the failed ack. The sender's next real edit then
// crosses (a 2100 clock applied would win the field against it).
func TestClockAheadRefusedDirect(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "on time", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	var onB adapters.Issue
	testutil.WaitFor(t, 10*time.Second, "B has A's issue", func() bool {
		var ok bool
		onB, ok = b.issueBySummary(t, "on time")
		return ok && a.count(t, "o/") == 0
	})

	// A hostile (or clock-broken) sender: an event of the twin whose
	// summary is clocked in 2100, in A's outgoing log to B.
	var twin string
	err = a.store.Update(ctx, func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(is.Key)
		if err != nil {
			return err
		}
		twin = tw.ID
		ev := replica.Event{V: replica.Version, ID: newID(), Twin: tw.ID, Origin: a.ID().String(), SourceKey: is.Key, Sent: time.Now().UnixNano()}
		ev.Replica.Set(replica.FieldSummary, replica.Value{S: "from 2100", Clock: year2100(a.ID().String())})
		_, err = tx.Append(b.ID().String(), &ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a.peer(b.ID()).kickSend()
	testutil.WaitFor(t, 10*time.Second, "B refused the event and A has the failed ack", func() bool {
		return hasRefusal(t, b, twin) && a.count(t, "o/") == 0
	})
	if got := b.get(t, onB.Key).Summary; got != "on time" {
		t.Fatalf("B applied the 2100 event: summary %q", got)
	}
	var st Status
	adminCall(t, b.Node, "GET", "/v1/status", nil, &st)
	if st.Refused < 1 {
		t.Errorf("B's status counts %d refused events", st.Refused)
	}
	var aerrs []store.Blocked
	adminCall(t, a.Node, "GET", "/v1/errors", nil, &aerrs)
	found := false
	for _, e := range aerrs {
		found = found || (e.Twin == twin && e.Dir == store.BlockAtPeer && strings.Contains(e.Error, "max_clock_skew"))
	}
	if !found {
		t.Errorf("A's errors do not show B's refusal: %+v", aerrs)
	}

	// A real edit on A crosses.
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Summary: ptr("real edit")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A's real edit reached B", func() bool { return b.get(t, onB.Key).Summary == "real edit" })
}

// TestClockAheadRefusedNetwork: a member's event whose summary clock is in
// 2100 (signed by its author, so only its clock is wrong) reaches the other
// member by catch-up (A's publisher does not gossip it: its own validator
// would refuse it) and, handed to B's topic validator as A's gossipsub
// message, by gossip. Both refuse it with a notice in errors; the issue
// keeps its value, the author's errors show B's refusal (reported with
// B's next catch-up request), and the author's next real edit crosses.
func TestClockAheadRefusedNetwork(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{NetSyncInterval: 300 * time.Millisecond})
	netID := newNetwork(t, "team", a, b)
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "on time", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	var onB adapters.Issue
	testutil.WaitFor(t, 15*time.Second, "B has A's issue", func() bool {
		var ok bool
		onB, ok = b.issueBySummary(t, "on time")
		return ok
	})
	var seq uint64
	err = a.store.Update(ctx, func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(is.Key)
		if err != nil {
			return err
		}
		ev := replica.Event{V: replica.Version, ID: newID(), Twin: tw.ID, Origin: a.ID().String(), SourceKey: is.Key, Sent: time.Now().UnixNano()}
		ev.Replica.Set(replica.FieldSummary, replica.Value{S: "from 2100", Clock: year2100(a.ID().String())})
		seq, err = a.mesh.Append(tx, netLink(netID), nil, &ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a.wakeLink(netLink(netID))
	isRefusal := func(r store.Blocked) bool {
		return r.Peer == netLink(netID) && strings.Contains(r.Error, "2100-01-01") && strings.Contains(r.Error, "max_clock_skew")
	}
	testutil.WaitFor(t, 15*time.Second, "B refused the 2100 event served by catch-up", func() bool {
		if b.get(t, onB.Key).Summary == "from 2100" {
			t.Fatal("B applied the 2100 event")
		}
		return slices.ContainsFunc(b.refused.notices(), isRefusal)
	})
	// The author learns of it by B's next catch-up request.
	testutil.WaitFor(t, 15*time.Second, "A's errors show that B refused its event", func() bool {
		return slices.ContainsFunc(a.refused.notices(), func(r store.Blocked) bool {
			return r.Seq == seq && strings.Contains(r.Error, "member "+b.ID().String()+" refused this node's event") && strings.Contains(r.Error, "2100-01-01")
		})
	})
	// Gossip: B's topic validator, given the event as A's gossipsub
	// message, refuses it the same way (A does not publish it: its own
	// validator would refuse it too).
	var env []byte
	if err := a.store.View(func(tx *store.Tx) (err error) { env, err = tx.NetFrame(netID, a.ID().String(), seq); return }); err != nil {
		t.Fatal(err)
	}
	before := len(b.refused.notices())
	from := []byte(a.ID())
	res := b.mesh.Validator(netID)(ctx, a.ID(), &pubsub.Message{Message: &pb.Message{From: from, Data: env}})
	if res != pubsub.ValidationIgnore || len(b.refused.notices()) != before+1 || !isRefusal(b.refused.notices()[before]) {
		t.Fatalf("B's validator: %v, notices %+v", res, b.refused.notices()[before:])
	}
	var errs []store.Blocked
	adminCall(t, b.Node, "GET", "/v1/errors", nil, &errs)
	found := false
	for _, e := range errs {
		found = found || (e.Dir == DirRefused && strings.Contains(e.Error, "2100-01-01"))
	}
	if !found {
		t.Errorf("B's errors do not show the refusal: %+v", errs)
	}
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Summary: ptr("real edit")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "A's real edit reached B", func() bool { return b.get(t, onB.Key).Summary == "real edit" })
}
