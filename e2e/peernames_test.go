package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// errors names the peer of a blocked twin by its name in the peer list,
// in text and in --json; and a synced comment shows in the embedded
// tracker as its author wrote it, without any marker.
func TestErrorsNamePeersAndTextsCarryNoMarker(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	b.writeHome("in.star", "issue.summary = replica.summary\nissue.comments = merge_comments(issue, replica)\n"+
		"if replica.summary == \"boom\":\n    issue.summary = replica.summary + 1\n")
	b.appendConfig("connections:\n  alice:\n    incoming: in.star\n")
	a.start()
	b.start()
	pair(a, b)

	ok := trim(a.mustCLI("issue", "create", "--summary", "fine"))
	a.mustCLI("issue", "comment", ok, "--author", "alice", "--body", "as written")
	testutil.WaitFor(t, 20*time.Second, "the comment is on B", func() bool {
		is, found := b.findBySummary("fine")
		return found && len(is.Comments) == 1
	})
	is, _ := b.findBySummary("fine")
	if shown := b.mustCLI("issue", "show", is.Key); strings.Contains(shown, "issuemesh:") || !strings.Contains(shown, "as written") {
		t.Fatalf("B shows the synced comment with a marker, or without its text:\n%s", shown)
	}

	a.mustCLI("issue", "create", "--summary", "boom")
	var errs []struct {
		Peer     string `json:"peer"`
		PeerName string `json:"peer_name"`
	}
	testutil.WaitFor(t, 20*time.Second, "B lists the blocked twin, naming alice", func() bool {
		return b.cliJSON(&errs, "errors") == nil && len(errs) == 1 && errs[0].PeerName == "alice"
	})
	if text := b.mustCLI("errors"); !strings.Contains(text, "events from alice (") {
		t.Fatalf("errors does not name alice:\n%s", text)
	}
}
