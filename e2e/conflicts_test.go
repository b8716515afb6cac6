package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// conflictView is what conflicts --json tells of one conflict.
type conflictView struct {
	ID     string `json:"id"`
	Field  string `json:"field"`
	Open   bool   `json:"open"`
	Held   bool   `json:"held"`
	Policy string `json:"policy"`
	Winner struct {
		Value string `json:"value"`
	} `json:"winner"`
	Loser struct {
		Value string `json:"value"`
	} `json:"loser"`
	Settled *struct {
		Value string `json:"value"`
		Peer  string `json:"peer"`
		How   string `json:"how"`
	} `json:"settled"`
}

// Two local nodes, real processes, with conflicts: {status: hold} on both
// connections. Both nodes, paused from each other, edit the status;
// resumed, each keeps its own value, and each lists one conflict with both
// values, held, in conflicts and in status. issuemesh resolve on A keeps
// theirs: both get B's value and list the conflict as settled. A bad
// policy in config.yaml is refused naming the file and the field.
func TestHeldConflictResolvedOnBothNodes(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.appendConfig("connections:\n  bob:\n    conflicts: {status: hold}\n")
	b.appendConfig("connections:\n  alice:\n    conflicts: {status: hold}\n")
	a.start()
	b.start()
	pair(a, b)

	key := trim(a.mustCLI("issue", "create", "--summary", "held"))
	var keyB string
	testutil.WaitFor(t, 20*time.Second, "B has the issue", func() bool {
		is, ok := b.findBySummary("held")
		keyB = is.Key
		return ok
	})
	testutil.WaitFor(t, 10*time.Second, "both queues are empty", func() bool {
		return a.queueLen() == 0 && b.queueLen() == 0
	})
	a.mustCLI("pause", "bob")
	b.mustCLI("pause", "alice")
	a.mustCLI("issue", "edit", key, "--status", "Done")
	b.mustCLI("issue", "edit", keyB, "--status", "Blocked")
	testutil.WaitFor(t, 10*time.Second, "both edits are queued", func() bool {
		return a.queueLen() == 1 && b.queueLen() == 1
	})
	a.mustCLI("resume", "bob")
	b.mustCLI("resume", "alice")
	list := func(p *proc) []conflictView {
		var cs []conflictView
		if err := p.cliJSON(&cs, "conflicts"); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	testutil.WaitFor(t, 15*time.Second, "both record the conflict", func() bool {
		return a.queueLen() == 0 && b.queueLen() == 0 && len(list(a)) == 1 && len(list(b)) == 1
	})
	// Held: each side keeps its value.
	if sa, sb := a.fieldsIssue(key).Status, b.fieldsIssue(keyB).Status; sa != "Done" || sb != "Blocked" {
		t.Fatalf("held status: A %q, B %q, want each its own (Done, Blocked)", sa, sb)
	}
	ca, cb := list(a), list(b)
	x, y := ca[0], cb[0]
	if x.ID != y.ID || x.Field != "status" || !x.Held || !y.Held || x.Policy != "hold" || x.Winner != y.Winner || x.Loser != y.Loser ||
		!(x.Winner.Value == "Done" && x.Loser.Value == "Blocked" || x.Winner.Value == "Blocked" && x.Loser.Value == "Done") {
		t.Fatalf("conflicts: A %+v, B %+v; want the same one, held, with both values", x, y)
	}
	if out := a.mustCLI("status"); !strings.Contains(out, "held conflict: "+key+" status") {
		t.Fatalf("status does not show the held conflict:\n%s", out)
	}
	if out := a.mustCLI("conflicts"); !strings.Contains(out, "held") || !strings.Contains(out, "issuemesh resolve "+key+" status") {
		t.Fatalf("conflicts does not say it is held:\n%s", out)
	}

	// Resolve on A: keep theirs (B's Blocked).
	if out := a.mustCLI("resolve", key, "status", "--keep", "theirs"); !strings.Contains(out, `kept "Blocked"`) {
		t.Fatalf("resolve said: %s", out)
	}
	testutil.WaitFor(t, 15*time.Second, "both hold the value kept", func() bool {
		return a.fieldsIssue(key).Status == "Blocked" && b.fieldsIssue(keyB).Status == "Blocked" && a.queueLen() == 0
	})
	testutil.WaitFor(t, 10*time.Second, "both list the conflict settled", func() bool {
		ca, cb := list(a), list(b)
		return len(ca) == 1 && len(cb) == 1 && !ca[0].Open && !cb[0].Open && !ca[0].Held && !cb[0].Held &&
			ca[0].Settled != nil && cb[0].Settled != nil && ca[0].Settled.Value == "Blocked" && cb[0].Settled.Value == "Blocked" &&
			ca[0].Settled.How == "resolve" && ca[0].ID == x.ID && cb[0].ID == x.ID
	})
	if out := a.mustCLI("status"); strings.Contains(out, "held conflict") {
		t.Fatalf("status still shows a held conflict:\n%s", out)
	}
	if _, err := a.cli("resolve", key, "status", "--keep", "ours"); err == nil || !strings.Contains(err.Error(), "no open conflict on status") {
		t.Fatalf("a second resolve: %v", err)
	}

	// A bad policy is refused at load, naming the file and the field.
	c := newNode(t, "carol")
	c.appendConfig("connections:\n  bob:\n    conflicts: {status: mine}\n")
	out, err := c.cli("config", "check")
	if err == nil || !strings.Contains(out, "config.yaml") || !strings.Contains(out, `connections.bob.conflicts.status: "mine" is not one of newest, ours, theirs, hold`) {
		t.Fatalf("config check with a bad policy: %v\n%s", err, out)
	}
}

// Three local nodes, real processes, in one network: all three stopped,
// each edits the same issue's status on its own, all three started. Every
// member ends with the same status and lists the same one conflict (the
// same ID: field, winner and loser), whatever order the edits reached it
// in.
func TestNetworkMembersListTheSameConflict(t *testing.T) {
	nodes := []*proc{newNode(t, "n1"), newNode(t, "n2"), newNode(t, "n3")}
	var wg sync.WaitGroup
	for _, p := range nodes {
		wg.Go(p.start)
	}
	wg.Wait()
	nodes[0].mustCLI("network", "create", "team")
	for i := 1; i < len(nodes); i++ {
		code := trim(nodes[i-1].mustCLI("network", "invite", "team", "--name", nodes[i].name, "--ttl", "5m"))
		if out := nodes[i].mustCLI("accept", code); !strings.Contains(out, "joined network team") {
			t.Fatalf("accept on %s printed %q", nodes[i].name, out)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "every member sees 3 joined members, connected", func() bool {
		for _, p := range nodes {
			if !p.meshed("team", len(nodes)) {
				return false
			}
		}
		return true
	})
	nodes[0].mustCLI("issue", "create", "--summary", "shared printer")
	keys := make([]string, len(nodes))
	testutil.WaitFor(t, 20*time.Second, "every member has the issue", func() bool {
		for i, p := range nodes {
			is, ok := p.findBySummary("shared printer")
			if !ok {
				return false
			}
			keys[i] = is.Key
		}
		return true
	})
	for _, p := range nodes {
		wg.Go(p.stop)
	}
	wg.Wait()
	for i, p := range nodes {
		p.mustCLI("issue", "edit", keys[i], "--status", "set by "+p.name)
	}
	for _, p := range nodes {
		wg.Go(p.start)
	}
	wg.Wait()
	list := func(p *proc) []conflictView {
		var cs []conflictView
		if err := p.cliJSON(&cs, "conflicts"); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	var last string
	testutil.WaitFor(t, 40*time.Second, "every member holds one status and lists the same one conflict", func() bool {
		var status, id string
		for i, p := range nodes {
			s := p.fieldsIssue(keys[i]).Status
			cs := list(p)
			last = fmt.Sprintf("%s: status %q, conflicts %+v", p.name, s, cs)
			if len(cs) != 1 || (i > 0 && (s != status || cs[0].ID != id)) || cs[0].Winner.Value != s {
				return false
			}
			status, id = s, cs[0].ID
		}
		return true
	})
	t.Logf("converged: %s", last)
}
