package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
)

// ProtectTag is the connection-manager tag under which the Connector
// protects allowlisted peers.
const ProtectTag = "issuemesh"

// Dial backoff per peer: the first retry after minBackoff, doubling up to
// maxBackoff, each delay jittered by ±backoffJitter.
const (
	minBackoff    = time.Second
	maxBackoff    = time.Minute
	backoffJitter = 0.2
	dialTimeout   = 30 * time.Second
)

// Connector keeps every allowlisted peer connected and protected in the
// connection manager. Create it with NewConnector and start it with Run.
type Connector struct {
	h       host.Host
	allow   *Allowlist
	log     *slog.Logger
	kick    chan struct{}
	running atomic.Bool

	mu      sync.Mutex
	retries map[peer.ID]struct{} // peers whose backoff Retry reset
}

// NewConnector returns a connector for the peers on a. A nil logger
// discards logs.
func NewConnector(h host.Host, a *Allowlist, log *slog.Logger) *Connector {
	return &Connector{h: h, allow: a, log: orDiscard(log), kick: make(chan struct{}, 1), retries: map[peer.ID]struct{}{}}
}

// Retry makes a running connector dial id again soon, forgetting its
// backoff, e.g. after new addresses of id were learned. The minimum spacing
// of dial attempts to one peer still holds. It never blocks.
func (c *Connector) Retry(id peer.ID) {
	c.mu.Lock()
	if len(c.retries) < 4096 {
		c.retries[id] = struct{}{}
	}
	c.mu.Unlock()
	c.Kick()
}

// applyRetries resets the backoff of the peers passed to Retry.
func (c *Connector) applyRetries(states map[peer.ID]*peerState) {
	c.mu.Lock()
	ids := c.retries
	if len(ids) == 0 {
		c.mu.Unlock()
		return
	}
	c.retries = map[peer.ID]struct{}{}
	c.mu.Unlock()
	for id := range ids {
		st := states[id]
		if st == nil || st.dialing {
			continue
		}
		st.succeeded()
		st.next = st.lastDial.Add(minBackoff)
	}
}

// Kick makes a running connector re-evaluate the allowlist now, e.g. after a
// peer was added or removed. It never blocks.
func (c *Connector) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Connected reports whether h has a connection to id, direct or relayed.
func (c *Connector) Connected(id peer.ID) bool {
	switch c.h.Network().Connectedness(id) {
	case network.Connected, network.Limited:
		return true
	default:
		return false
	}
}

// peerState is the connector's bookkeeping for one allowlisted peer. It is
// owned by the Run goroutine.
type peerState struct {
	dialing  bool
	backoff  time.Duration // delay before the next retry after a failure; 0 after a success
	next     time.Time     // no dial before this
	lastDial time.Time     // when the last dial started
	failures int           // consecutive failed dials
	warned   bool          // "unreachable" was logged for this run of failures
}

type dialResult struct {
	id  peer.ID
	err error
}

// Run keeps allowlisted peers connected until ctx is done, then returns
// nil, leaving connections open but no longer protected. It dials on start,
// on Kick, when an allowlisted peer disconnects, and when a peer's backoff
// expires. Peers that leave the allowlist are unprotected and disconnected.
// Only one Run may be active at a time.
func (c *Connector) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("p2p connector is already running")
	}
	defer c.running.Store(false)

	sub, err := c.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged),
		eventbus.Name("issuemesh connector"), eventbus.BufSize(256))
	if err != nil {
		return fmt.Errorf("p2p connector: subscribe to connection events: %w", err)
	}
	defer sub.Close()

	states := make(map[peer.ID]*peerState)
	protected := make(map[peer.ID]bool)
	results := make(chan dialResult)
	var dials sync.WaitGroup
	defer func() {
		dials.Wait()
		for id := range protected {
			c.h.ConnManager().Unprotect(id, ProtectTag)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // runs before dials.Wait: in-flight dials give up

	timer := time.NewTimer(maxBackoff)
	defer timer.Stop()
	for {
		timer.Stop()
		c.applyRetries(states)
		if wake := c.evaluate(ctx, states, protected, results, &dials); !wake.IsZero() {
			timer.Reset(time.Until(wake))
		}

		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-timer.C:
		case ev, ok := <-sub.Out():
			if !ok {
				return nil // event bus closed: the host is shutting down
			}
			e := ev.(event.EvtPeerConnectednessChanged)
			if st := states[e.Peer]; st != nil && (e.Connectedness == network.Connected || e.Connectedness == network.Limited) {
				st.succeeded() // an inbound connection counts as well
			}
		case r := <-results:
			c.dialed(r, states)
		}
	}
}

