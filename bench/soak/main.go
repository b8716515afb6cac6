// Command soak runs real issuemesh node processes under continuous load for
// a while and samples what they take (issue 13): do the home's size and RSS
// follow the live twins, not the events ever processed?
//
// It builds the binary, creates -nodes homes on loopback, pairs every node
// with the first, creates -issues issues with descriptions of about 2 KB on
// the first node (they sync to every node), then, for -duration, keeps
// -workers goroutines per node editing summaries of random issues through
// each node's admin API, with a comment every 100th edit and a new issue per
// node every minute. Every 30 s (-every) it samples each process's RSS
// (VmRSS, split into anonymous memory and mapped files) and home size
// (blocks allocated), and prints a table. At the end it waits until the
// queues drain and every node holds the same summaries, samples once more,
// and again after one more sampling period idle, and checks the targets on
// that last sample: each home under -max-home MB and each RSS under
// -max-rss MB. It exits non-zero when a target is missed or the nodes do
// not converge.
//
// Usage (make soak; SOAK=30m for a longer run):
//
//	go run ./bench/soak [-duration 10m] [-nodes 2] [-issues 50] [-workers 4]
//	    [-every 30s] [-max-home 100] [-max-rss 150] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/node"
	"github.com/issuemesh/issuemesh/store"
)

type params struct {
	duration, every  time.Duration
	nodes, issues    int
	workers          int
	maxHome, maxRSS  float64
	keep             bool
	commentEvery     int
	createEvery      time.Duration
	convergeDeadline time.Duration
}

func main() {
	var p params
	flag.DurationVar(&p.duration, "duration", 10*time.Minute, "how long the nodes are kept busy")
	flag.DurationVar(&p.every, "every", 30*time.Second, "how often RSS and home sizes are sampled")
	flag.IntVar(&p.nodes, "nodes", 2, "node processes (two or more)")
	flag.IntVar(&p.issues, "issues", 50, "issues created at the start and edited")
	flag.IntVar(&p.workers, "workers", 4, "editing goroutines per node")
	flag.Float64Var(&p.maxHome, "max-home", 100, "target: each home's size at the end, MB")
	flag.Float64Var(&p.maxRSS, "max-rss", 150, "target: each node's RSS at the end, MB")
	flag.BoolVar(&p.keep, "keep", false, "keep the homes (printed) instead of removing them")
	flag.Parse()
	p.commentEvery, p.createEvery, p.convergeDeadline = 100, time.Minute, 5*time.Minute
	if p.nodes < 2 {
		fmt.Fprintln(os.Stderr, "soak: -nodes must be 2 or more")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, p, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// proc is one node process.
type proc struct {
	name, home string
	cmd        *exec.Cmd
	exited     chan struct{}
	cl         *api.Client
	keys       []string // issue keys edited on this node
	mu         sync.Mutex
	edits      atomic.Int64
	errs       atomic.Int64
	lastErr    atomic.Value
}

// sample is one row of the table.
type sample struct {
	at    time.Duration
	node  string
	edits int64
	rss   rss
	home  float64 // MB
	queue int
}

type rss struct{ total, anon, file float64 } // MB

func run(ctx context.Context, p params, out io.Writer) error {
	dir, err := os.MkdirTemp("", "issuemesh-soak-")
	if err != nil {
		return err
	}
	if p.keep {
		fmt.Fprintln(out, "homes in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin, err := build(ctx, dir)
	if err != nil {
		return err
	}
	procs := make([]*proc, p.nodes)
	for i := range procs {
		pr, err := start(ctx, bin, dir, fmt.Sprintf("n%d", i+1))
		if err != nil {
			return err
		}
		defer pr.stop()
		procs[i] = pr
	}
	for _, pr := range procs[1:] {
		if err := pair(ctx, procs[0], pr); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "soak: %d nodes, %d issues, %d workers per node, %s; sampling every %s\n", p.nodes, p.issues, p.workers, p.duration, p.every)
	if err := seed(ctx, p, procs); err != nil {
		return err
	}
	began := time.Now()
	var samples []sample
	take := func() {
		for _, pr := range procs {
			samples = append(samples, pr.sample(ctx, time.Since(began)))
		}
		printRows(out, samples[len(samples)-len(procs):], len(samples) == len(procs))
	}
	take()
	lctx, cancel := context.WithTimeout(ctx, p.duration)
	var wg sync.WaitGroup
	for _, pr := range procs {
		for w := range p.workers {
			wg.Add(1)
			go func() { defer wg.Done(); pr.edit(lctx, p, w) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); pr.creates(lctx, p) }()
	}
	tick := time.NewTicker(p.every)
loop:
	for {
		select {
		case <-lctx.Done():
			break loop
		case <-tick.C:
			take()
		}
	}
	tick.Stop()
	cancel()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var total int64
	for _, pr := range procs {
		total += pr.edits.Load()
		if e := pr.errs.Load(); e > 0 {
			fmt.Fprintf(out, "%s: %d failed API calls, the last: %v\n", pr.name, e, pr.lastErr.Load())
		}
	}
	fmt.Fprintf(out, "load stopped after %s: %d edits (%.0f/s); waiting for convergence\n", time.Since(began).Round(time.Second), total, float64(total)/time.Since(began).Seconds())
	convErr := converge(ctx, p, procs)
	fmt.Fprintln(out, "after convergence:")
	take()
	// The issue's first measurement found nothing reclaimed after a minute
	// idle: the targets apply to the nodes idle for one sampling period.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(p.every):
	}
	fmt.Fprintf(out, "after %s idle:\n", p.every)
	take()
	return verdict(out, p, samples[len(samples)-len(procs):], convErr)
}

func build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "issuemesh")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/issuemesh")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/issuemesh (run soak from the repository): %w\n%s", err, out)
	}
	return bin, nil
}

