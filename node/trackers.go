package node

import (
	"fmt"
	"path/filepath"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/config"
)

// openTracker opens the tracker adapter that the config names. The embedded
// local tracker is also returned as such, for the issue commands.
func openTracker(home string, cfg *config.Config, opts Options) (adapters.Tracker, *local.Tracker, error) {
	switch cfg.Tracker.Type {
	case "local":
		lt, err := local.Open(filepath.Join(home, TrackerDir), local.Options{Prefix: cfg.Tracker.Prefix, SyncWrites: !opts.NoSync, Logger: opts.Logger})
		if err != nil {
			return nil, nil, fmt.Errorf("open local tracker: %w", err)
		}
		return lt, lt, nil
	default:
		return nil, nil, fmt.Errorf("tracker.type %q: no adapter for it in this build", cfg.Tracker.Type)
	}
}

// Tracker is the node's tracker adapter (for benchmarks and tools that
// drive the tracker directly, in-process).
func (n *Node) Tracker() adapters.Tracker { return n.tracker }
