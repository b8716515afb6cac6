package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// ErrRulesBroken is what Rules.Outgoing and Rules.Incoming return for a
// link whose rule files did not load: its events wait and nothing is
// shared with it until they are fixed.
var ErrRulesBroken = errors.New("the connection's rules could not be loaded")

// Notifier wakes the part of the transport that sends a link's outgoing
// log: a peer's sender, or a network's publisher. It never blocks.
type Notifier interface {
	Wake(link LinkKey)
}

// Fetcher attaches to an issue the files that the incoming rules attach
// and that it does not have yet, fetching their content from the event's
// origin, and returns the issue as it is afterwards.
type Fetcher interface {
	AttachFiles(ctx context.Context, ev replica.Event, issue adapters.Issue, files []adapters.Attachment) (adapters.Issue, error)
}

// Links lists the links there are: every peer, then every network this
// node is a member of.
type Links interface {
	Links() []LinkKey
}

// Rules is what the engine needs of the per-link rules (node/rules): the
// link's filter, its outgoing rules and its incoming rules.
type Rules interface {
	// Matches reports whether the link's trigger takes the issue.
	Matches(link LinkKey, is adapters.Issue) bool
	// Outgoing runs the link's outgoing rules on the issue: the replica
	// to share, or skip. ErrRulesBroken when the link's rules did not
	// load.
	Outgoing(link LinkKey, is adapters.Issue) (r replica.Replica, skip bool, err error)
	// Incoming returns the link's incoming rules.
	Incoming(link LinkKey) (IncomingRules, error)
}

// IncomingRules turn a merged replica into a change of the issue
// (*rules.Set).
type IncomingRules interface {
	Incoming(in rules.Incoming) (rules.Result, error)
}

// NetLog appends this node's own event to a network's author log (signed
// for the network); the mesh implements it.
type NetLog interface {
	AppendNet(tx *store.Tx, link LinkKey, l *store.Link, ev *replica.Event) (uint64, error)
}

// Policies gives the field policy of a link (policy.go).
type Policies interface {
	Ownership(link LinkKey) Ownership
}

// Space refuses work while the home's disk is too full to record it
// (diskspace.Guard); the error wraps diskspace.ErrLow.
type Space interface {
	Check() error
}

// Observer is told what the engine recorded, for metrics and notices.
type Observer interface {
	// Recorded: an event from src was recorded with that result
	// ("applied", "skipped", "failed", "unsynced", "refused").
	Recorded(src SourceKey, result string)
	// Refused: an event was refused unapplied (clocks too far ahead).
	Refused(b store.Blocked)
}

// Config is what an Engine works with. Store, Tracker, HLC, Rules and
// Links are required; the others may be nil.
type Config struct {
	Self    string // this node's peer ID
	Store   *store.Store
	Tracker adapters.Tracker
	HLC     *replica.HLC
	Log     *slog.Logger
	Rules   Rules
	Links   Links
	Notify  Notifier
	Files   Fetcher  // nil: received files are left out
	Nets    NetLog   // nil: no networks
	Policy  Policies // nil: no owned fields
	// Conflicts gives the conflict policy of each link's fields
	// (conflictpolicy.go); nil: the newest edit wins everywhere.
	Conflicts ConflictPolicies
	Space     Space    // nil: always room
	Observe   Observer // nil: nobody is told
	// FullFeed: the tracker's Changes returns whole issues
	// (adapters.FullFeed), which share uses without reading them again.
	FullFeed bool
	// CheckClocks refuses a received event clocked too far ahead
	// (replica.CheckSkew); nil: every event is applied.
	CheckClocks func(*replica.Event) error
}

// Engine runs the steps of a change between the tracker and the sync log.
// Its methods are safe for concurrent use.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	locks keyedMutex
	unrec unrecorded
	fresh freshness        // which twins an apply wrote since a change feed read (share.go)
	rels  waitingRelations // relations waiting for their other issue (relations.go)
}

// New returns an engine over cfg. It reads the incoming log for the events
// a previous run may have applied without recording (unrecorded.go).
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Tracker == nil || cfg.HLC == nil || cfg.Rules == nil || cfg.Links == nil {
		return nil, errors.New("engine: store, tracker, clock, rules and links are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	e := &Engine{cfg: cfg, log: cfg.Log}
	if err := e.unrec.load(cfg.Store); err != nil {
		e.log.Warn("reading the incoming log for events applied before a crash failed; their values may be shared as local edits", "err", err)
	}
	return e, nil
}

// Lock takes the twin's lock, which the trigger and the appliers of every
// source take, so that a change applied by sync and a local change are
// never interleaved; it returns the unlock.
func (e *Engine) Lock(twin string) func() { return e.locks.Lock(twin) }

func (e *Engine) wake(link LinkKey) {
	if e.cfg.Notify != nil {
		e.cfg.Notify.Wake(link)
	}
}

func (e *Engine) checkSpace() error {
	if e.cfg.Space != nil {
		return e.cfg.Space.Check()
	}
	return nil
}

func (e *Engine) ownership(link LinkKey) Ownership {
	if e.cfg.Policy == nil || !link.IsNet() {
		return Ownership{}
	}
	return e.cfg.Policy.Ownership(link)
}

func (e *Engine) recorded(src SourceKey, result string) {
	if e.cfg.Observe != nil {
		e.cfg.Observe.Recorded(src, result)
	}
}

// Transient reports whether an error is worth retrying as it is.
func Transient(err error) bool {
	return errors.Is(err, adapters.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// NewID returns a fresh random ID (twins, events).
func NewID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// keyedMutex serialises work on one twin.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) Lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