func start(ctx context.Context, bin, dir, name string) (*proc, error) {
	home := filepath.Join(dir, name)
	init := exec.CommandContext(ctx, bin, "--home", home, "init", "--listen", "/ip4/127.0.0.1/tcp/0")
	if out, err := init.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("init %s: %w: %s", name, err, out)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--home", home, "run")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, home: home, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(pr.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := node.Dial(home, slog.New(slog.DiscardHandler))
		if err == nil && cl.Running() {
			pr.cl = cl
			return pr, nil
		}
		if cl != nil {
			cl.Close()
		}
		select {
		case <-pr.exited:
			return nil, fmt.Errorf("%s exited at start; see %s.log", name, filepath.Join(dir, name))
		default:
		}
		if time.Now().After(deadline) {
			pr.stop()
			return nil, fmt.Errorf("%s does not answer on its admin socket after 30s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (pr *proc) stop() {
	if pr.cmd.Process == nil {
		return
	}
	pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.exited:
	case <-time.After(30 * time.Second):
		pr.cmd.Process.Kill()
		<-pr.exited
	}
}

func (pr *proc) addr(ctx context.Context) (string, error) {
	var id api.IDInfo
	if err := pr.cl.Do(ctx, "GET", "/v1/id", nil, &id); err != nil {
		return "", err
	}
	for _, a := range id.Addrs {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") && !strings.Contains(a, "/tcp/0/") {
			return a, nil
		}
	}
	return "", fmt.Errorf("%s has no loopback TCP address: %v", pr.name, id.Addrs)
}

func pair(ctx context.Context, a, b *proc) error {
	for _, d := range [][2]*proc{{a, b}, {b, a}} {
		addr, err := d[1].addr(ctx)
		if err != nil {
			return err
		}
		if err := d[0].cl.Do(ctx, "POST", "/v1/peers", api.PeerInput{Addr: addr, Name: d[1].name}, nil); err != nil {
			return fmt.Errorf("peer add on %s: %w", d[0].name, err)
		}
	}
	return nil
}

