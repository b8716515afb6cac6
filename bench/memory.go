package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/node"
)

// memory: figure 5. The RSS of real `issuemesh run` processes: one on a
// fresh home (idle), one on a home holding e.c.memTwins synced twins. The
// state of the second is built in-process without fsync (it is not timed),
// then the process opens it like any restart.
func memory(ctx context.Context, e *env) (err error) {
	dir, err := e.dir("memory")
	if err != nil {
		return err
	}
	bin, err := buildBinary(ctx, dir)
	if err != nil {
		return err
	}
	idle := filepath.Join(dir, "idle")
	if _, err := node.Init(idle, benchConfig()); err != nil {
		return err
	}
	rss, err := processRSS(ctx, bin, idle, 0)
	if err != nil {
		return fmt.Errorf("idle node: %w", err)
	}
	e.add(result{"memory_idle_rss", rss.settled, "MB", "<= 80", "fresh home, loopback TCP, no peers; " + rss.String()})

	n := e.c.memTwins
	c := &cluster{dir: dir, log: e.log}
	defer func() { err = errors.Join(err, c.stop()) }()
	a, err := c.add("a", true)
	if err != nil {
		return err
	}
	b, err := c.add("b", true)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := create(ctx, a, n, "mem", e.txt); err != nil {
		return err
	}
	if err := connect(ctx, a, b); err != nil {
		return err
	}
	if err := poll(8*time.Minute, "A has every issue acked", nil, time.Second, func() (bool, error) { return a.acked(n) }); err != nil {
		return fmt.Errorf("%w; queues: %s; %s", err, c.queues(), dumpStacks())
	}
	built := time.Since(t0)
	if err := c.stop(); err != nil {
		return err
	}
	size, _ := dirSize(a.home)
	logSize, _ := dirSize(filepath.Join(a.home, node.StoreDir))
	trackerSize, _ := dirSize(filepath.Join(a.home, node.TrackerDir))
	rss, err = processRSS(ctx, bin, a.home, n)
	if err != nil {
		return fmt.Errorf("node with %d twins: %w", n, err)
	}
	target := ""
	if n >= 100000 {
		target = "<= 250"
	}
	e.add(result{"memory_twins_rss", rss.settled, "MB", target, fmt.Sprintf("%d twins of ~1 KiB issues (home %.0f MB on disk: sync log %.0f, tracker %.0f; state built in %.0fs without fsync); %s", n, size/1e6, logSize/1e6, trackerSize/1e6, built.Seconds(), rss)})
	return nil
}

// buildBinary builds cmd/issuemesh of this module into dir.
func buildBinary(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the issuemesh module: run the benchmark from the repository (make bench)")
	}
	bin := filepath.Join(dir, "issuemesh")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/issuemesh")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/issuemesh: %w\n%s", err, out)
	}
	return bin, nil
}

type rssReading struct {
	settled, peak float64 // MB
	anon, file    float64 // MB: the settled RSS split into anonymous memory and mapped files
	// ready is the time from the process's start until its admin API said
	// it runs (with the twins asked for); statusAPI the median time of
	// GET /v1/status and statusCLI of `issuemesh status`, once it settled.
	ready, statusAPI, statusCLI time.Duration
}

func (r rssReading) String() string {
	return fmt.Sprintf("VmRSS after it settled: %.1f MB anonymous + %.1f MB mapped files (peak %.1f MB)", r.anon, r.file, r.peak)
}

// processRSS runs `issuemesh run` on home, waits until its admin API says
// it runs (and, when twins > 0, reports that many twins), then samples
// VmRSS every 250 ms until the last 20 samples (5 s) lie within 1% (at most
// 2 minutes: Badger compacts what it finds at open), and stops it.
func processRSS(ctx context.Context, bin, home string, twins int) (rssReading, error) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	cmd := exec.Command(bin, "--home", home, "run")
	cmd.Stdout = lockedWriter{&logMu, &logs}
	cmd.Stderr = cmd.Stdout
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return rssReading{}, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	fail := func(err error) (rssReading, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return rssReading{}, fmt.Errorf("%w\n--- its log:\n%s", err, tail(logs.String(), 20))
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(home, node.SocketFile))
		},
	}}
	err := poll(2*time.Minute, "the node runs", exited, costly, func() (bool, error) {
		select {
		case <-exited:
			return false, errors.New("the process exited")
		default:
		}
		resp, err := client.Get("http://node/v1/status")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		var st api.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return false, nil
		}
		return st.Running && st.Twins >= twins, nil
	})
	if err != nil {
		return fail(err)
	}
	ready := time.Since(started)
	pid := cmd.Process.Pid
	var samples []float64
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for range 480 {
		v, err := procStatus(pid, "VmRSS")
		if err != nil {
			return fail(err)
		}
		samples = append(samples, v)
		if len(samples) >= 20 {
			last := samples[len(samples)-20:]
			lo, hi := slices.Min(last), slices.Max(last)
			if hi-lo <= hi/100 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return rssReading{}, ctx.Err()
		case <-tick.C:
		}
	}
	r := rssReading{settled: samples[len(samples)-1], ready: ready}
	if r.statusAPI, r.statusCLI, err = statusTimes(ctx, client, bin, home); err != nil {
		return fail(err)
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"VmHWM", &r.peak}, {"RssAnon", &r.anon}, {"RssFile", &r.file}} {
		if *f.dst, err = procStatus(pid, f.name); err != nil {
			return fail(err)
		}
	}
	return r, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dirSize is the disk space taken by the files under dir, in bytes: the
// blocks allocated, not the apparent sizes (Badger preallocates its files).
func dirSize(dir string) (float64, error) {
	var total float64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil || d.IsDir() {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += float64(st.Blocks) * 512
		} else {
			total += float64(info.Size())
		}
		return nil
	})
	return total, err
}

// statusTimes times the running node's status, 5 times each, and returns
// the medians: the admin API's GET /v1/status, and the `issuemesh status`
// command (a process of its own: its start is in the figure).
func statusTimes(ctx context.Context, client *http.Client, bin, home string) (api, cli time.Duration, err error) {
	var as, cs []time.Duration
	for range 5 {
		t0 := time.Now()
		resp, err := client.Get("http://node/v1/status")
		if err != nil {
			return 0, 0, fmt.Errorf("GET /v1/status: %w", err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("GET /v1/status: %w", err)
		}
		as = append(as, time.Since(t0))
		t0 = time.Now()
		if out, err := exec.CommandContext(ctx, bin, "--home", home, "status").CombinedOutput(); err != nil {
			return 0, 0, fmt.Errorf("issuemesh status: %w\n%s", err, out)
		}
		cs = append(cs, time.Since(t0))
	}
	slices.Sort(as)
	slices.Sort(cs)
	return as[len(as)/2], cs[len(cs)/2], nil
}
