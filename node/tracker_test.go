package node

import (
	"path/filepath"
	"testing"

	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/config"
)

// The benchmarks (bench/cluster.go) drive a node's local tracker through
// Tracker(); a wrapper there made every figure of make bench fail.
func TestTrackerIsTheAdapterAsOpened(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n")
	cfg := config.Default()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	if _, err := Init(home, cfg); err != nil {
		t.Fatal(err)
	}
	n, err := Open(home, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, ok := n.Tracker().(*local.Tracker); !ok {
		t.Fatalf("Tracker() is %T, want *local.Tracker", n.Tracker())
	}
}
