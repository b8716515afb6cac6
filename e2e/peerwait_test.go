package e2e

import (
	"strings"
	"testing"
)

// peer add --wait returns once the first sync is acked: the peer has every
// issue by then, and nothing is pending. On a stopped node it says why it
// cannot wait, and the peer stays added.
func TestPeerAddWaitsForFirstSync(t *testing.T) {
	const n = 40
	a, b := newNode(t, "alice"), newNode(t, "bob")
	for i := range n {
		a.mustCLI("issue", "create", "--summary", "first sync "+itoa(i))
	}
	b.start()
	out, err := a.cli("peer", "add", b.addr(), "--name", "bob", "--wait")
	if err == nil || !strings.Contains(err.Error(), "the node is not running") || !strings.Contains(out, "added peer") {
		t.Fatalf("peer add --wait on a stopped node: %v: %s", err, out)
	}
	// Paused, nothing reaches bob: the wait gives up, naming what is pending.
	a.mustCLI("pause", "bob")
	a.start()
	b.mustCLI("peer", "add", a.addr(), "--name", "alice")
	out, err = a.cli("peer", "add", b.addr(), "--name", "bob", "--wait", "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "still pending after 2s") {
		t.Fatalf("peer add --wait to a paused peer: %v: %s", err, out)
	}
	a.mustCLI("resume", "bob")
	// Added again (harmless), this time waiting until it is all acked.
	out = a.mustCLI("peer", "add", b.addr(), "--name", "bob", "--wait", "--timeout", "2m")
	if !strings.Contains(out, "first sync with bob done") {
		t.Fatalf("peer add --wait: %s", out)
	}
	var st struct{ Pending int }
	if err := a.cliJSON(&st, "status"); err != nil || st.Pending != 0 {
		t.Fatalf("after peer add --wait: pending %d (%v), want 0", st.Pending, err)
	}
	if got := len(b.issues()); got != n {
		t.Fatalf("bob has %d issues right after peer add --wait returned, want %d", got, n)
	}
}
