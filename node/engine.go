package node

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// The node's side of the sync engine (package engine): the loops that run
// its steps as services, and the adapters that give it the node's rules,
// links, transport and files.

// defaultPollInterval is how often a tracker without push notifications is
// asked for changes (tracker.poll_interval); a pushing tracker is also
// asked at this pace, as a safety net.
const defaultPollInterval = 5 * time.Second

// shareChunk is how many twins a pass locks and writes in one go.
const shareChunk = engine.ShareChunk

// changeBatch is how many tracker changes one trigger pass takes at a time.
const changeBatch = engine.ChangeBatch

// newEngine builds the node's engine, once the tracker is open.
func newEngine(n *Node) (*engine.Engine, error) {
	full := false
	if f, ok := n.rawTracker.(adapters.FullFeed); ok {
		full = f.ChangesAreFull()
	}
	return engine.New(engine.Config{
		Self: n.self.String(), Store: n.store, Tracker: n.tracker, HLC: n.hlc, Log: n.log,
		Rules: nodeRules{n}, Links: nodeLinks{n}, Notify: nodeNotifier{n}, Files: nodeFiles{n},
		Nets: n.mesh, Policy: nodePolicies{n}, Conflicts: nodeConflicts{n}, Space: n.space, Observe: nodeObserver{n},
		CheckClocks: clockChecker(n.cfg), FullFeed: full,
	})
}

type nodeRules struct{ n *Node }

func (r nodeRules) Matches(l engine.LinkKey, is adapters.Issue) bool {
	return r.n.rules.Match(string(l), is)
}

func (r nodeRules) Outgoing(l engine.LinkKey, is adapters.Issue) (replica.Replica, bool, error) {
	return r.n.rules.Outgoing(string(l), is)
}

func (r nodeRules) Incoming(l engine.LinkKey) (engine.IncomingRules, error) {
	set, _, err := r.n.rules.Link(string(l))
	if err != nil {
		return nil, err
	}
	return set, nil
}

type nodeLinks struct{ n *Node }

func (l nodeLinks) Links() []engine.LinkKey {
	var out []engine.LinkKey
	for _, p := range l.n.peerIDs() {
		out = append(out, engine.PeerLink(p.String()))
	}
	for _, k := range l.n.mesh.Links() {
		out = append(out, engine.LinkKey(k))
	}
	return out
}

type nodeNotifier struct{ n *Node }

func (w nodeNotifier) Wake(l engine.LinkKey) { w.n.wakeLink(string(l)) }

type nodeFiles struct{ n *Node }

func (f nodeFiles) AttachFiles(ctx context.Context, ev replica.Event, is adapters.Issue, files []adapters.Attachment) (adapters.Issue, error) {
	return f.attachFiles(ctx, ev, is, files)
}

type nodeObserver struct{ n *Node }

func (o nodeObserver) Recorded(src engine.SourceKey, result string) {
	o.n.metrics.recorded(string(src), result)
}

func (o nodeObserver) Refused(b store.Blocked) { o.n.refused.add(b) }

func (o nodeObserver) Queued(link engine.LinkKey) { o.n.metrics.queued(string(link)) }

func (o nodeObserver) ApplyTook(src engine.SourceKey, d time.Duration) {
	o.n.metrics.applyTook(string(src), d)
}

// newTrigger is the change-feed loop (engine.Trigger) as the node runs
// it: after a failed pass it waits for room on the disk, or for the
// tracker: the backoff, or while the tracker is stopped until it is
// resumed.
func newTrigger(n *Node) engine.Trigger {
	return engine.Trigger{Engine: n.eng, Wake: n.wakeTrigger, Every: n.live.pollEvery, Backoff: n.backoff,
		Failed: func(ctx context.Context, err error, b *backoff.Backoff) bool {
			if errors.Is(err, diskspace.ErrLow) {
				n.log.Debug("the home's disk is full; the trigger takes no changes until there is room", "err", err)
				return waitSpace(ctx, n.space)
			}
			if !n.health.Stopped() {
				n.log.Warn("reading tracker changes failed; retrying", "err", err, "in", b.Current())
				return b.Wait(ctx)
			}
			// Until the tracker is resumed (kickTrigger).
			select {
			case <-ctx.Done():
				return false
			case <-n.wakeTrigger:
				return true
			}
		}}
}

