package node

import (
	"context"
	"log/slog"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/internal/runlock"
	"github.com/issuemesh/issuemesh/node/backup"
)

// homeOf describes the home at dir to package backup.
func homeOf(dir string) backup.Home {
	return backup.Home{
		Dir: dir, StoreDir: StoreDir, TrackerDir: TrackerDir, SocketFile: SocketFile, FeedCursor: triggerName, Locked: IsLocked,
		Runtime: []string{runlock.PIDFile, attachTmp, gcFile, gcFile + ".tmp"},
		OpenTracker: func(cfg *config.Config, log *slog.Logger) (adapters.Tracker, error) {
			tr, _, err := openTracker(dir, cfg, Options{Logger: log}, newSpaceGuard(dir, Options{}, log), nil)
			return tr, err
		},
	}
}

// Doctor checks the home offline; the node must not be running (see
// backup.Doctor).
func Doctor(ctx context.Context, home string, log *slog.Logger) (*backup.DoctorReport, error) {
	return backup.Doctor(ctx, homeOf(home), log)
}
