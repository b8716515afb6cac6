package config

import (
	"strings"
	"testing"
)

func TestNetworkPolicy(t *testing.T) {
	base := "tracker: {type: local, prefix: LOCAL}\n"
	good := base + "connections:\n  net:team:\n    owner: alice\n    policy: {priority: owner, status: newest}\n"
	c, err := Parse("config.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if nc := c.NetworkConnection("team"); nc.Owner != "alice" || nc.Policy["priority"] != PolicyOwner {
		t.Fatalf("net:team entry: %+v", nc)
	}
	if nc := c.NetworkConnection("other"); nc.Owner != "" {
		t.Fatalf("another network got %+v", nc)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"connections:\n  net:team:\n    policy: {priority: owner}\n", "needs connections.net:team.owner"},
		{"connections:\n  net:team:\n    owner: a\n    policy: {priority: mine}\n", `"mine" is not one of newest, owner`},
		{"connections:\n  bob:\n    owner: a\n    policy: {priority: owner}\n", "networks only"},
	} {
		if _, err := Parse("config.yaml", []byte(base+tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tt.yaml, err, tt.want)
		}
	}
}
