package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/node"
)

// scale: figure 7, how costs grow with the number of twins. For each size,
// A's local tracker gets that many issues of ~1 KiB and a first sync with
// B links them all (both nodes without fsync: at a million issues a
// durable first sync would take the better part of an hour here; figure 3
// is the durable one). Then A's home is opened by a real `issuemesh run`
// process, as a restart would: the time until its admin API answers with
// every twin, its settled RSS, the time of a status (the API call and the
// `issuemesh status` command), and the home's size on disk. Each size is
// ten times the one before, so a cost whose ratio to the previous step is
// above 10 grows faster than linearly.
func scale(ctx context.Context, e *env) (err error) {
	dir, err := e.dir("scale")
	if err != nil {
		return err
	}
	bin, err := buildBinary(ctx, dir)
	if err != nil {
		return err
	}
	type step struct {
		n                     int
		sync, ready, api, cli time.Duration
		rss, home             float64
	}
	var steps []step
	for _, n := range e.c.scaleTwins {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sdir := filepath.Join(dir, fmt.Sprint(n))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "   %d twins: building (load %s)\n", n, loadavg())
		s := step{n: n}
		var home string
		s.sync, home, err = scaleBuild(ctx, e, sdir, n)
		if err != nil {
			return fmt.Errorf("%d twins: %w", n, err)
		}
		if s.home, err = dirSize(home); err != nil {
			return err
		}
		logSize, _ := dirSize(filepath.Join(home, node.StoreDir))
		rss, err := processRSS(ctx, bin, home, n)
		if err != nil {
			return fmt.Errorf("%d twins, issuemesh run: %w", n, err)
		}
		s.rss, s.ready, s.api, s.cli = rss.settled, rss.ready, rss.statusAPI, rss.statusCLI
		steps = append(steps, s)
		// The homes of a million twins take gigabytes: keep only the
		// current one.
		if err := os.RemoveAll(sdir); err != nil {
			return err
		}
		ratio := func(cur, prev float64) string {
			if len(steps) < 2 || prev <= 0 {
				return ""
			}
			r := cur / prev
			mark := ""
			if r > float64(n)/float64(steps[len(steps)-2].n) {
				mark = ", faster than linear"
			}
			return fmt.Sprintf("; x%.2f the step before%s", r, mark)
		}
		var p step
		if len(steps) >= 2 {
			p = steps[len(steps)-2]
		}
		tag := fmt.Sprintf("scale_%d_", n)
		e.add(result{tag + "firstsync", s.sync.Seconds(), "s", "", fmt.Sprintf("%d issues of ~1 KiB, no fsync%s", n, ratio(s.sync.Seconds(), p.sync.Seconds()))})
		e.add(result{tag + "rss", s.rss, "MB", "", fmt.Sprintf("issuemesh run, settled; %s%s", rss, ratio(s.rss, p.rss))})
		e.add(result{tag + "home", s.home / 1e6, "MB", "", fmt.Sprintf("A's home on disk (sync log %.0f MB)", logSize/1e6) + ratio(s.home, p.home)})
		e.add(result{tag + "status_api", ms(s.api), "ms", "", "GET /v1/status, median of 5" + ratio(ms(s.api), ms(p.api))})
		e.add(result{tag + "status_cli", ms(s.cli), "ms", "", "`issuemesh status`, its own process, median of 5" + ratio(ms(s.cli), ms(p.cli))})
		e.add(result{tag + "ready", s.ready.Seconds(), "s", "", "issuemesh run until status answers with every twin" + ratio(s.ready.Seconds(), p.ready.Seconds())})
	}
	var faster []string
	for _, r := range e.results {
		if strings.HasPrefix(r.name, "scale_") && strings.Contains(r.note, "faster than linear") {
			faster = append(faster, r.name)
		}
	}
	if len(faster) > 0 {
		fmt.Fprintf(os.Stderr, "   grows faster than linearly: %s\n", strings.Join(faster, ", "))
	}
	return nil
}

// scaleBuild makes n issues on a fresh node A, pairs it with B, and
// returns the time from the pairing until A has every issue acked, and
// A's home (both nodes stopped).
func scaleBuild(ctx context.Context, e *env, dir string, n int) (elapsed time.Duration, home string, err error) {
	c := &cluster{dir: dir, log: e.log}
	defer func() { err = errors.Join(err, c.stop()) }()
	a, err := c.add("a", true)
	if err != nil {
		return 0, "", err
	}
	b, err := c.add("b", true)
	if err != nil {
		return 0, "", err
	}
	if _, err := create(ctx, a, n, "sc", e.txt); err != nil {
		return 0, "", err
	}
	var waits *waitSampler
	if e.waits {
		waits = startWaits()
	}
	t0 := time.Now()
	if err := connect(ctx, a, b); err != nil {
		return 0, "", err
	}
	if waits != nil {
		waits.end(os.Stderr, fmt.Sprintf("AddPeer with %d issues", n))
	}
	timeout := 10*time.Minute + time.Duration(n)*2*time.Millisecond
	if e.verbose {
		fmt.Fprintf(os.Stderr, "   AddPeer on both took %.1fs\n", time.Since(t0).Seconds())
	}
	last := time.Now()
	if err := poll(timeout, "A has every issue acked", nil, costly, func() (bool, error) {
		if e.verbose && time.Since(last) > 2*time.Second {
			last = time.Now()
			fmt.Fprintf(os.Stderr, "   %.0fs: %s\n", time.Since(t0).Seconds(), c.queues())
		}
		return a.acked(n)
	}); err != nil {
		return 0, "", fmt.Errorf("%w (%s)", err, c.queues())
	}
	return time.Since(t0), a.home, nil
}
