package node

// A node that runs for years: supervised services, the sync log's garbage
// collection on a schedule and after bulk work, and what status says of
// both (the home's size, the last GC, the services that were restarted).
//
// Every long-lived part of a node is a service, a func(ctx) error started
// with goRun. A service that returns nil is done; one that returns an error
// or panics while the node runs is restarted after a backoff that doubles
// from Options.RetryMin to Options.RetryMax (and starts again from the
// minimum once a run lasted a minute), and the restart is counted for
// status. Only the node's context ends a service for good.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/store"
)

const (
	// gcFile holds the outcome of the last GC, for status.
	gcFile = "gc.json"
	// gcInterval is how often the sync log is garbage-collected.
	gcInterval = 10 * time.Minute
	// stableRun is how long a service must run before a failure counts as
	// a new one (its backoff starts again from the minimum).
	stableRun = time.Minute
)

// supervisor runs the node's services and counts their restarts.
type supervisor struct {
	log     *slog.Logger
	backoff func() *backoff.Backoff
	wg      *sync.WaitGroup

	mu       sync.Mutex
	restarts map[string]*ServiceRestart
}

func (l *supervisor) restarted(name string, err error) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.restarts == nil {
		l.restarts = map[string]*ServiceRestart{}
	}
	r := l.restarts[name]
	if r == nil {
		r = &ServiceRestart{Service: name}
		l.restarts[name] = r
	}
	r.Restarts++
	r.LastError = err.Error()
	r.Last = time.Now()
	return r.Restarts
}

func (l *supervisor) list() []ServiceRestart {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ServiceRestart, 0, len(l.restarts))
	for _, r := range l.restarts {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// goRun starts a supervised service (see the top of this file).
func (n *Node) goRun(ctx context.Context, name string, fn func(context.Context) error) {
	n.life.Go(ctx, name, fn)
}

// Go starts a supervised service.
func (l *supervisor) Go(ctx context.Context, name string, fn func(context.Context) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.supervise(ctx, name, fn)
	}()
}

func (l *supervisor) supervise(ctx context.Context, name string, fn func(context.Context) error) {
	b := l.backoff()
	for {
		start := time.Now()
		err := runGuarded(ctx, fn)
		if err == nil || ctx.Err() != nil {
			return
		}
		if time.Since(start) > stableRun {
			b.Reset()
		}
		count := l.restarted(name, err)
		l.log.Error("service failed; restarting it", "service", name, "err", err, "restarts", count, "in", b.Current())
		if !b.Wait(ctx) {
			return
		}
	}
}

// runGuarded runs fn and turns a panic into an error with the stack.
func runGuarded(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			stack := strings.TrimSpace(string(debug.Stack()))
			err = fmt.Errorf("panic: %v\n%s", p, stack)
		}
	}()
	return fn(ctx)
}

// gcService garbage-collects the sync log (a service: Run) and records
// the outcome in the home's gc.json for status.
type gcService struct {
	home  string
	store *store.Store
	space *diskspace.Guard
	log   *slog.Logger
	kickc chan struct{}
}

func newGC(home string, st *store.Store, space *diskspace.Guard, log *slog.Logger) *gcService {
	return &gcService{home: home, store: st, space: space, log: log, kickc: make(chan struct{}, 1)}
}

// Kick asks the GC service for a run soon (after bulk work); it never
// blocks.
func (g *gcService) Kick() {
	select {
	case g.kickc <- struct{}{}:
	default:
	}
}

// Run garbage-collects the sync log every gcInterval and when kicked,
// and writes the outcome to the home's gc.json.
func (g *gcService) Run(ctx context.Context) error {
	tick := time.NewTicker(gcInterval)
	defer tick.Stop()
	kick := g.kickc
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-kick:
		}
		if err := g.once(ctx); err != nil {
			return err
		}
	}
}

// once runs one GC and records it. Only failing to record it is an
// error: a failed GC is recorded and tried again next time.
func (g *gcService) once(ctx context.Context) error {
	// A GC rewrites value-log files before it frees them: on a full disk
	// it would eat the reserve the node keeps for its own writes.
	if g.space.Low() {
		g.log.Debug("garbage collection of the sync log skipped: the home's disk is full")
		return nil
	}
	res, err := g.store.GC(ctx)
	out := GCOutcome{GCResult: res}
	if err != nil {
		out.Error = err.Error()
		g.log.Warn("garbage collection of the sync log failed; trying again later", "err", err)
	} else {
		g.log.Info("sync log garbage-collected", "rewrites", res.Rewrites, "before", res.Before, "after", res.After, "took", res.Took.Round(time.Millisecond))
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(g.home, gcFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("record the sync log's GC in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(g.home, gcFile)); err != nil {
		return fmt.Errorf("record the sync log's GC in %s: %w", g.home, err)
	}
	return nil
}

// lifeStatus fills in the home's size, the last GC and the restarted
// services.
func lifeStatus(st *Status, life *supervisor, gc *gcService) {
	st.Restarts = life.list()
	gc.status(&st.Home)
}

// status fills in the home's size and the last GC.
func (g *gcService) status(ds *api.HomeStatus) {
	ds.HomeBytes, _ = store.DirSize(g.home)
	b, err := os.ReadFile(filepath.Join(g.home, gcFile))
	if err == nil {
		var o GCOutcome
		if json.Unmarshal(b, &o) == nil {
			ds.LastGC = &o
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		g.log.Warn("the last GC's record cannot be read", "file", gcFile, "err", err)
	}
}

// removeFetchLeftovers deletes the temporary files of file transfers that
// a crash cut (the home's tmp folder); Open runs it, while no fetch can be
// in flight.
func removeFetchLeftovers(home string, log *slog.Logger) {
	dir := filepath.Join(home, attachTmp)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	removed := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "fetch-") && os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed++
		}
	}
	if removed > 0 {
		log.Info("removed the temporary files of interrupted file transfers", "files", removed, "dir", dir)
	}
}
