// Command bench measures issuemesh against the limit of its own stack, on
// this machine, in one run (issue #8; targets in DESIGN.md section 9).
//
// Every figure uses the real stack: in-process nodes made with node.Init,
// node.Open and Node.Run, each in its own temporary home, talking over
// loopback TCP through go-libp2p, with durable Badger sync logs and local
// trackers on every side (Options.NoSync false), except where a figure says
// it only builds state that it does not time.
//
//  1. propagation: an edit in A's local tracker until it is visible in B's
//     (B's OnChange callback, then Get), one edit at a time; p50/p90/p99/max.
//  2. throughput: issue updates of about 1 KiB from several goroutines on A
//     until B has them all; updates per second, CPU (process CPU time over
//     wall time) and memory (peak RSS, peak Go heap).
//  3. first sync: existing issues on A, then AddPeer on both; seconds until
//     A's log has nothing pending and every twin is linked (acked).
//  4. fan-out: updates across 5 and 10 nodes until every node converged:
//     one gossipsub network that every node joins by default (-topology
//     star for pairwise connections to a hub, -topology mesh for pairwise
//     connections between all). Over a network, a star of the largest
//     node count runs too, in the same run, and the network's time over
//     the star's is printed.
//  5. memory: RSS of an idle `issuemesh run` process, and of one opened on a
//     home that holds many synced twins.
//  7. scale: first sync, RSS, home size, status time and time to ready
//     at 1,000, 10,000 and 100,000 twins (-million: and 1,000,000).
//  8. requests: tracker requests per synced change (created twin, field
//     update, comment, file) on the source and the destination, for the
//     local tracker and the real Redmine and RT when installed.
//  9. latency: tracker to tracker, Redmine to RT and back (real servers),
//     split into poll wait, read, rules and log, network, apply and ack.
//  6. baseline: the stack's ceiling, two bare go-libp2p hosts (p2p.NewHost)
//     streaming 1 KiB msgpack records with durable Badger appends on both
//     sides, a batch per transaction and an ack per batch; figure 2 is
//     printed as a ratio of it.
//
// Usage:
//
//	go run ./bench [-quick] [-only NAME[,NAME]] [-topology network|star|mesh] [-million]
//	    [-cpuprofile FILE] [-memprofile FILE] [-blockprofile FILE] [-waits] [-v]
//
// -waits prints, for the throughput and first-sync figures, where the
// nodes' goroutines spend their time (stacks sampled every 10 ms): the
// durable path is bound by waiting, which a CPU profile does not show.
//
// make bench runs the full counts (a few minutes on 2 cores); make
// bench-quick runs every figure with smaller counts (under a minute). The
// output is a table, then one machine-readable line per figure:
// "name value unit".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// counts are the sizes of one run.
type counts struct {
	propagationEdits int
	tpIssues         int
	tpUpdates        int
	firstSync        int
	fanoutIssues     int
	fanoutUpdates    int
	fanoutNodes      []int
	memTwins         int
	baseRecords      int
	baseRTT          int
	scaleTwins       []int
}

var fullCounts = counts{
	propagationEdits: 1000,
	tpIssues:         1000, tpUpdates: 20000,
	firstSync:    10000,
	fanoutIssues: 100, fanoutUpdates: 1000, fanoutNodes: []int{5, 10},
	memTwins:    100000,
	baseRecords: 20000, baseRTT: 1000,
	scaleTwins: []int{1000, 10000, 100000},
}

var quickCounts = counts{
	propagationEdits: 300,
	tpIssues:         500, tpUpdates: 5000,
	firstSync:    2000,
	fanoutIssues: 20, fanoutUpdates: 200, fanoutNodes: []int{5, 10},
	memTwins:    5000,
	baseRecords: 5000, baseRTT: 300,
	scaleTwins: []int{1000, 10000},
}

// figure names, in the order they run (the baseline first: figure 2 is a
// ratio of it).
var figures = []string{"baseline", "propagation", "throughput", "firstsync", "fanout", "memory", "scale", "requests", "latency"}

// result is one measured number.
type result struct {
	name   string // machine-readable name
	value  float64
	unit   string
	target string // DESIGN section 9, "" if none
	note   string
}

// env is what every figure gets.
type env struct {
	c     counts
	quick bool
	waits bool
	// verbose prints progress of the long figures (-v).
	verbose bool
	// trackers limits the requests figure to these kinds (-trackers).
	trackers string
	// memprofile is where heapProfile writes, "" for nowhere.
	memprofile string
	topology   topology
	log        *slog.Logger
	txt        *text
	tmp        string
	results    []result
	baseline   float64 // records/s, 0 until measured
}

func (e *env) add(r result) { e.results = append(e.results, r) }

// heapProfile writes the heap profile (-memprofile), if asked for. Figures
// call it at the end of their timed part, while their nodes still run.
func (e *env) heapProfile() {
	if e.memprofile == "" {
		return
	}
	if err := writeProfile("heap", e.memprofile); err != nil {
		fmt.Fprintln(os.Stderr, "bench: heap profile:", err)
	}
}

// dir makes a fresh directory for one figure's homes.
func (e *env) dir(name string) (string, error) { return os.MkdirTemp(e.tmp, name+"-") }

