package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
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
	if code := api(t, tn.Node, "GET", "/v1/errors", nil, &bs); code != http.StatusOK {
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
	waitFor(t, 10*time.Second, "B has A's issue", func() bool {
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
	a.wakeSender(b.ID())
	waitFor(t, 10*time.Second, "B refused the event and A has the failed ack", func() bool {
		return hasRefusal(t, b, twin) && a.count(t, "o/") == 0
	})
	if got := b.get(t, onB.Key).Summary; got != "on time" {
		t.Fatalf("B applied the 2100 event: summary %q", got)
	}
	var st Status
	api(t, b.Node, "GET", "/v1/status", nil, &st)
	if st.Refused < 1 {
		t.Errorf("B's status counts %d refused events", st.Refused)
	}
	var aerrs []store.Blocked
	api(t, a.Node, "GET", "/v1/errors", nil, &aerrs)
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
	waitFor(t, 10*time.Second, "A's real edit reached B", func() bool { return b.get(t, onB.Key).Summary == "real edit" })
}
