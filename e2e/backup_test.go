package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// summaries lists a node's issues' summaries, sorted, with their count.
func (p *proc) summaries() []string {
	var out []string
	for _, is := range p.issues() {
		out = append(out, is.Summary)
	}
	sort.Strings(out)
	return out
}

func sameList(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// TestBackupRestoreResyncs backs A up while it runs, then keeps working on
// both nodes (A creates and edits, B creates and edits, one of them on the
// twin shared before the backup), kills A and wipes its home, restores it
// from the now stale backup, and checks that both nodes converge on every
// issue exactly once, and that A's new edits reach B (its sequences do not
// collide with the ones B saw before the loss). It then does it again from
// an offline backup of the restored node.
func TestBackupRestoreResyncs(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)

	before := trim(a.mustCLI("issue", "create", "--summary", "before the backup", "--description", "d"))
	testutil.WaitFor(t, 10*time.Second, "the first issue is on B", func() bool { _, ok := b.findBySummary("before the backup"); return ok })

	backups := t.TempDir()
	stale := filepath.Join(backups, "stale")
	out := a.mustCLI("backup", stale)
	if !strings.Contains(out, "online") {
		t.Fatalf("backup of a running node: %q, want an online backup", out)
	}

	// Work after the backup: lost with A's home, kept by B.
	a.mustCLI("issue", "create", "--summary", "made on A after the backup")
	for i := range 5 {
		a.mustCLI("issue", "edit", before, "--description", "edited on A "+itoa(i))
	}
	onB, _ := b.findBySummary("before the backup")
	testutil.WaitFor(t, 10*time.Second, "A's work is on B", func() bool {
		is, err := b.issue(onB.Key)
		_, made := b.findBySummary("made on A after the backup")
		return err == nil && is.Description == "edited on A 4" && made
	})
	b.mustCLI("issue", "create", "--summary", "made on B after the backup")
	b.mustCLI("issue", "edit", onB.Key, "--status", "Resolved")
	want := []string{"before the backup", "made on A after the backup", "made on B after the backup"}
	settle := func(what string, ps ...*proc) {
		t.Helper()
		for _, p := range ps {
			testutil.WaitFor(t, 30*time.Second, p.name+"'s queues are empty "+what, func() bool {
				var st struct{ Pending, Incoming, Blocked int }
				return p.cliJSON(&st, "status") == nil && st.Pending == 0 && st.Incoming == 0 && st.Blocked == 0
			})
		}
	}
	settle("before A is lost", a, b)

	restore := func(from string) {
		t.Helper()
		a.kill()
		if err := os.RemoveAll(a.home); err != nil {
			t.Fatal(err)
		}
		a.mustCLI("restore", from)
		a.start()
	}
	restore(stale)

	converged := func(what string) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, "both nodes hold every issue once "+what, func() bool {
			return sameList(a.summaries(), want) && sameList(b.summaries(), want)
		})
		onA, _ := a.findBySummary("before the backup")
		testutil.WaitFor(t, 30*time.Second, "A has the state of the shared issue "+what, func() bool {
			is, err := a.issue(onA.Key)
			return err == nil && is.Description == "edited on A 4" && is.Status == "Resolved"
		})
		settle(what, a, b)
		if got := a.summaries(); !sameList(got, want) {
			t.Fatalf("A holds %q %s, want each of %q once", got, what, want)
		}
		if got := b.summaries(); !sameList(got, want) {
			t.Fatalf("B holds %q %s, want each of %q once", got, what, want)
		}
	}
	converged("after the restore from a stale backup")

	// A's new edits reach B: its sequences moved past the lost ones.
	onA, _ := a.findBySummary("made on B after the backup")
	a.mustCLI("issue", "edit", onA.Key, "--description", "edited on A after the restore")
	onB, _ = b.findBySummary("made on B after the backup")
	testutil.WaitFor(t, 20*time.Second, "A's edit after the restore is on B", func() bool {
		is, err := b.issue(onB.Key)
		return err == nil && is.Description == "edited on A after the restore"
	})

	// An offline backup of the restored node, restored in turn.
	a.stop()
	fresh := filepath.Join(backups, "fresh")
	if out := a.mustCLI("backup", fresh); !strings.Contains(out, "offline") {
		t.Fatalf("backup of a stopped node: %q, want an offline backup", out)
	}
	restore(fresh)
	converged("after the restore from an offline backup")
}
