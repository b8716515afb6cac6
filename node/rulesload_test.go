package node

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// ruleVersion is the custom field "rulever" that the link's outgoing rules
// make of an issue, or an error.
func ruleVersion(t *testing.T, n *Node, link string) (string, error) {
	t.Helper()
	set, _, err := n.rules.Link(link)
	if err != nil {
		return "", err
	}
	r, _, err := set.Outgoing(adapters.Issue{Key: "K-1", Summary: "s"})
	if err != nil {
		return "", err
	}
	v, _ := r.Str("rulever")
	return v, nil
}

func status(t *testing.T, n *Node) Status {
	t.Helper()
	var st Status
	if code := adminCall(t, n, "GET", "/v1/status", nil, &st); code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	return st
}

func rulesErrorOf(st Status, link string) *RulesError {
	for i := range st.RulesErrors {
		if st.RulesErrors[i].Link == link {
			return &st.RulesErrors[i]
		}
	}
	return nil
}

func versionedRule(v string) string {
	return rules.DefaultOutgoingScript + "replica.rulever = \"" + v + "\"\n"
}

// TestRuleFileReloadedWhileTriggerBacksOff: while the tracker is down and
// the trigger backs off, a rule file that breaks is refused (shown in
// status and errors with its file:line, the last good rules running) and
// the fixed version is picked up, without a restart.
func TestRuleFileReloadedWhileTriggerBacksOff(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "out-b.star")
	writeRule(t, path, versionedRule("v1"))
	ft := newFaultyTracker(t)
	a := startRestartable(t, "a", Options{Tracker: ft}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{"b": {Outgoing: path}}
		c.Tracker.PollInterval = config.Duration(100 * time.Millisecond)
	}).testNode
	b := startNode(t, "b", Options{})
	pairNodes(t, a, b)
	link := b.self.String()
	if v, err := ruleVersion(t, a.Node, link); err != nil || v != "v1" {
		t.Fatalf("rules in force: %q %v", v, err)
	}

	ft.set("", true)
	if _, err := ft.Tracker.Create(ctx, adapters.Issue{Summary: "waits"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the trigger backs off", func() bool {
		return strings.Count(a.logs.String(), "reading tracker changes failed") >= 3
	})

	writeRule(t, path, "replica.summary = (\n")
	testutil.WaitFor(t, 10*time.Second, "the refused rule file shows in status", func() bool {
		re := rulesErrorOf(status(t, a.Node), link)
		return re != nil && re.Running && strings.Contains(re.Error, "out-b.star:2") && re.PeerName == "b"
	})
	var rulesEntry *store.Blocked
	for _, e := range blockedOn(t, a.Node) {
		if e.Dir == DirRules && e.Peer == link {
			rulesEntry = &e
		}
	}
	if rulesEntry == nil || !strings.Contains(rulesEntry.Error, "out-b.star:2") {
		t.Fatalf("errors does not show the refused rule file: %+v", blockedOn(t, a.Node))
	}
	if !strings.Contains(a.logs.String(), "rule file refused") {
		t.Error("the refusal is not in the log")
	}
	if v, err := ruleVersion(t, a.Node, link); err != nil || v != "v1" {
		t.Fatalf("the last good rules do not run: %q %v", v, err)
	}

	writeRule(t, path, versionedRule("v2"))
	testutil.WaitFor(t, 10*time.Second, "the fixed rule file is in force, the tracker still down", func() bool {
		v, err := ruleVersion(t, a.Node, link)
		return err == nil && v == "v2" && rulesErrorOf(status(t, a.Node), link) == nil
	})
	ft.set("", false)
	testutil.WaitFor(t, 10*time.Second, "the waiting issue syncs", func() bool {
		_, ok := b.issueBySummary(t, "waits")
		return ok
	})
}

// TestBrokenRulesAtStartRefuseTheirLink: a node whose config has a broken
// trigger for one peer and a missing rule file for another connection
// starts, says so in status from the start, and refuses that link only:
// its other peer syncs.
func TestBrokenRulesAtStartRefuseTheirLink(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing.star")
	a := startRestartable(t, "a", Options{}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{
			"b":     {Trigger: `issue.summary ==`},
			"later": {Outgoing: missing},
		}
	}).testNode
	st := status(t, a.Node)
	if re := rulesErrorOf(st, "connection b"); re == nil || !strings.Contains(re.Error, "trigger:1") || re.Running {
		t.Fatalf("status does not show the broken trigger: %+v", st.RulesErrors)
	}
	if re := rulesErrorOf(st, "connection later"); re == nil || !strings.Contains(re.Error, "missing.star") {
		t.Fatalf("status does not show the missing rule file: %+v", st.RulesErrors)
	}

	b, c := startNode(t, "b", Options{}), startNode(t, "c", Options{})
	pairAs(t, a, "b", b, "a")
	pairAs(t, a, "c", c, "a")
	if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: "to c only"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "c gets the issue and the link to b is refused in status", func() bool {
		_, ok := c.issueBySummary(t, "to c only")
		re := rulesErrorOf(status(t, a.Node), b.self.String())
		return ok && re != nil && !re.Running && strings.Contains(re.Error, "trigger:1")
	})
	if _, ok := b.issueBySummary(t, "to c only"); ok {
		t.Fatal("the refused link synced")
	}
}

// TestRulesTestUsesFilesOnDisk: rules test runs the rule file as it is on
// disk now and says when that is not what the node runs; a file that does
// not load is the error, with its file:line.
func TestRulesTestUsesFilesOnDisk(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "out-b.star")
	writeRule(t, path, versionedRule("v1"))
	a := startRestartable(t, "a", Options{}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{"b": {Outgoing: path}}
	}).testNode
	b := startNode(t, "b", Options{})
	pairNodes(t, a, b)
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "tested"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ruleVersion(t, a.Node, b.self.String()); err != nil || v != "v1" {
		t.Fatalf("rules in force: %q %v", v, err)
	}
	writeRule(t, path, versionedRule("v2"))
	res, err := a.rules.Test(ctx, RulesTestInput{Key: is.Key, To: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Replica.Fields["rulever"].Value; v != "v2" {
		t.Fatalf("rules test ran %v, not the file on disk", v)
	}
	if v, _ := ruleVersion(t, a.Node, b.self.String()); v == "v1" && (!res.DiffersFromRunning || !strings.Contains(res.Note, "differ")) {
		t.Fatalf("rules test does not say the file differs from what runs: %+v", res)
	}
	writeRule(t, path, "replica.summary = (\n")
	if _, err := a.rules.Test(ctx, RulesTestInput{Key: is.Key, To: "b"}); err == nil || !strings.Contains(err.Error(), "out-b.star:2") {
		t.Fatalf("rules test of a broken file: %v", err)
	}
}