// evaluate protects allowlisted peers, releases removed ones, and starts
// dials that are due. It returns when it next needs to run (zero: only on
// an event).
func (c *Connector) evaluate(ctx context.Context, states map[peer.ID]*peerState, protected map[peer.ID]bool,
	results chan<- dialResult, dials *sync.WaitGroup) time.Time {
	self := c.h.ID()
	now := time.Now()
	var wake time.Time
	current := make(map[peer.ID]bool)

	for _, id := range c.allow.List() {
		if id == self {
			continue
		}
		current[id] = true
		if !protected[id] {
			c.h.ConnManager().Protect(id, ProtectTag)
			protected[id] = true
		}
		st := states[id]
		if st == nil {
			st = &peerState{}
			states[id] = st
		}
		if st.dialing || c.Connected(id) {
			continue
		}
		if now.Before(st.next) {
			if wake.IsZero() || st.next.Before(wake) {
				wake = st.next
			}
			continue
		}
		c.log.Debug("dialing peer", "peer", id, "failures", st.failures)
		st.dialing = true
		st.lastDial = now
		st.next = now.Add(minBackoff) // successive attempts at least minBackoff apart
		dials.Add(1)
		go func() {
			defer dials.Done()
			dctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "issuemesh connector"), dialTimeout)
			err := c.h.Connect(dctx, peer.AddrInfo{ID: id})
			cancel()
			select {
			case results <- dialResult{id: id, err: err}:
			case <-ctx.Done():
			}
		}()
	}

	for id := range protected {
		if current[id] {
			continue
		}
		c.h.ConnManager().Unprotect(id, ProtectTag)
		delete(protected, id)
		if st := states[id]; st == nil || !st.dialing {
			delete(states, id)
		}
		if c.Connected(id) {
			c.log.Info("disconnecting peer removed from the allowlist", "peer", id)
			_ = c.h.Network().ClosePeer(id)
		}
	}
	return wake
}

// dialed records the outcome of a dial started by evaluate.
func (c *Connector) dialed(r dialResult, states map[peer.ID]*peerState) {
	st := states[r.id]
	if st == nil || !c.allow.Has(r.id) {
		// Removed from the allowlist while we dialled.
		delete(states, r.id)
		if r.err == nil {
			_ = c.h.Network().ClosePeer(r.id)
		}
		return
	}
	st.dialing = false
	if r.err == nil {
		if st.failures > 0 {
			c.log.Info("connected to peer", "peer", r.id, "after_failures", st.failures)
		} else {
			c.log.Debug("connected to peer", "peer", r.id)
		}
		st.succeeded()
		return
	}
	if c.Connected(r.id) {
		// The peer connected to us while our dial failed.
		st.succeeded()
		return
	}

	st.failures++
	st.backoff = min(max(2*st.backoff, minBackoff), maxBackoff)
	delay := jitter(st.backoff)
	st.next = time.Now().Add(delay)
	if st.backoff == maxBackoff && !st.warned {
		st.warned = true
		c.log.Warn("peer unreachable; retrying", "peer", r.id, "failures", st.failures,
			"retry_every", maxBackoff.String(), "err", r.err)
	} else {
		c.log.Debug("dial to peer failed", "peer", r.id, "failures", st.failures,
			"retry_in", delay.Round(time.Millisecond).String(), "err", r.err)
	}
}

// succeeded resets the backoff after a connection was established. The
// minimum spacing set when the dial started stays in force.
func (st *peerState) succeeded() {
	st.backoff = 0
	st.failures = 0
	st.warned = false
}

// jitter spreads d by ±backoffJitter so that peers do not dial in lockstep.
func jitter(d time.Duration) time.Duration {
	f := 1 + backoffJitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}
