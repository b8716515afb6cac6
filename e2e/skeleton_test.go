package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestTwoNodesSyncBothWays runs two real nodes and drives them through the
// command-line contract: an issue created on A appears on B with every core
// field; B's edit and comment come back to A; both sides show the twin link.
func TestTwoNodesSyncBothWays(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)

	keyA := a.mustCLI("issue", "create", "--summary", "Login page returns 500",
		"--description", "Since the deploy at 10:00", "--priority", "High", "--label", "web", "--label", "bug")
	keyA = trim(keyA)
	a.mustCLI("issue", "comment", keyA, "--author", "alice", "--body", "Seen in the EU region only")
	a.mustCLI("issue", "comment", keyA, "--author", "alice", "--body", "our on-call notes", "--internal")

	var onB issue
	testutil.WaitFor(t, 10*time.Second, "the issue is on B with its comment", func() bool {
		is, ok := b.findBySummary("Login page returns 500")
		onB = is
		return ok && len(is.Comments) == 1
	})
	if onB.Description != "Since the deploy at 10:00" || onB.Priority != "High" || onB.Status != "Open" ||
		!slices.Equal(onB.Labels, []string{"bug", "web"}) {
		t.Fatalf("issue on B differs from A's: %+v", onB)
	}
	if onB.Comments[0].Body != "Seen in the EU region only" || onB.Comments[0].Author != "alice (alice)" {
		t.Fatalf("comment on B: %+v", onB.Comments[0])
	}

	b.mustCLI("issue", "edit", onB.Key, "--status", "Resolved", "--label", "bug")
	b.mustCLI("issue", "comment", onB.Key, "--author", "bob", "--body", "Rolled back; fixed")
	testutil.WaitFor(t, 10*time.Second, "B's status, labels and comment are on A", func() bool {
		is, err := a.issue(keyA)
		return err == nil && is.Status == "Resolved" && slices.Equal(is.Labels, []string{"bug"}) && len(is.Comments) == 3
	})
	onA, _ := a.issue(keyA)
	if got := onA.Comments[2]; got.Body != "Rolled back; fixed" || got.Author != "bob (bob)" {
		t.Fatalf("B's comment on A: %+v", got)
	}

	// The twin link, as `issue list --json` shows it, on both sides.
	testutil.WaitFor(t, 10*time.Second, "both sides show the twin link", func() bool {
		la, lb := a.issues(), b.issues()
		return len(la) == 1 && len(lb) == 1 &&
			len(la[0].Twins) == 1 && la[0].Twins[0].Key == lb[0].Key && la[0].Twins[0].Peer == b.peerID() &&
			len(lb[0].Twins) == 1 && lb[0].Twins[0].Key == la[0].Key && lb[0].Twins[0].Peer == a.peerID() &&
			la[0].Twin == lb[0].Twin && la[0].Twin != ""
	})

	// Nothing is left in either queue, and the internal comment never left A.
	for _, p := range []*proc{a, b} {
		var st struct {
			Pending, Incoming, Blocked int
		}
		testutil.WaitFor(t, 10*time.Second, p.name+"'s queues are empty", func() bool {
			return p.cliJSON(&st, "status") == nil && st.Pending == 0 && st.Incoming == 0 && st.Blocked == 0
		})
	}
	final, _ := b.issue(onB.Key)
	for _, c := range final.Comments {
		if c.Body == "our on-call notes" {
			t.Fatal("an internal comment left node A")
		}
	}
}

// TestRestartKeepsIdentityAndCatchesUp stops B, changes an issue on A and
// creates one while B is down, and checks that B, restarted with the same
// peer ID, receives both without anyone re-adding peers.
func TestRestartKeepsIdentityAndCatchesUp(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)
	idB := b.peerID()
	k1 := trim(a.mustCLI("issue", "create", "--summary", "first"))
	testutil.WaitFor(t, 10*time.Second, "first is on B", func() bool { _, ok := b.findBySummary("first"); return ok })

	b.stop()
	a.mustCLI("issue", "edit", k1, "--status", "Closed")
	a.mustCLI("issue", "create", "--summary", "second")
	// Issues created on B while it is down are shared when it starts.
	b.mustCLI("issue", "create", "--summary", "made offline on B")
	b.start()
	if got := b.peerID(); got != idB {
		t.Fatalf("B's peer ID changed across a restart: %s then %s", idB, got)
	}
	testutil.WaitFor(t, 15*time.Second, "B caught up and A got B's offline issue", func() bool {
		first, ok1 := b.findBySummary("first")
		_, ok2 := b.findBySummary("second")
		_, ok3 := a.findBySummary("made offline on B")
		return ok1 && ok2 && ok3 && first.Status == "Closed"
	})
	if n := len(b.issues()); n != 3 {
		t.Fatalf("B has %d issues, want 3", n)
	}
}

func trim(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