func main() {
	quick := flag.Bool("quick", false, "smaller counts: every figure in under a minute")
	only := flag.String("only", "", "run only these figures (comma-separated): "+strings.Join(figures, ", "))
	topo := flag.String("topology", "network", "connections of the fan-out figure: network (one gossipsub network), star or mesh (pairwise)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to FILE")
	memprofile := flag.String("memprofile", "", "write a heap profile to FILE at the end of each figure's timed part, nodes still running (the last figure run wins)")
	blockprofile := flag.String("blockprofile", "", "write a profile of where goroutines waited (channels, locks, select) to FILE")
	waits := flag.Bool("waits", false, "print where the node's goroutines wait during the throughput and first-sync figures (sampled stacks)")
	trackers := flag.String("trackers", "", "the requests figure measures only these trackers (comma-separated): local, redmine, rt")
	scaleSizes := flag.String("scale", "", "the scale figure's twin counts (comma-separated), instead of 1000,10000,100000")
	million := flag.Bool("million", false, "the scale figure goes on to 1,000,000 twins (about half an hour here)")
	verbose := flag.Bool("v", false, "show the nodes' warnings and errors")
	logLevel := flag.String("log", "warn", "with -v, the lowest level of the nodes' log lines shown: debug, info, warn or error")
	flag.Parse()
	if *scaleSizes != "" {
		var sizes []int
		for _, f := range strings.Split(*scaleSizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "bench: -scale %q: want twin counts like 1000,10000\n", *scaleSizes)
				os.Exit(2)
			}
			sizes = append(sizes, n)
		}
		fullCounts.scaleTwins, quickCounts.scaleTwins = sizes, sizes
	} else if *million {
		fullCounts.scaleTwins = append(fullCounts.scaleTwins, 1000000)
		quickCounts.scaleTwins = append(quickCounts.scaleTwins, 100000, 1000000)
	}

	if err := run(*quick, *waits, *only, *topo, *cpuprofile, *memprofile, *blockprofile, *verbose, *logLevel, *trackers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(quick, waits bool, only, topo, cpuprofile, memprofile, blockprofile string, verbose bool, logLevel, trackers string) error {
	want := figures
	if only != "" {
		want = strings.Split(only, ",")
		for _, w := range want {
			if !slices.Contains(figures, w) {
				return fmt.Errorf("-only %q: no such figure; figures are %s", w, strings.Join(figures, ", "))
			}
		}
	}
	e := &env{c: fullCounts, quick: quick, waits: waits, memprofile: memprofile, txt: newText(8), verbose: verbose, trackers: trackers}
	if quick {
		e.c = quickCounts
	}
	switch topo {
	case "network":
		e.topology = gossipNetwork{}
	case "star":
		e.topology = star{}
	case "mesh":
		e.topology = mesh{}
	default:
		return fmt.Errorf("-topology %q: want network, star or mesh", topo)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log %q: want debug, info, warn or error", logLevel)
	}
	var logOut io.Writer = io.Discard
	if verbose {
		logOut = os.Stderr
	}
	e.log = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))

	tmp, err := os.MkdirTemp("", "imbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e.tmp = tmp

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	if blockprofile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		defer func() {
			if err := writeProfile("block", blockprofile); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	mode := "full"
	if quick {
		mode = "quick"
	}
	fmt.Printf("issuemesh bench (%s counts): %d CPUs (%s), %s, load %s\n",
		mode, runtime.NumCPU(), cpuModel(), runtime.Version(), loadavg())
	start := time.Now()
	var errs []error
	for _, f := range figures {
		if !slices.Contains(want, f) {
			continue
		}
		load0 := loadavg()
		fmt.Fprintf(os.Stderr, "-- %s (load %s)\n", f, load0)
		t0 := time.Now()
		n := len(e.results)
		var err error
		switch f {
		case "baseline":
			err = baseline(ctx, e)
		case "propagation":
			err = propagation(ctx, e)
		case "throughput":
			err = throughput(ctx, e)
		case "firstsync":
			err = firstSync(ctx, e)
		case "fanout":
			err = fanout(ctx, e)
		case "memory":
			err = memory(ctx, e)
		case "scale":
			err = scale(ctx, e)
		case "requests":
			err = requests(ctx, e)
		case "latency":
			err = latency(ctx, e)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			fmt.Fprintf(os.Stderr, "   %s failed after %.1fs: %v\n", f, time.Since(t0).Seconds(), err)
			continue
		}
		load1 := loadavg()
		for i := range e.results[n:] {
			r := &e.results[n+i]
			r.note = strings.TrimPrefix(r.note+"; load "+load0+"->"+load1, "; ")
			fmt.Fprintf(os.Stderr, "   %s %s %s\n", r.name, fmtValue(r.value), r.unit)
		}
		fmt.Fprintf(os.Stderr, "   done in %.1fs, load %s\n", time.Since(t0).Seconds(), loadavg())
		if ctx.Err() != nil {
			break
		}
	}
	printTable(os.Stdout, e.results)
	fmt.Printf("\ntotal %.0fs, load at the end %s\n\n", time.Since(start).Seconds(), loadavg())
	for _, r := range e.results {
		fmt.Printf("%s %s %s\n", r.name, fmtValue(r.value), r.unit)
	}
	return errors.Join(errs...)
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fmtValue(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	case v >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func printTable(w io.Writer, rs []result) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\ttarget\tnote")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, fmtValue(r.value), r.unit, r.target, r.note)
	}
	tw.Flush()
}

// cpuModel is the "model name" of the first CPU in /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
