package e2e

import (
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// Two local nodes, real processes: an assignee, a type, due and start
// dates and custom fields cleared on A with issue edit (--field NAME=
// clears) are cleared on B, and nothing comes back.
func TestClearsCrossBetweenTwoNodes(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)
	key := trim(a.mustCLI("issue", "create", "--summary", "to clear", "--assignee", "ann@a.example", "--type", "Bug",
		"--due", "2027-01-31", "--start", "2027-01-02", "--field", "Tier:option=Gold", "--field", "Effort:number=3", "--field", "Note=free"))
	var onB string
	testutil.WaitFor(t, 20*time.Second, "the issue and its fields are on B", func() bool {
		is, ok := b.findBySummary("to clear")
		if !ok {
			return false
		}
		onB = is.Key
		f := b.fieldsIssue(onB)
		return f.Assignee != nil && f.Type == "Bug" && f.Due == "2027-01-31" && len(f.Fields) == 3
	})
	a.mustCLI("issue", "edit", key, "--assignee", "", "--type", "", "--due", "", "--start", "", "--field", "Tier=", "--field", "Effort=", "--field", "Note=")
	if f := a.fieldsIssue(key); f.Assignee != nil || f.Type != "" || f.Due != "" || len(f.Fields) != 0 {
		t.Fatalf("issue edit did not clear on A: %+v", f)
	}
	testutil.WaitFor(t, 20*time.Second, "the clears are on B", func() bool {
		f := b.fieldsIssue(onB)
		return f.Assignee == nil && f.Type == "" && f.Due == "" && len(f.Fields) == 0
	})
	var start struct {
		Start string `json:"start"`
	}
	if err := b.cliJSON(&start, "issue", "show", onB); err != nil || start.Start != "" {
		t.Errorf("B's start date %q (%v), want cleared", start.Start, err)
	}
	testutil.WaitFor(t, 10*time.Second, "both queues are empty", func() bool {
		return a.queueLen() == 0 && b.queueLen() == 0
	})
	if n := b.historyCount(onB, "out", "queued"); n != 0 {
		t.Errorf("B sent %d events back (an echo of the clears?)", n)
	}
}
