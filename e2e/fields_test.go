package e2e

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// fieldsIssue is what issue show --json tells of the fields of issue 16.
type fieldsIssue struct {
	Key      string `json:"key"`
	Summary  string `json:"summary"`
	Status   string `json:"status"`
	Type     string `json:"type"`
	Due      string `json:"due"`
	Assignee *struct {
		Email string `json:"email"`
	} `json:"assignee"`
	Fields map[string]struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
	} `json:"fields"`
	Related []struct {
		Kind string `json:"kind"`
		Key  string `json:"key"`
	} `json:"related"`
	Comments []comment         `json:"comments"`
	Extra    map[string]string `json:"extra"`
}

func (p *proc) fieldsIssue(key string) fieldsIssue {
	p.t.Helper()
	var is fieldsIssue
	if err := p.cliJSON(&is, "issue", "show", key); err != nil {
		p.t.Fatal(err)
	}
	return is
}

// Two local nodes, real processes: an issue with an assignee (through a
// user_map), type, due date and two custom fields, a blocks relation and a
// parent with two children cross, and the relations connect the twins; a
// comment edited and one deleted on B show on A as the rules say; edits of
// one field on both nodes while paused from each other give one conflict
// record on each node with both values.
func TestFieldsRelationsCommentsAndConflictsBetweenTwoNodes(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.appendConfig("connections:\n  bob:\n    user_map: {ann@a.example: ann@b.example}\n")
	a.start()
	b.start()
	pair(a, b)

	blocked := trim(a.mustCLI("issue", "create", "--summary", "blocked"))
	key := trim(a.mustCLI("issue", "create", "--summary", "full", "--assignee", "ann@a.example", "--type", "Bug",
		"--due", "2027-01-31", "--field", "Tier:option=Gold", "--field", "Effort:number=3"))
	a.mustCLI("issue", "relate", key, blocked, "--kind", "blocks")
	parent := trim(a.mustCLI("issue", "create", "--summary", "parent"))
	for _, s := range []string{"child one", "child two"} {
		c := trim(a.mustCLI("issue", "create", "--summary", s))
		a.mustCLI("issue", "relate", c, parent, "--kind", "parent")
	}
	keyOnB := func(summary string) string {
		is, _ := b.findBySummary(summary)
		return is.Key
	}
	related := func(is fieldsIssue, kind, other string) bool {
		return other != "" && slices.ContainsFunc(is.Related, func(r struct {
			Kind string `json:"kind"`
			Key  string `json:"key"`
		}) bool {
			return r.Kind == kind && r.Key == other
		})
	}
	testutil.WaitFor(t, 20*time.Second, "the issue, its fields and the relations are on B", func() bool {
		full, bl, pa, c1, c2 := keyOnB("full"), keyOnB("blocked"), keyOnB("parent"), keyOnB("child one"), keyOnB("child two")
		if full == "" || c1 == "" || c2 == "" {
			return false
		}
		is := b.fieldsIssue(full)
		return is.Assignee != nil && is.Assignee.Email == "ann@b.example" && is.Type == "Bug" && is.Due == "2027-01-31" &&
			is.Fields["Tier"].Text == "Gold" && is.Fields["Effort"].Kind == "number" && is.Fields["Effort"].Text == "3" && related(is, "blocks", bl) &&
			related(b.fieldsIssue(c1), "parent", pa) && related(b.fieldsIssue(c2), "parent", pa)
	})

	// Comments on B: one edited, one deleted there.
	fullB := keyOnB("full")
	b.mustCLI("issue", "comment", fullB, "--author", "bob", "--body", "keep me")
	b.mustCLI("issue", "comment", fullB, "--author", "bob", "--body", "delete me")
	var ids []string
	testutil.WaitFor(t, 10*time.Second, "A has both comments", func() bool {
		return len(a.fieldsIssue(key).Comments) == 2
	})
	for _, c := range b.fieldsIssue(fullB).Comments {
		ids = append(ids, c.ID)
	}
	b.mustCLI("issue", "comment", fullB, "--edit", ids[0], "--body", "kept, edited")
	b.mustCLI("issue", "comment", fullB, "--delete", ids[1])
	testutil.WaitFor(t, 10*time.Second, "A shows the edit, and the deletion as a note", func() bool {
		cs := a.fieldsIssue(key).Comments
		return len(cs) == 2 && cs[0].Body == "kept, edited" && strings.HasPrefix(cs[1].Body, "[deleted at bob]")
	})

	// Concurrent edits of one field, both nodes paused from each other.
	testutil.WaitFor(t, 10*time.Second, "both queues are empty", func() bool {
		return a.queueLen() == 0 && b.queueLen() == 0
	})
	a.mustCLI("pause", "bob")
	b.mustCLI("pause", "alice")
	a.mustCLI("issue", "edit", key, "--status", "Done")
	b.mustCLI("issue", "edit", fullB, "--status", "Blocked")
	testutil.WaitFor(t, 10*time.Second, "both edits are queued", func() bool {
		return a.queueLen() == 1 && b.queueLen() == 1
	})
	a.mustCLI("resume", "bob")
	b.mustCLI("resume", "alice")
	testutil.WaitFor(t, 15*time.Second, "both converge", func() bool {
		sa, sb := a.fieldsIssue(key).Status, b.fieldsIssue(fullB).Status
		return sa == sb && sa != "Open" && a.queueLen() == 0 && b.queueLen() == 0
	})
	type conflict struct {
		ID     string `json:"id"`
		Field  string `json:"field"`
		Winner struct {
			Value string `json:"value"`
		} `json:"winner"`
		Loser struct {
			Value string `json:"value"`
		} `json:"loser"`
	}
	var ca, cb []conflict
	if err := a.cliJSON(&ca, "conflicts"); err != nil {
		t.Fatal(err)
	}
	if err := b.cliJSON(&cb, "conflicts"); err != nil {
		t.Fatal(err)
	}
	final := a.fieldsIssue(key).Status
	if len(ca) != 1 || len(cb) != 1 || ca[0] != cb[0] || ca[0].Field != "status" || ca[0].Winner.Value != final ||
		!slices.Contains([]string{"Done", "Blocked"}, ca[0].Loser.Value) || ca[0].Loser.Value == final {
		t.Fatalf("conflicts: A %+v, B %+v (status %q)", ca, cb, final)
	}
	if h := a.mustCLI("history", key); !strings.Contains(h, "conflict") {
		t.Fatalf("history does not show the conflict:\n%s", h)
	}
}

