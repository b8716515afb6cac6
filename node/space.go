package node

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/store"
)

// EnvDiskReserve overrides the free space a node keeps on its home's
// filesystem (bytes, or with a KiB/MiB/GiB suffix; default 16MiB).
const EnvDiskReserve = "ISSUEMESH_DISK_RESERVE"

// spacePoll is how often a node refused for lack of space looks again.
const spacePoll = 500 * time.Millisecond

// newSpaceGuard watches the free space of the home: the sync log and the
// local tracker refuse their writes below the reserve (see diskspace).
func newSpaceGuard(home string, opts Options, log *slog.Logger) *diskspace.Guard {
	reserve := opts.DiskReserve
	if v := os.Getenv(EnvDiskReserve); v != "" && reserve == 0 {
		r, err := parseSize(v)
		if err != nil {
			log.Warn("ignoring a bad disk reserve; using the default", "env", EnvDiskReserve, "value", v, "err", err)
		} else {
			reserve = r
		}
	}
	g := diskspace.New(home, reserve, log)
	g.Watch(filepath.Join(home, StoreDir))
	return g
}

// parseSize reads "16777216", "16MiB", "512KiB" or "1GiB".
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v < 0 {
		return 0, errors.New("want a number of bytes, optionally with KiB, MiB or GiB")
	}
	return v * mult, nil
}

// spaceWaiter waits until the home has room again (true), or ctx ends.
// Nothing is taken from the tracker's change feed meanwhile: its cursor
// stays where it is, so the feed holds what waits.
func spaceWaiter(space *diskspace.Guard) func(context.Context) bool {
	return func(ctx context.Context) bool { return waitSpace(ctx, space) }
}

func waitSpace(ctx context.Context, space *diskspace.Guard) bool {
	t := time.NewTicker(spacePoll)
	defer t.Stop()
	for space.Check() != nil {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// diskErrors is the errors entry of a home too full to write (none while
// there is room).
func diskErrors(space *diskspace.Guard) []store.Blocked {
	st := space.Status()
	if !st.Low {
		return nil
	}
	return []store.Blocked{{Peer: st.Path, Dir: DirDisk, Error: st.Error, Since: st.Since}}
}
