package config

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"empty file takes defaults", "", ""},
		{"full", "listen: [/ip4/127.0.0.1/tcp/4001]\ntracker: {type: local}\nreachability: private\nlog: debug\n", ""},
		{"unknown key", "listn: [/ip4/127.0.0.1/tcp/1]\n", "field listn not found"},
		{"bad multiaddr", "listen: [nonsense]\n", `listen[0]: "nonsense" is not a multiaddr`},
		{"no transport", "listen: [/ip4/127.0.0.1]\n", "neither /tcp nor /quic-v1"},
		{"empty listen", "listen: []\n", "listen: at least one address"},
		{"bad tracker", "tracker: {type: jira2}\n", `tracker.type: "jira2"`},
		{"bad reachability", "reachability: maybe\n", `reachability: "maybe"`},
		{"bad log", "log: loud\n", `log: "loud"`},
		{"bad yaml", "listen: [\n", "config.yaml"},
		{"connections", "connections:\n  partner:\n    status_map: {Resolved: Done}\n    trigger: '\"sync\" in issue.labels'\n", ""},
		{"map not invertible", "connections:\n  partner:\n    status_map: {Resolved: Done, Closed: Done}\n", "both map to \"Done\""},
		{"unknown connection key", "connections:\n  partner:\n    statusmap: {}\n", "field statusmap not found"},
		{"clock skew", "max_clock_skew: 10m\n", ""},
		{"negative clock skew", "max_clock_skew: -1m\n", "max_clock_skew: -1m0s is negative"},
		{"bad clock skew", "max_clock_skew: soon\n", "config.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("home/config.yaml", []byte(tt.yaml))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.Tracker.Type != "local" {
					t.Fatalf("tracker type %q", c.Tracker.Type)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "home/config.yaml") {
				t.Fatalf("error %v does not name the file", err)
			}
		})
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	home := t.TempDir()
	c := Default()
	c.Listen = []string{"/ip4/127.0.0.1/tcp/5001"}
	if err := c.Write(home); err != nil {
		t.Fatal(err)
	}
	got, err := Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if got.Listen[0] != c.Listen[0] || got.Reachability != "auto" || !got.MDNS {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "init") {
		t.Fatalf("missing config error %v should say to run init", err)
	}
}

func TestMaxClockSkew(t *testing.T) {
	c, err := Parse("config.yaml", []byte("max_clock_skew: 90s\n"))
	if err != nil || c.MaxClockSkew.Seconds() != 90 {
		t.Fatalf("max_clock_skew: %v, %v", c, err)
	}
	if c, _ := Parse("config.yaml", nil); c.MaxClockSkew != 0 {
		t.Fatalf("default max_clock_skew %v, want 0 (the node's default, 5m)", c.MaxClockSkew)
	}
}