// queueLen is the number of events pending to every peer.
func (p *proc) queueLen() int {
	p.t.Helper()
	var q []struct {
		Pending int `json:"pending"`
	}
	if err := p.cliJSON(&q, "queue"); err != nil {
		p.t.Fatal(err)
	}
	n := 0
	for _, e := range q {
		n += e.Pending
	}
	return n
}

// A relation to an issue that is not synced lands at B as a visible
// reference; B is killed (kill -9), the other issue starts syncing while
// B is down, and once B runs again the reference has become the same
// relation between the twins: the wait survived the restart in B's sync
// log.
func TestRelationWaitsAcrossARestart(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.appendConfig("connections:\n  bob:\n    trigger: 'not \"private\" in issue.labels'\n")
	a.start()
	b.start()
	pair(a, b)

	other := trim(a.mustCLI("issue", "create", "--summary", "other", "--label", "private"))
	key := trim(a.mustCLI("issue", "create", "--summary", "relating"))
	a.mustCLI("issue", "relate", key, other, "--kind", "blocks")
	keyOnB := func(summary string) string {
		is, _ := b.findBySummary(summary)
		return is.Key
	}
	testutil.WaitFor(t, 20*time.Second, "B shows the relation as a reference", func() bool {
		k := keyOnB("relating")
		return k != "" && strings.Contains(strings.Join(slices.Collect(maps.Values(b.fieldsIssue(k).Extra)), "; "), "blocks "+other)
	})
	b.kill()
	a.mustCLI("sync", other, "--to", "bob") // starts syncing while B is down
	b.start()
	testutil.WaitFor(t, 30*time.Second, "the reference became the relation between the twins", func() bool {
		o, r := keyOnB("other"), keyOnB("relating")
		if o == "" || r == "" {
			return false
		}
		is := b.fieldsIssue(r)
		return slices.ContainsFunc(is.Related, func(x struct {
			Kind string `json:"kind"`
			Key  string `json:"key"`
		}) bool {
			return x.Kind == "blocks" && x.Key == o
		}) && !strings.Contains(strings.Join(slices.Collect(maps.Values(is.Extra)), "; "), "blocks "+other)
	})
}
