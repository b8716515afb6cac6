package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rules test shows the fields of issue 16 both ways: A's outgoing rule
// file shares the assignee (mapped with map_user), the type, the due date
// and custom fields, and rules test --to prints them typed; fed to B's
// incoming rule file with rules test --from, they give the issue B would
// create, with the person mapped back and an unknown one kept in a note.
func TestRulesTestShowsTheNewFields(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.writeHome("out.star", `replica.summary = issue.summary
replica.assignee = map_user(issue.assignee, connection.user_map)
replica.reporter = issue.reporter
replica.type = issue.type
replica.due = issue.due
for name, f in issue.fields.items():
    replica["cf." + name] = f
`)
	a.appendConfig("connections:\n  bob:\n    outgoing: out.star\n    user_map: {ann@a.example: ann@shared.example}\n")
	b.writeHome("in.star", `issue.summary = replica.summary
a = map_user(replica.assignee, connection.user_map_inverse, None)
if replica.assignee and not a:
    note("assignee at " + connection.name, str(replica.assignee))
issue.assignee = a or ""
issue.reporter = map_user(replica.reporter, connection.user_map_inverse, None)
if replica.reporter and not issue.reporter:
    note("reporter at " + connection.name, str(replica.reporter))
issue.type = replica.type or ""
issue.due = replica.due or ""
issue.fields = {name: f for name, f in replica.fields.items()}
`)
	b.appendConfig("connections:\n  alice:\n    incoming: in.star\n    user_map: {ann@b.example: ann@shared.example}\n")
	a.start()
	b.start()
	pair(a, b)
	a.mustCLI("pause", "bob") // shown, not synced
	key := trim(a.mustCLI("issue", "create", "--summary", "typed", "--assignee", "ann@a.example", "--reporter", "zed@a.example",
		"--type", "Bug", "--due", "2027-01-31", "--field", "Tier:option=Gold", "--field", "Effort:number=3"))

	out := a.mustCLI("rules", "test", "--to", "bob", key)
	var to struct {
		Replica struct {
			Fields map[string]struct {
				Value any    `json:"value"`
				Kind  string `json:"kind"`
				Users []struct {
					Email string `json:"email"`
				} `json:"users"`
			} `json:"fields"`
		} `json:"replica"`
	}
	if err := json.Unmarshal([]byte(out), &to); err != nil {
		t.Fatalf("rules test --to: %v: %s", err, out)
	}
	f := to.Replica.Fields
	if u := f["assignee"].Users; len(u) != 1 || u[0].Email != "ann@shared.example" || f["assignee"].Kind != "user" ||
		f["type"].Value != "Bug" || f["due"].Value != "2027-01-31" || f["due"].Kind != "date" ||
		f["cf.Tier"].Value != "Gold" || f["cf.Tier"].Kind != "option" || f["cf.Effort"].Value != "3" || f["cf.Effort"].Kind != "number" {
		t.Fatalf("rules test --to does not show the new fields, typed and mapped: %s", out)
	}

	file := filepath.Join(t.TempDir(), "replica.json")
	var raw struct {
		Replica json.RawMessage `json:"replica"`
	}
	_ = json.Unmarshal([]byte(out), &raw)
	if err := os.WriteFile(file, raw.Replica, 0o600); err != nil {
		t.Fatal(err)
	}
	in := b.mustCLI("rules", "test", "--from", "alice", "--replica", file, "LOCAL-999")
	var from struct {
		Create *struct {
			Assignee *struct {
				Email string `json:"email"`
			} `json:"assignee"`
			Reporter *struct{} `json:"reporter"`
			Type     string    `json:"type"`
			Due      string    `json:"due"`
			Fields   map[string]struct {
				Kind string `json:"kind"`
				Text string `json:"text"`
			} `json:"fields"`
			Extra map[string]string `json:"extra"`
		} `json:"create"`
	}
	if err := json.Unmarshal([]byte(in), &from); err != nil {
		t.Fatalf("rules test --from: %v: %s", err, in)
	}
	c := from.Create
	if c == nil || c.Assignee == nil || c.Assignee.Email != "ann@b.example" || c.Reporter != nil || c.Type != "Bug" || c.Due != "2027-01-31" ||
		c.Fields["Tier"].Kind != "option" || c.Fields["Effort"].Text != "3" || c.Extra["reporter at alice"] != "zed@a.example" {
		t.Fatalf("rules test --from does not show the new fields as B would land them: %s", in)
	}
	if strings.Contains(in, "ann@shared.example") || strings.Contains(in, "ann@a.example") {
		t.Fatalf("the shared or A's identity landed on B: %s", in)
	}
}
