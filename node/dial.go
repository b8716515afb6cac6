package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/internal/runlock"
	"github.com/issuemesh/issuemesh/store"
)

// Dial connects to the node in home: over its admin socket when it runs,
// otherwise by opening the home in-process (the client's Close releases
// it), so that every command works whether or not a node runs.
func Dial(home string, log *slog.Logger) (*api.Client, error) {
	path := filepath.Join(home, SocketFile)
	// A node that is starting holds its files before it answers on the
	// socket: wait for one or the other for a while.
	deadline := time.Now().Add(lockWait)
	for {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return api.NewSocketClient(path), nil
		}
		n, err := Open(home, Options{Logger: log})
		if err == nil {
			return api.NewLocalClient(n.Handler(), n), nil
		}
		if !IsLocked(err) || time.Now().After(deadline) {
			if pid, ok := runlock.RunningPID(home); ok && IsLocked(err) {
				return nil, fmt.Errorf("a node runs on %s (PID %d) but does not answer on %s yet; wait until it has started, or read its log: %w", home, pid, path, err)
			}
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockWait is how long a command waits for a node's files held by another
// process (a node starting or stopping, or another command).
const lockWait = 10 * time.Second

// IsLocked reports whether opening a home failed because another process
// holds its databases.
func IsLocked(err error) bool {
	return err != nil && (errors.Is(err, store.ErrLocked) || strings.Contains(err.Error(), "Cannot acquire directory lock"))
}
