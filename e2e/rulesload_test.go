package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// A rule file that breaks while the node runs shows in status and errors
// (text and --json) with its file:line until it is fixed; a connection
// whose trigger does not compile shows from the start. Both through the
// CLI of real processes.
func TestBrokenRuleFileShowsInStatusAndErrors(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.writeHome("out.star", "replica.summary = issue.summary\n")
	a.appendConfig("connections:\n  bob:\n    outgoing: out.star\n  carol:\n    trigger: 'issue.summary =='\n")
	a.start()
	b.start()
	pair(a, b)

	st := a.mustCLI("status")
	if !strings.Contains(st, "rules of connection carol") || !strings.Contains(st, "trigger:1") {
		t.Fatalf("status does not show the broken trigger:\n%s", st)
	}

	a.writeHome("out.star", "replica.summary = issue.summary\nreplica.status = (\n")
	testutil.WaitFor(t, 20*time.Second, "status and errors show the refused rule file", func() bool {
		st, _ := a.cli("status")
		errs, _ := a.cli("errors")
		return strings.Contains(st, "rules of bob") && strings.Contains(st, "out.star:3") &&
			strings.Contains(errs, "out.star:3")
	})
	var js struct {
		RulesErrors []struct {
			Link, Error string
			Running     bool
		} `json:"rules_errors"`
	}
	if err := a.cliJSON(&js, "status"); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, re := range js.RulesErrors {
		if re.Link == b.peerID() && re.Running && strings.Contains(re.Error, "out.star:3") {
			found = true
		}
	}
	if !found {
		t.Fatalf("status --json: %+v", js.RulesErrors)
	}
	var errs []struct {
		Peer, Direction, Error string
	}
	if err := a.cliJSON(&errs, "errors"); err != nil {
		t.Fatal(err)
	}
	if len(errs) == 0 || errs[len(errs)-1].Direction != "rules" {
		t.Fatalf("errors --json: %+v", errs)
	}

	a.writeHome("out.star", "replica.summary = issue.summary\nreplica.status = issue.status\n")
	testutil.WaitFor(t, 20*time.Second, "the fix clears the error", func() bool {
		st, _ := a.cli("status")
		return !strings.Contains(st, "rules of bob")
	})
	a.mustCLI("issue", "create", "--summary", "after the fix", "--status", "Open")
	testutil.WaitFor(t, 20*time.Second, "the issue syncs with the fixed rules", func() bool {
		is, ok := b.findBySummary("after the fix")
		return ok && is.Status == "Open"
	})
}