// shareLinks is share to the given link keys.
func (n *Node) shareLinks(ctx context.Context, keys []string, links []string) error {
	if len(links) == 0 {
		return nil
	}
	ls := make([]engine.LinkKey, len(links))
	for i, l := range links {
		ls[i] = engine.LinkKey(l)
	}
	return n.eng.Share(ctx, keys, ls)
}

// queueEvent appends an event with the twin's agreed state on link to its
// outgoing log (engine.Queue).
func (n *Node) queueEvent(tx *store.Tx, tw *store.Twin, link string, l *store.Link, changed []string, now time.Time) error {
	return n.eng.Queue(tx, tw, engine.LinkKey(link), l, changed, now)
}

// newID returns a fresh random ID.
func newID() string { return engine.NewID() }

// newApplier is the apply loop of one peer (engine.Applier) as the node
// runs it: a transient error (tracker down) stops the pass and retries it
// with capped exponential backoff and jitter; a permanent error blocks
// only its twin.
func newApplier(n *Node, ps *peerState) engine.Applier {
	return engine.Applier{Engine: n.eng, Source: ps.source(), Wake: ps.wakeApply, Backoff: n.backoff,
		Failed: retryFailed(n.log, spaceWaiter(n.space), slog.LevelWarn, "applying received events failed; retrying", "peer", ps.id)}
}

// retryPolicy is the retry policy of the node's loops (Options.RetryMin
// and RetryMax): the node's backoff and retryLoop.
type retryPolicy struct {
	min, max  time.Duration
	log       *slog.Logger
	waitSpace func(context.Context) bool
}

// backoff returns a fresh backoff of the policy.
func (r retryPolicy) backoff() *backoff.Backoff { return backoff.New(r.min, r.max) }

// loop runs pass until ctx ends. After a failed pass it logs the error
// and runs it again after a doubling, capped and jittered backoff; after a
// good pass it waits until woken.
func (r retryPolicy) loop(ctx context.Context, wake <-chan struct{}, level slog.Level, msg string, attrs []any, pass func(context.Context) error) error {
	return backoff.Retry(ctx, r.backoff(), pass, backoff.OnWake(wake), retryFailed(r.log, r.waitSpace, level, msg, attrs...))
}

// retryFailed is the wait after a failed pass of a retried loop: until
// there is room on a full disk (not a backoff), else the backoff, logged.
func retryFailed(log *slog.Logger, waitSpace func(context.Context) bool, level slog.Level, msg string, attrs ...any) func(context.Context, error, *backoff.Backoff) bool {
	return func(ctx context.Context, err error, b *backoff.Backoff) bool {
		if errors.Is(err, diskspace.ErrLow) {
			// Resume as soon as there is room, not after a backoff.
			return waitSpace(ctx)
		}
		log.Log(ctx, level, msg, append(attrs[:len(attrs):len(attrs)], "err", err, "in", b.Current())...)
		return b.Wait(ctx)
	}
}

// resumeIncoming wakes the appliers of peers with events left in the
// incoming log by an earlier run.
func (n *Node) resumeIncoming(ctx context.Context) {
	var peers []string
	if err := n.store.View(func(tx *store.Tx) (err error) { peers, err = tx.InPeers(); return }); err != nil {
		n.log.Error("reading the incoming log failed", "err", err)
		return
	}
	for _, p := range peers {
		id, err := peer.Decode(p)
		if err != nil {
			continue
		}
		if ps := n.peer(id); ps != nil {
			ps.kick(ps.wakeApply)
		}
	}
}
