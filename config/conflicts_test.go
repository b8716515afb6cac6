package config

import (
	"strings"
	"testing"
)

func TestConflictPolicies(t *testing.T) {
	base := "tracker: {type: local, prefix: LOCAL}\n"
	good := base + "connections:\n  bob:\n    conflicts: {status: hold, cf.Severity: ours, priority: theirs, summary: newest}\n  net:team:\n    conflicts: {status: hold}\n"
	c, err := Parse("config.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if cc := c.Connection("12D3KooWx", "bob"); cc.Conflicts["status"] != ConflictHold || cc.Conflicts["cf.Severity"] != ConflictOurs {
		t.Fatalf("bob's entry: %+v", cc)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"connections:\n  bob:\n    conflicts: {status: mine}\n", `config.yaml: connections.bob.conflicts.status: "mine" is not one of newest, ours, theirs, hold`},
		{"connections:\n  net:team:\n    conflicts: {status: ours}\n", `connections.net:team.conflicts.status: "ours" needs one peer`},
		{"connections:\n  bob:\n    conflicts: {\"\": hold}\n", "connections.bob.conflicts: a field name is empty"},
	} {
		if _, err := Parse("config.yaml", []byte(base+tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want an error with %q", tt.yaml, err, tt.want)
		}
	}
}
