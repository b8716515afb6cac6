package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/issuemesh/issuemesh/api"
)

// printLife prints the home's size, the last GC and the restarted services
// of a status.
func printLife(w io.Writer, st api.Status) {
	line := fmt.Sprintf("home %s", mib(st.Home.HomeBytes))
	if gc := st.Home.LastGC; gc != nil {
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

// defaultMemoryLimit is the floor of the Go runtime's soft memory limit of
// a running node unless GOMEMLIMIT says otherwise. Without a limit the heap
// grows to twice what is live between collections (GOGC=100), and what is
// live swings by tens of MB as Badger's memtable arenas are allocated and
// dropped under load: `make soak` measured 200 to 280 MB of anonymous RSS
// for 40 to 140 MB live, and 75 to 90 MB with the limit (docs/engine.md).
const defaultMemoryLimit = 96 << 20

// limitMemory keeps the soft memory limit at the larger of
// defaultMemoryLimit and 1.5 times the live heap of the last collection,
// checked every 5 s until ctx ends: the collector runs early while the
// node is small, and a node whose live data outgrows the floor is not made
// to collect without pause. Nothing is done when GOMEMLIMIT is set.
func limitMemory(ctx context.Context) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(live)
		limit := int64(defaultMemoryLimit)
		if live[0].Value.Kind() == metrics.KindUint64 {
			limit = max(limit, int64(live[0].Value.Uint64()*3/2))
		}
		debug.SetMemoryLimit(limit)
	}
	set()
	go func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				set()
			}
		}
	}()
}
