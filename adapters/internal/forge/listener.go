package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Listener is an adapter's webhook listener: the HTTP server that serves a
// Webhook on tracker.webhook.listen, started when the node registers its
// doorbell (OnChange) and stopped by Close. An adapter keeps one and
// forwards its OnChange and Close to it. The zero Listen means none: the
// adapter polls only.
type Listener struct {
	listen, secret, repo string
	d                    Dialect
	log                  *slog.Logger

	mu       sync.Mutex
	srv      *http.Server
	addr     string
	onChange func()
	verified int                       // deliveries whose signature held
	touched  map[string]map[int64]bool // lowercased repo -> issue numbers named by deliveries
}

// NewListener returns a listener for listen (host:port, "" for none) that
// verifies deliveries of repo with secret in dialect d. It does no I/O.
func NewListener(d Dialect, listen, secret, repo string, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.Default()
	}
	return &Listener{d: d, listen: listen, secret: secret, repo: repo, log: log}
}

// Configured is the listen address from the config ("" when none).
func (l *Listener) Configured() string { return l.listen }

// OnChange registers the node's doorbell, rung by accepted deliveries, and
// starts the listener when one is configured (a listener that cannot start
// is logged; polling goes on).
func (l *Listener) OnChange(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onChange = fn
	if l.listen == "" || l.srv != nil {
		return
	}
	if err := l.startLocked(); err != nil {
		l.log.Error("the webhook listener cannot start; changes are found by polling only", "listen", l.listen, "err", err)
	}
}

func (l *Listener) startLocked() error {
	ln, err := net.Listen("tcp", l.listen)
	if err != nil {
		return err
	}
	hook := NewWebhook(l.d, l.secret, l.repo, l.ring, l.log)
	hook.touch = l.touch
	hook.verified = func() {
		l.mu.Lock()
		l.verified++
		l.mu.Unlock()
	}
	l.srv = &http.Server{Handler: hook, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	l.addr = ln.Addr().String()
	l.log.Info("webhook listener started", "addr", l.addr)
	go l.srv.Serve(ln)
	return nil
}

// Probe checks that the forge reaches the listener with the right secret:
// it calls send (which asks the forge for a test delivery) and waits up to
// wait for a delivery whose signature holds. A listener that does not run
// yet is opened for the probe and closed after it; one whose port another
// process holds (the node running) cannot be probed from here.
func (l *Listener) Probe(ctx context.Context, wait time.Duration, send func(context.Context) error) error {
	if l.listen == "" {
		return errors.New("no webhook listener is configured")
	}
	l.mu.Lock()
	started := false
	if l.srv == nil {
		if err := l.startLocked(); err != nil {
			l.mu.Unlock()
			return fmt.Errorf("cannot listen on %s for the probe (is the node running? then it holds the port): %w", l.listen, err)
		}
		started = true
	}
	before := l.verified
	l.mu.Unlock()
	if started {
		defer l.Close()
	}
	if err := send(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for {
		l.mu.Lock()
		got := l.verified > before
		l.mu.Unlock()
		if got {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no signed delivery reached %s within %v (does %s reach this address, with the same secret?)", l.listen, wait, l.d.Tracker)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addr is the running listener's address ("" when none runs).
func (l *Listener) Addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

func (l *Listener) ring() {
	l.mu.Lock()
	fn := l.onChange
	l.mu.Unlock()
	if fn != nil {
		fn()
	}
}

func (l *Listener) touch(repo string, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := strings.ToLower(repo)
	if l.touched == nil {
		l.touched = map[string]map[int64]bool{}
	}
	if l.touched[k] == nil {
		l.touched[k] = map[int64]bool{}
	}
	if len(l.touched[k]) < maxTouched {
		l.touched[k][n] = true
	}
}

// maxTouched bounds the issues remembered per repository between two
// feeds (past it, the feed and the comment sweep still find changes).
const maxTouched = 10000

// Touched returns the numbers of repo's issues that verified deliveries
// named since they were last marked Read, sorted. The adapter's feed
// reads each of them from the API.
func (l *Listener) Touched(repo string) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for n := range l.touched[strings.ToLower(repo)] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Read marks issues of repo as read by the feed (after it succeeded: a
// feed that fails reads them next time).
func (l *Listener) Read(repo string, ns []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range ns {
		delete(l.touched[strings.ToLower(repo)], n)
	}
}

// Close stops the listener.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv == nil {
		return nil
	}
	err := l.srv.Close()
	l.srv, l.addr = nil, ""
	return err
}
