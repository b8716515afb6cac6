package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestFullDiskHoldsTriggerAndResumes: while the home's free space is under
// the reserve, the trigger takes nothing from the change feed (its cursor
// stays) and status and errors say why; once there is room the waiting
// edit is shared without a restart.
func TestFullDiskHoldsTriggerAndResumes(t *testing.T) {
	ctx := context.Background()
	ft := newFaultyTracker(t) // not on the guarded home: it keeps taking edits
	a := startNode(t, "a", Options{Tracker: ft, DiskReserve: 1})
	b := startNode(t, "b", Options{})
	pairNodes(t, a, b)
	is, err := ft.Create(ctx, adapters.Issue{Summary: "before", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "B has the issue", func() bool { _, ok := b.issueBySummary(t, "before"); return ok })

	a.space.SetReserve(1 << 62) // no disk has that much free
	if _, err := ft.Update(ctx, is.Key, adapters.Patch{Summary: ptr("while full")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A's trigger waits for room", func() bool {
		return strings.Contains(a.logs.String(), "the trigger takes no changes until there is room")
	})
	if a.settled(t) {
		t.Fatal("the trigger's cursor moved past an edit while the disk is full")
	}
	if _, ok := b.issueBySummary(t, "while full"); ok {
		t.Fatal("an edit was shared while the disk is full")
	}
	st := a.space.Status()
	if !st.Low || !strings.Contains(st.Error, a.home) {
		t.Fatalf("status while full: %+v", st)
	}
	if de := diskErrors(a.space); len(de) != 1 || de[0].Dir != DirDisk {
		t.Fatalf("errors while full: %+v", de)
	}

	a.space.SetReserve(1)
	testutil.WaitFor(t, 10*time.Second, "the edit reaches B once there is room", func() bool {
		_, ok := b.issueBySummary(t, "while full")
		return ok && a.settled(t) && !a.space.Status().Low
	})
	if de := diskErrors(a.space); len(de) != 0 {
		t.Fatalf("errors after space is back: %+v", de)
	}
}
