package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node"
)

// benchNode is one in-process node of the real stack: its own home, Badger
// sync log and local tracker, a libp2p host on loopback TCP.
type benchNode struct {
	name   string
	home   string
	n      *node.Node
	lt     *local.Tracker
	admin  http.Handler
	cancel context.CancelFunc
	done   chan error
	kick   chan struct{} // signalled after every commit of the local tracker
}

// benchConfig is a node's config for the benchmark: loopback TCP only, no
// mDNS, no port mapping.
func benchConfig() *config.Config {
	cfg := config.Default()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.MDNS = false
	cfg.NATPortMap = false
	return cfg
}

// startNode creates a home under dir and runs a node in it. noSync turns
// fsync off (only for building state that is not measured).
func startNode(dir, name string, noSync bool, log *slog.Logger) (*benchNode, error) {
	home := filepath.Join(dir, name)
	if _, err := node.Init(home, benchConfig()); err != nil {
		return nil, err
	}
	n, err := node.Open(home, node.Options{Logger: log.With("node", name), NoSync: noSync})
	if err != nil {
		return nil, err
	}
	lt, ok := n.Tracker().(*local.Tracker)
	if !ok {
		n.Close()
		return nil, fmt.Errorf("node %s: tracker is %T, want the local tracker", name, n.Tracker())
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &benchNode{name: name, home: home, n: n, lt: lt, admin: n.Handler(), cancel: cancel,
		done: make(chan error, 1), kick: make(chan struct{}, 1)}
	lt.OnChange(func() {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	})
	go func() { b.done <- n.Run(ctx) }()
	err = poll(20*time.Second, name+" runs", nil, cheap, func() (bool, error) {
		select {
		case err := <-b.done:
			return false, fmt.Errorf("run %s: %v", name, err)
		default:
		}
		st, err := b.status()
		return err == nil && st.Running && b.addr() != "", nil
	})
	if err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// stop ends Run and closes the node.
func (b *benchNode) stop() error {
	b.cancel()
	var errs []error
	select {
	case err := <-b.done:
		errs = append(errs, err)
	case <-time.After(30 * time.Second):
		errs = append(errs, fmt.Errorf("%s did not stop within 30s", b.name))
	}
	errs = append(errs, b.n.Close())
	return errors.Join(errs...)
}

// addr is the node's loopback TCP multiaddr with /p2p/ID, "" until it runs.
func (b *benchNode) addr() string {
	for _, a := range b.n.Addrs() {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") && !strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/0/") {
			return a
		}
	}
	return ""
}

// get calls the admin API in-process.
func (b *benchNode) get(path string, out any) error {
	rec := httptest.NewRecorder()
	b.admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %d %s", b.name, path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

// post calls the admin API in-process with a JSON body.
func (b *benchNode) post(path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	rec := httptest.NewRecorder()
	b.admin.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	if rec.Code >= 300 {
		return fmt.Errorf("%s: POST %s: %d %s", b.name, path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

func (b *benchNode) status() (api.Status, error) {
	var st api.Status
	err := b.get("/v1/status", &st)
	return st, err
}

// applied is how many received events the node has applied (merged,
// through its incoming rules and tracker) since it started: the count of
// its issuemesh_apply_duration_seconds histogram over every source.
func (b *benchNode) applied() (uint64, error) {
	rec := httptest.NewRecorder()
	b.admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		return 0, fmt.Errorf("%s: GET /metrics: %d", b.name, rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		return 0, fmt.Errorf("%s: parsing /metrics: %w", b.name, err)
	}
	var n uint64
	for _, m := range mfs["issuemesh_apply_duration_seconds"].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n, nil
}

// appliedEach is every node's applied count, in node order.
func (c *cluster) appliedEach() ([]uint64, error) {
	out := make([]uint64, len(c.nodes))
	for i, b := range c.nodes {
		var err error
		if out[i], err = b.applied(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// connect makes a and b peers of each other (b first, so that it accepts
// a's connection when a starts sharing).
func connect(ctx context.Context, a, b *benchNode) error {
	if _, err := b.n.AddPeer(ctx, a.addr(), a.name); err != nil {
		return fmt.Errorf("%s: add peer %s: %w", b.name, a.name, err)
	}
	if _, err := a.n.AddPeer(ctx, b.addr(), b.name); err != nil {
		return fmt.Errorf("%s: add peer %s: %w", a.name, b.name, err)
	}
	return nil
}

// acked reports whether the node has nothing left to send or apply: no
// pending outgoing event, no received event waiting, nothing blocked; it
// fails if something is blocked.
func (b *benchNode) acked(wantTwins int) (bool, error) {
	st, err := b.status()
	if err != nil {
		return false, err
	}
	if st.Blocked > 0 {
		return false, fmt.Errorf("%s has %d blocked twins", b.name, st.Blocked)
	}
	// A network's join-time catch-ups (asked again about 2 s after a
	// member joins the topic) are set-up: a timed part starts after them.
	return st.Pending == 0 && st.Incoming == 0 && st.CatchUps == 0 && st.Twins >= wantTwins, nil
}

// queues describes every node's queues, for an error message.
func (c *cluster) queues() string {
	var parts []string
	for _, b := range c.nodes {
		st, err := b.status()
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", b.name, err))
			continue
		}
		part := fmt.Sprintf("%s: %d pending, %d incoming, %d blocked, %d twins", b.name, st.Pending, st.Incoming, st.Blocked, st.Twins)
		for _, p := range st.Peers {
			if p.SendError != "" {
				part += fmt.Sprintf(" (sending to %s failed %d times: %s)", p.Name, p.SendFailures, p.SendError)
			}
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// dumpStacks writes every goroutine's stack (all nodes run in this process)
// to a file, for a stall, and says where.
func dumpStacks() string {
	f, err := os.CreateTemp("", "imbench-stacks-*.txt")
	if err != nil {
		return fmt.Sprintf("goroutine stacks not written: %v", err)
	}
	defer f.Close()
	if err := pprof.Lookup("goroutine").WriteTo(f, 2); err != nil {
		return fmt.Sprintf("goroutine stacks not written: %v", err)
	}
	return "goroutine stacks in " + f.Name()
}

// Polling intervals: cheap checks (a tracker's change feed since the last
// call) and costly ones (the admin API's status counts whole key ranges of
// the sync log, so polling it often would slow the node being measured).
const (
	cheap  = 10 * time.Millisecond
	costly = 100 * time.Millisecond
)

// poll calls cond until it returns true, an error, or the timeout passes.
// Between calls it waits for a signal on kick (if not nil) or every.
func poll(timeout time.Duration, what string, kick <-chan struct{}, every time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting until %s: %w", what, err)
		}
		if ok {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("timed out after %v waiting until %s", timeout, what)
		}
		t.Reset(min(left, every))
		select {
		case <-kick:
		case <-t.C:
		}
	}
}

// feed follows a local tracker's change feed and keeps the latest summary
// of every issue, so that convergence checks read only what changed.
type feed struct {
	lt  *local.Tracker
	cur adapters.Cursor
	rev uint64            // revision of the latest change read
	sum map[string]string // key -> summary
}

func newFeed(lt *local.Tracker) *feed { return &feed{lt: lt, sum: map[string]string{}} }

// update reads the changes since the last call and calls fn for each.
func (f *feed) update(ctx context.Context, fn func(adapters.Issue)) error {
	for range 1 << 20 { // bounded: 2^20 pages
		is, next, err := f.lt.Changes(ctx, f.cur, 1000)
		if err != nil {
			return err
		}
		for _, i := range is {
			f.sum[i.Key] = i.Summary
			if fn != nil {
				fn(i)
			}
		}
		f.cur = next
		if len(is) < 1000 {
			if f.cur == "" {
				return nil
			}
			var err error
			f.rev, err = strconv.ParseUint(string(f.cur), 10, 64)
			return err
		}
	}
	return errors.New("change feed does not end")
}

// create makes count issues with a ~1 KiB description on the node's
// tracker, from several goroutines so that the tracker's group commit works,
// and returns their keys in creation order of the index (not of commit).
func create(ctx context.Context, b *benchNode, count int, prefix string, txt *text) ([]string, error) {
	keys := make([]string, count)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	const workers = 16
	for w := range workers {
		wg.Go(func() {
			for i := w; i < count; i += workers {
				is, err := b.lt.Create(ctx, adapters.Issue{
					Summary:     fmt.Sprintf("%s-%d r0", prefix, i),
					Description: txt.get(1000),
					Labels:      []string{"bench"},
				})
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				keys[i] = is.Key
			}
		})
	}
	wg.Wait()
	return keys, firstErr
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// cluster is a set of running nodes, stopped together.
type cluster struct {
	dir   string
	log   *slog.Logger
	nodes []*benchNode
}

func (c *cluster) add(name string, noSync bool) (*benchNode, error) {
	b, err := startNode(c.dir, name, noSync, c.log)
	if err != nil {
		return nil, err
	}
	c.nodes = append(c.nodes, b)
	return b, nil
}

func (c *cluster) stop() error {
	var errs []error
	for _, b := range c.nodes {
		errs = append(errs, b.stop())
	}
	c.nodes = nil
	return errors.Join(errs...)
}
