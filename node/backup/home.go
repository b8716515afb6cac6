// Package backup holds the offline operations on a node's home: a backup
// of a running node's home (Write), a new home made from a backup
// (Restore, which marks every peer for a resync) and `issuemesh doctor`,
// an offline check of a home (Doctor). It works on the home's files and
// the sync log and does not import node: the node describes its home in a
// Home and keeps thin calls. It owns no step of the sync path; it keeps
// the path's durable state (step 3's sync log) recoverable.
package backup

import (
	"log/slog"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
)

// Home is a node's home as this package sees it: its folder, the names of
// its parts, and what it needs from the node.
type Home struct {
	Dir        string
	StoreDir   string // the sync log's folder in Dir
	TrackerDir string // the embedded tracker's folder in Dir
	SocketFile string // the admin socket a running node listens on
	// Runtime names the home's other runtime state, which a backup leaves
	// out (with the databases and the socket): top-level names in Dir.
	Runtime []string
	// FeedCursor is the sync log's cursor of the tracker's change feed.
	FeedCursor string
	// OpenTracker opens the home's tracker offline (doctor).
	OpenTracker func(cfg *config.Config, log *slog.Logger) (adapters.Tracker, error)
	// Locked reports whether opening a database failed because another
	// process holds it.
	Locked func(error) bool
}
