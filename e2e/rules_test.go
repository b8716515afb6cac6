package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// writeHome writes a file into the node's home.
func (p *proc) writeHome(name, content string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.home, name), []byte(content), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// appendConfig adds YAML to the node's config.yaml.
func (p *proc) appendConfig(yaml string) {
	p.t.Helper()
	path := filepath.Join(p.home, "config.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, []byte(yaml)...), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

type historyView struct {
	Records []struct {
		Dir, What string
	}
}

func (p *proc) historyCount(key, dir, what string) int {
	p.t.Helper()
	var h historyView
	if err := p.cliJSON(&h, "history", key); err != nil {
		p.t.Fatal(err)
	}
	n := 0
	for _, r := range h.Records {
		if r.Dir == dir && r.What == what {
			n++
		}
	}
	return n
}

// A's outgoing rules drop the description and rename labels; B's incoming
// rules map statuses and set a different priority on first sync only. Both
// trackers end exactly as the rules say.
func TestRulesDecideWhatLeavesAndHowItLands(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.writeHome("out.star", `
replica.summary = issue.summary
replica.status = issue.status
replica.priority = issue.priority
replica.labels = ["ext-" + l for l in issue.labels]
replica.comments = [c for c in issue.comments if not c.internal]
`)
	a.appendConfig("connections:\n  bob:\n    outgoing: out.star\n")
	b.writeHome("in.star", `
if first_sync:
    issue.priority = "Low"
elif "priority" in changed.fields:
    issue.priority = replica.priority
issue.summary = replica.summary
issue.labels = replica.labels
issue.status = map_value(replica.status, {"Done": "Resolved"})
issue.comments = merge_comments(issue, replica)
`)
	b.appendConfig("connections:\n  alice:\n    incoming: in.star\n")
	a.start()
	b.start()
	pair(a, b)

	key := trim(a.mustCLI("issue", "create", "--summary", "Rules test", "--description", "internal notes",
		"--priority", "High", "--label", "api", "--label", "db"))
	var onB issue
	testutil.WaitFor(t, 10*time.Second, "the issue lands on B", func() bool {
		var ok bool
		onB, ok = b.findBySummary("Rules test")
		return ok
	})
	if onB.Description != "" || onB.Priority != "Low" || !slices.Equal(onB.Labels, []string{"ext-api", "ext-db"}) || onB.Status != "Open" {
		t.Fatalf("on B: %+v", onB)
	}
	a.mustCLI("issue", "edit", key, "--status", "Done")
	testutil.WaitFor(t, 10*time.Second, "B maps Done to Resolved", func() bool {
		is, err := b.issue(onB.Key)
		return err == nil && is.Status == "Resolved"
	})
	a.mustCLI("issue", "edit", key, "--priority", "Urgent", "--description", "still internal")
	testutil.WaitFor(t, 10*time.Second, "a later priority change lands as is", func() bool {
		is, err := b.issue(onB.Key)
		return err == nil && is.Priority == "Urgent" && is.Description == ""
	})
	// A is unchanged by B's rules: nothing was echoed back.
	onA, err := a.issue(key)
	if err != nil {
		t.Fatal(err)
	}
	if onA.Status != "Done" || onA.Priority != "Urgent" || onA.Description != "still internal" || !slices.Equal(onA.Labels, []string{"api", "db"}) {
		t.Fatalf("A changed: %+v", onA)
	}
	// rules test shows what would leave A, without syncing.
	out := a.mustCLI("rules", "test", "--to", "bob", key)
	if !strings.Contains(out, `"ext-api"`) || strings.Contains(out, "still internal") {
		t.Fatalf("rules test --to: %s", out)
	}
	if n := a.historyCount(key, "in", "applied"); n != 0 {
		t.Fatalf("A applied %d events from B: echo", n)
	}
}

// With both sides mapping statuses (A's "Done" and B's "Resolved" are both
// the shared "done"), a change settles after one round trip: counted in
// the history, no event comes back.
func TestMappedStatusesSettleWithoutLoops(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.appendConfig("connections:\n  \"*\":\n    status_map: {Done: done}\n")
	b.appendConfig("connections:\n  \"*\":\n    status_map: {Resolved: done}\n")
	a.start()
	b.start()
	pair(a, b)
	key := trim(a.mustCLI("issue", "create", "--summary", "loop?"))
	var keyB string
	testutil.WaitFor(t, 10*time.Second, "on B", func() bool {
		is, ok := b.findBySummary("loop?")
		keyB = is.Key
		return ok
	})
	a.mustCLI("issue", "edit", key, "--status", "Done")
	testutil.WaitFor(t, 10*time.Second, "B shows Resolved", func() bool {
		is, err := b.issue(keyB)
		return err == nil && is.Status == "Resolved"
	})
	b.mustCLI("issue", "edit", keyB, "--status", "Reopened")
	testutil.WaitFor(t, 10*time.Second, "A shows Reopened", func() bool {
		is, err := a.issue(key)
		return err == nil && is.Status == "Reopened"
	})
	// A sync point: a new issue from B has arrived, so B's trigger has
	// looked at every earlier change.
	b.mustCLI("issue", "create", "--summary", "marker")
	testutil.WaitFor(t, 10*time.Second, "marker on A", func() bool { _, ok := a.findBySummary("marker"); return ok })
	testutil.WaitFor(t, 10*time.Second, "queues empty", func() bool {
		var sa, sb struct{ Pending, Incoming int }
		return a.cliJSON(&sa, "status") == nil && b.cliJSON(&sb, "status") == nil && sa.Pending+sa.Incoming+sb.Pending+sb.Incoming == 0
	})
	// A: its create and its Done went out; B's Reopened came in. B: the
	// mirror image. Nothing else.
	for _, c := range []struct {
		p              *proc
		key            string
		outs, applieds int
	}{{a, key, 2, 1}, {b, keyB, 1, 2}} {
		if got := c.p.historyCount(c.key, "out", "queued"); got != c.outs {
			t.Errorf("%s queued %d events for the issue, want %d", c.p.name, got, c.outs)
		}
		if got := c.p.historyCount(c.key, "in", "applied"); got != c.applieds {
			t.Errorf("%s applied %d events for the issue, want %d", c.p.name, got, c.applieds)
		}
	}
	if is, _ := a.issue(key); is.Status != "Reopened" {
		t.Fatalf("A's status %q", is.Status)
	}
}

// sync --all shares every matching issue not shared yet, each linked once;
// running it again sends nothing new.
func TestBulkSyncAll(t *testing.T) {
	const n = 1000
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.appendConfig("connections:\n  bob:\n    trigger: '\"sync\" in issue.labels'\n")
	a.start()
	b.start()
	pair(a, b)
	for i := range n {
		if err := a.api("POST", "/v1/issues", map[string]any{"summary": "bulk " + itoa(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// None matches the trigger: nothing is shared.
	a.mustCLI("issue", "create", "--summary", "tagged", "--label", "sync")
	testutil.WaitFor(t, 10*time.Second, "the tagged issue arrives", func() bool { _, ok := b.findBySummary("tagged"); return ok })
	if got := len(b.issues()); got != 1 {
		t.Fatalf("B has %d issues before sync --all, want 1", got)
	}
	// Share them all by hand, whatever the trigger says: change the
	// connection's trigger to everything and bulk-sync.
	a.stop()
	a.writeHome("config.yaml", strings.Replace(readFile(t, filepath.Join(a.home, "config.yaml")), `trigger: '"sync" in issue.labels'`, `trigger: 'True'`, 1))
	a.start()
	out := a.mustCLI("sync", "--all", "--to", "bob")
	if !strings.Contains(out, "shared 1000 issues") || !strings.Contains(out, "1 were shared already") {
		t.Fatalf("sync --all: %s", out)
	}
	testutil.WaitFor(t, 60*time.Second, "every issue linked on A", func() bool {
		var st struct{ Pending, Twins int }
		return a.cliJSON(&st, "status") == nil && st.Pending == 0 && st.Twins == n+1
	})
	list := b.issues()
	if len(list) != n+1 {
		t.Fatalf("B has %d issues, want %d", len(list), n+1)
	}
	seen := map[string]bool{}
	for _, is := range list {
		if seen[is.Twin] {
			t.Fatalf("twin %s twice on B", is.Twin)
		}
		seen[is.Twin] = true
	}
	out = a.mustCLI("sync", "--all", "--to", "bob")
	if !strings.Contains(out, "shared 0 issues") || !strings.Contains(out, "1001 were shared already") {
		t.Fatalf("second sync --all: %s", out)
	}
}

// unsync stops a twin on both sides (both issues stay); link connects two
// issues that exist already, and they sync from then on.
func TestUnsyncAndLink(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.appendConfig("connections:\n  bob:\n    trigger: '\"sync\" in issue.labels'\n")
	b.appendConfig("connections:\n  alice:\n    trigger: '\"sync\" in issue.labels'\n")
	a.start()
	b.start()
	pair(a, b)

	x := trim(a.mustCLI("issue", "create", "--summary", "X", "--label", "sync"))
	var xb issue
	testutil.WaitFor(t, 10*time.Second, "X on B", func() bool {
		var ok bool
		xb, ok = b.findBySummary("X")
		return ok
	})
	a.mustCLI("unsync", x, "--from", "bob")
	testutil.WaitFor(t, 10*time.Second, "B's link is unsynced", func() bool {
		is, err := b.issue(xb.Key)
		return err == nil && len(is.Twins) == 1 && !strings.Contains(b.mustCLI("issue", "show", xb.Key, "--json"), `"synced": true`)
	})
	a.mustCLI("issue", "edit", x, "--summary", "X changed after unsync")
	b.mustCLI("issue", "edit", xb.Key, "--status", "B-only")
	// A sync point in each direction.
	a.mustCLI("issue", "create", "--summary", "marker A", "--label", "sync")
	b.mustCLI("issue", "create", "--summary", "marker B", "--label", "sync")
	testutil.WaitFor(t, 10*time.Second, "markers crossed", func() bool {
		_, ok1 := b.findBySummary("marker A")
		_, ok2 := a.findBySummary("marker B")
		return ok1 && ok2
	})
	if is, _ := b.issue(xb.Key); is.Summary != "X" {
		t.Fatalf("B got an update after unsync: %+v", is)
	}
	if is, _ := a.issue(x); is.Status == "B-only" {
		t.Fatal("A got an update after unsync")
	}

	// Two issues that exist on both sides, unsynced (no label): link them.
	p := trim(a.mustCLI("issue", "create", "--summary", "P on A", "--priority", "High"))
	q := trim(b.mustCLI("issue", "create", "--summary", "Q on B"))
	a.mustCLI("link", p, "--to", "bob", "--remote", q)
	testutil.WaitFor(t, 10*time.Second, "Q takes P's state and both show the link", func() bool {
		qi, err := b.issue(q)
		pi, err2 := a.issue(p)
		return err == nil && err2 == nil && qi.Summary == "P on A" && qi.Priority == "High" &&
			len(pi.Twins) == 1 && pi.Twins[0].Key == q && len(qi.Twins) == 1 && qi.Twins[0].Key == p
	})
	b.mustCLI("issue", "comment", q, "--author", "bob", "--body", "from B after link")
	testutil.WaitFor(t, 10*time.Second, "B's comment reaches P", func() bool {
		pi, err := a.issue(p)
		return err == nil && len(pi.Comments) == 1 && pi.Comments[0].Body == "from B after link"
	})
	if got := len(a.issues()); got != 4 { // X, marker A, marker B, P: no copy of Q
		t.Fatalf("A has %d issues, want 4", got)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(i int) string { return strconv.Itoa(i) }

// pollEvery sets how often the node polls its tracker (the default is
// 5 s), in its config.yaml.
func (p *proc) pollEvery(d string) {
	p.t.Helper()
	cfg := readFile(p.t, filepath.Join(p.home, "config.yaml"))
	p.writeHome("config.yaml", strings.Replace(cfg, "tracker:\n", "tracker:\n    poll_interval: "+d+"\n", 1))
}

// mustCheckTracker runs tracker check and fails the test if any line
// says FAIL; it returns what the check printed.
func (p *proc) mustCheckTracker() string {
	p.t.Helper()
	out := p.mustCLI("tracker", "check")
	if strings.Contains(out, "FAIL") {
		p.t.Fatalf("tracker check on %s:\n%s", p.name, out)
	}
	return out
}

// logStateOnFailure logs, once the test has failed, what errors, queue
// and status say on each node.
func logStateOnFailure(t *testing.T, ps ...*proc) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range ps {
			for _, cmd := range []string{"errors", "queue", "status"} {
				out, err := p.cli(cmd)
				t.Logf("%s: issuemesh %s: %s %v", p.name, cmd, out, err)
			}
		}
	})
}