// seed creates the issues on the first node and waits until every node
// holds them; each node then edits its own keys of them.
func seed(ctx context.Context, p params, procs []*proc) error {
	desc := strings.Repeat("A description of some length, as real issues have. ", 40)[:2000]
	for i := range p.issues {
		s := "soak " + strconv.Itoa(i)
		var v api.IssueView
		if err := procs[0].cl.Do(ctx, "POST", "/v1/issues", api.IssueInput{Summary: &s, Description: &desc}, &v); err != nil {
			return fmt.Errorf("create on %s: %w", procs[0].name, err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, pr := range procs {
		for {
			var is []api.IssueView
			if err := pr.cl.Do(ctx, "GET", "/v1/issues", nil, &is); err != nil {
				return err
			}
			if len(is) >= p.issues {
				for _, v := range is {
					pr.keys = append(pr.keys, v.Key)
				}
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s holds %d of the %d issues after 2 minutes", pr.name, len(is), p.issues)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func (pr *proc) failed(err error) {
	pr.errs.Add(1)
	pr.lastErr.Store(err.Error())
}

// edit changes summaries of random issues until ctx ends, with a comment
// every p.commentEvery edits.
func (pr *proc) edit(ctx context.Context, p params, w int) {
	r := rand.New(rand.NewPCG(uint64(w), uint64(len(pr.name))))
	for n := 0; ctx.Err() == nil; n++ {
		pr.mu.Lock()
		key := pr.keys[r.IntN(len(pr.keys))]
		pr.mu.Unlock()
		var err error
		if n%p.commentEvery == p.commentEvery-1 {
			err = pr.cl.Do(ctx, "POST", "/v1/issues/"+api.PathEscape(key)+"/comments",
				api.CommentInput{Body: fmt.Sprintf("comment %d of %s/%d", n, pr.name, w), Author: "soak"}, nil)
		} else {
			s := fmt.Sprintf("edit %d of %s/%d", n, pr.name, w)
			err = pr.cl.Do(ctx, "PATCH", "/v1/issues/"+api.PathEscape(key), api.IssueInput{Summary: &s}, nil)
		}
		switch {
		case err == nil:
			pr.edits.Add(1)
		case ctx.Err() == nil:
			pr.failed(err)
		}
	}
}

// creates adds an issue every p.createEvery until ctx ends; it joins the
// keys edited.
func (pr *proc) creates(ctx context.Context, p params) {
	tick := time.NewTicker(p.createEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := fmt.Sprintf("created %d on %s", i, pr.name)
		var v api.IssueView
		if err := pr.cl.Do(ctx, "POST", "/v1/issues", api.IssueInput{Summary: &s}, &v); err != nil {
			if ctx.Err() == nil {
				pr.failed(err)
			}
			continue
		}
		pr.mu.Lock()
		pr.keys = append(pr.keys, v.Key)
		pr.mu.Unlock()
	}
}

func (pr *proc) sample(ctx context.Context, at time.Duration) sample {
	s := sample{at: at, node: pr.name, edits: pr.edits.Load()}
	s.rss = procRSS(pr.cmd.Process.Pid)
	if b, err := store.DirSize(pr.home); err == nil {
		s.home = float64(b) / 1e6
	}
	var st api.Status
	if err := pr.cl.Do(ctx, "GET", "/v1/status", nil, &st); err == nil {
		s.queue = st.Pending + st.Incoming
	}
	return s
}

// procRSS reads VmRSS, RssAnon and RssFile+RssShmem of a process, in MB.
func procRSS(pid int) rss {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}
	}
	var r rss
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			r.total = kb / 1024
		case "RssAnon:":
			r.anon = kb / 1024
		case "RssFile:", "RssShmem:":
			r.file += kb / 1024
		}
	}
	return r
}

func printRows(out io.Writer, rows []sample, header bool) {
	tw := tabwriter.NewWriter(out, 8, 0, 2, ' ', tabwriter.AlignRight)
	if header {
		fmt.Fprintln(tw, "time\tnode\tedits\tRSS MB\tanon MB\tfile MB\thome MB\tqueue\t")
	}
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t\n", s.at.Round(time.Second), s.node, s.edits, s.rss.total, s.rss.anon, s.rss.file, s.home, s.queue)
	}
	tw.Flush()
}

// converge waits until no node has anything queued and every node holds
// the same summaries for the same twins.
func converge(ctx context.Context, p params, procs []*proc) error {
	deadline := time.Now().Add(p.convergeDeadline)
	var last string
	for time.Now().Before(deadline) {
		ok, why, err := converged(ctx, procs)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = why
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the nodes did not converge within %s: %s", p.convergeDeadline, last)
}

func converged(ctx context.Context, procs []*proc) (bool, string, error) {
	var ref map[string]string
	for _, pr := range procs {
		var st api.Status
		if err := pr.cl.Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
			return false, "", err
		}
		if q := st.Pending + st.Incoming; q > 0 {
			return false, fmt.Sprintf("%s has %d events queued", pr.name, q), nil
		}
		var is []api.IssueView
		if err := pr.cl.Do(ctx, "GET", "/v1/issues", nil, &is); err != nil {
			return false, "", err
		}
		got := map[string]string{}
		for _, v := range is {
			if v.Twin != "" {
				got[v.Twin] = v.Summary
			}
		}
		if ref == nil {
			ref = got
			continue
		}
		if len(got) != len(ref) {
			return false, fmt.Sprintf("%s holds %d twins, %s %d", pr.name, len(got), procs[0].name, len(ref)), nil
		}
		for t, s := range ref {
			if got[t] != s {
				return false, fmt.Sprintf("twin %s: %q on %s, %q on %s", t, s, procs[0].name, got[t], pr.name), nil
			}
		}
	}
	return true, "", nil
}

func verdict(out io.Writer, p params, last []sample, convErr error) error {
	var errs []error
	if convErr != nil {
		errs = append(errs, convErr)
	} else {
		fmt.Fprintln(out, "converged: every node holds the same summaries, nothing queued")
	}
	for _, s := range last {
		if s.home > p.maxHome {
			errs = append(errs, fmt.Errorf("%s: home %.1f MB, over the target of %.0f MB", s.node, s.home, p.maxHome))
		}
		if s.rss.total > p.maxRSS {
			errs = append(errs, fmt.Errorf("%s: RSS %.1f MB, over the target of %.0f MB", s.node, s.rss.total, p.maxRSS))
		}
	}
	if len(errs) == 0 {
		fmt.Fprintf(out, "targets met: every home under %.0f MB, every RSS under %.0f MB\n", p.maxHome, p.maxRSS)
	}
	return errors.Join(errs...)
}
