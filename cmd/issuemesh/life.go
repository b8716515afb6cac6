package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/issuemesh/issuemesh/node"
)

// printLife prints the home's size, the last GC and the restarted services
// of a status.
func printLife(w io.Writer, st node.Status) {
	line := fmt.Sprintf("home %s", mib(st.Disk.HomeBytes))
	if gc := st.Disk.LastGC; gc != nil {
		line += fmt.Sprintf(", last GC %s (%s to %s, %d value-log files rewritten, took %s)",
			gc.Start.Local().Format(time.DateTime), mib(gc.Before), mib(gc.After), gc.Rewrites, gc.Took.Round(time.Millisecond))
		if gc.Error != "" {
			line += ": failed: " + gc.Error
		}
	} else {
		line += ", no GC yet"
	}
	fmt.Fprintln(w, line)
	for _, r := range st.Restarts {
		fmt.Fprintf(w, "service %s restarted %d times, last at %s: %s\n", r.Service, r.Restarts, r.Last.Local().Format(time.DateTime), firstLine(r.LastError))
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// defaultMemoryLimit is the Go runtime's soft memory limit of a running
// node unless GOMEMLIMIT says otherwise. Without it the heap grows to
// twice what is live between collections (GOGC=100), and what is live
// swings by tens of MB as Badger's memtable arenas are allocated and
// dropped under load: RSS measured 200 to 280 MB anonymous in `make soak`
// for 40 to 140 MB live. The limit makes the collector run earlier instead;
// a node whose live heap outgrows it only collects more often (the runtime
// caps that at half the CPU).
const defaultMemoryLimit = 96 << 20

// setMemoryLimit applies defaultMemoryLimit unless GOMEMLIMIT is set.
func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
