package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

const (
	// NetSyncInterval is how often a member asks its connected fellow
	// members for the events it missed (Options.NetSyncInterval).
	defaultNetSyncInterval = 30 * time.Second
	// MemberTwin starts the twin ID of a membership event: "member:<peer ID>".
	MemberTwin = "member:"
	// netIngestBatch is how many received events share one durable write.
	netIngestBatch = 256
	// netSyncSettle is when a member that joined the topic is asked again.
	netSyncSettle = 2 * time.Second
	// netGapWait is how long an author's missing event may take to arrive
	// by gossip (messages take several paths and overtake each other)
	// before the author is asked for it.
	netGapWait = time.Second
	// maxSnapshotAddrs bounds the addresses per member given to a new member.
	maxSnapshotAddrs = 8
)

// Engine is the sync engine as networks use it: the node's share and apply
// steps, and its notices.
type Engine interface {
	// Share shares the issues with these local keys with the links (a
	// network's is "net:<network ID>"): rules, stamp, log, wake.
	Share(ctx context.Context, keys, links []string) error
	// ShareAll shares every issue of the tracker with the links.
	ShareAll(ctx context.Context, links []string) error
	// Apply applies the pending events of one source: an author of a
	// network, "net:<network ID>/<author>".
	Apply(ctx context.Context, source string) error
	// CheckClocks refuses an event clocked further ahead than the allowed
	// skew (wrapping replica.ErrClockAhead).
	CheckClocks(ev *replica.Event) error
	// Refused records a refused event or answer for errors and status.
	Refused(b store.Blocked)
	// ForgetRules drops a link's cached rules (the network stopped).
	ForgetRules(link string)
}

// Peers is the node's peers and connections as networks use them.
type Peers interface {
	// IsPeer reports whether id is a peer of its own (not only a member).
	IsPeer(id peer.ID) bool
	// Admitted tells that member id was just allowlisted: connect to it
	// soon and ask the peers about its addresses.
	Admitted(id peer.ID)
	// Kick makes the connector look at the allowlist again.
	Kick()
	// Addrs lists this node's full addresses (with /p2p/).
	Addrs() []string
}

// Config is what Mesh needs.
type Config struct {
	Store *store.Store
	Key   crypto.PrivKey
	Self  peer.ID
	HLC   *replica.HLC
	Allow *p2p.Allowlist
	Log   *slog.Logger
	// Pairing issues network invitations and dials inviters.
	Pairing *pairing.Service
	Engine  Engine
	Peers   Peers
	// Go starts a supervised service (the node's).
	Go func(ctx context.Context, name string, fn func(context.Context) error)
	// Retry runs pass until ctx ends: again on wake after a success, after
	// a backoff (logged with msg and attrs at level) after a failure.
	Retry func(ctx context.Context, wake <-chan struct{}, level slog.Level, msg string, attrs []any, pass func(context.Context) error) error
	// Backoff is the node's retry policy.
	Backoff func() *backoff.Backoff
	// SyncInterval is how often a member asks its connected fellow members
	// for the events it missed (default 30s; also on connect).
	SyncInterval time.Duration
	// Gossiped, if set, is told of each event this node published on a
	// network's topic (result "published") and each message its validator
	// refused ("rejected" or "ignored"), for the node's metrics.
	Gossiped func(network, result string)
}

// Mesh is the node's networks: membership, the gossipsub topics and their
// validators, catch-up, and the sources whose events the engine applies.
type Mesh struct {
	cfg   Config
	store *store.Store
	key   crypto.PrivKey
	self  peer.ID
	hlc   *replica.HLC
	allow *p2p.Allowlist
	log   *slog.Logger
	pair  *pairing.Service
	eng   Engine
	peers Peers
	nets  netRegistry
}

// New returns the networks of a node; Run starts them.
func New(c Config) *Mesh {
	if c.SyncInterval <= 0 {
		c.SyncInterval = defaultNetSyncInterval
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Mesh{
		cfg: c, store: c.Store, key: c.Key, self: c.Self, hlc: c.HLC, allow: c.Allow, log: c.Log,
		pair: c.Pairing, eng: c.Engine, peers: c.Peers,
	}
}

func (n *Mesh) goRun(ctx context.Context, name string, fn func(context.Context) error) {
	n.cfg.Go(ctx, name, fn)
}

// host is the running host, nil before Run.
func (n *Mesh) host() host.Host {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	return n.nets.h
}

// netRegistry is the node's running networks.
type netRegistry struct {
	mu      sync.Mutex
	ps      *pubsub.PubSub
	h       host.Host
	ctx     context.Context
	running map[string]*netState    // by network ID
	allowed map[peer.ID]bool        // peers allowlisted for being members
	syncing map[string]bool         // catch-ups in flight by network ID + "/" + peer; true: run again
	gaps    map[string]*netGap      // gaps waiting by network ID + "/" + author
	pen     *p2p.Penalties          // this node's own score of peers (forgers)
	reports map[string][]netRefusal // refusals to tell authors, by network ID + "/" + author
	settles int                     // catch-ups due netSyncSettle after a member joined a topic
}

// netState is one running network.
type netState struct {
	id, name, link string
	topic          *pubsub.Topic
	sub            *pubsub.Subscription
	cancel         context.CancelFunc
	wakePub        chan struct{}
	wakeApply      chan struct{}
	inbox          chan netItem
	// rejected counts the gossipsub messages the validator refused
	// (rejected or ignored).
	rejected atomic.Int64
	// pubMessages and pubEvents count the gossipsub messages this node
	// published and the events they carried (bundles carry several).
	pubMessages, pubEvents atomic.Int64

	mu     sync.Mutex
	joined map[peer.ID]bool // current members, for the validator
}

// netItem is one received network event with its wire encoding: the
// event frame (logged for the applier) and its author's signed envelope
// (archived and served by catch-up).
type netItem struct {
	ev         replica.Event
	frame, env []byte
}

func (ns *netState) isJoined(id peer.ID) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.joined[id]
}

func (ns *netState) members() []peer.ID {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return slices.Sorted(maps.Keys(ns.joined))
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Links lists the link keys of the running networks.
func (n *Mesh) Links() []string {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	out := make([]string, 0, len(n.nets.running))
	for _, ns := range n.nets.running {
		out = append(out, ns.link)
	}
	slices.Sort(out)
	return out
}

func (n *Mesh) netByID(id string) *netState {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	return n.nets.running[id]
}

// byLink is the running network of a link key, or nil.
func (n *Mesh) byLink(link string) *netState {
	id := engine.LinkKey(link).Net()
	if id == "" {
		return nil
	}
	return n.netByID(id)
}

// Wake wakes the publisher of a network's link (the engine logged events
// for it).
func (n *Mesh) Wake(link string) {
	if ns := n.byLink(link); ns != nil {
		kick(ns.wakePub)
	}
}

// WakeApply wakes the applier of a network's link.
func (n *Mesh) WakeApply(link string) {
	if ns := n.byLink(link); ns != nil {
		kick(ns.wakeApply)
	}
}

// Running reports the name of the network of link if it runs here.
func (n *Mesh) Running(link string) (name string, ok bool) {
	if ns := n.byLink(link); ns != nil {
		return ns.name, true
	}
	return "", false
}

// IsMember reports whether remote is a current member of the running
// network of link.
func (n *Mesh) IsMember(link string, remote peer.ID) bool {
	ns := n.byLink(link)
	return ns != nil && ns.isJoined(remote)
}

// Members lists the current members of a running network (nil if it does
// not run here).
func (n *Mesh) Members(netID string) []peer.ID {
	if ns := n.netByID(netID); ns != nil {
		return ns.members()
	}
	return nil
}

// Rejected counts the gossipsub messages a running network's validator
// refused.
func (n *Mesh) Rejected(netID string) int64 {
	if ns := n.netByID(netID); ns != nil {
		return ns.rejected.Load()
	}
	return 0
}

// Published reports how many gossipsub messages this node published on a
// running network's topic, and how many events they carried.
func (n *Mesh) Published(netID string) (messages, events int64) {
	if ns := n.netByID(netID); ns != nil {
		return ns.pubMessages.Load(), ns.pubEvents.Load()
	}
	return 0, 0
}

// Score is this node's own score of a peer (forgeries count against it).
func (n *Mesh) Score(id peer.ID) float64 {
	n.nets.mu.Lock()
	pen := n.nets.pen
	n.nets.mu.Unlock()
	if pen == nil {
		return 0
	}
	return pen.Score(id)
}

// Append appends this node's event ev to a network's author log (link is
// "net:<network ID>"), archives it signed and records this node's key on
// the link l (nil for a membership event). It runs inside share's update.
func (n *Mesh) Append(tx *store.Tx, link string, l *store.Link, ev *replica.Event) (uint64, error) {
	id := engine.LinkKey(link).Net()
	ev.Net = id
	seq, err := tx.Append(link, ev)
	if err != nil {
		return 0, err
	}
	frame, err := replica.MarshalEvent(ev)
	if err != nil {
		return 0, fmt.Errorf("encode event for network %s: %w", id, err)
	}
	env, err := n.signNet(frame)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ArchiveNet(id, ev, env); err != nil {
		return 0, err
	}
	if _, err := tx.SetNetMark(id, n.self.String(), "", seq); err != nil {
		return 0, err
	}
	if l != nil {
		l.SetKey(n.self.String(), ev.SourceKey)
	}
	return seq, nil
}

// AppendNet is Append for the engine's share step (engine.NetLog).
func (n *Mesh) AppendNet(tx *store.Tx, link engine.LinkKey, l *store.Link, ev *replica.Event) (uint64, error) {
	return n.Append(tx, link.String(), l, ev)
}

// netLink is the link key of network id, netSource the source key of
// author's events there.
func netLink(id string) string           { return engine.NetLink(id).String() }
func netSource(id, author string) string { return engine.NetSource(id, author).String() }

// ---- running ----

// Run starts gossipsub, the catch-up protocol and every network
// this node is a member of. It is called by Run once the host is up.
func (n *Mesh) Run(ctx context.Context, h host.Host) error {
	pen := p2p.NewPenalties(nil)
	ps, err := p2p.NewPubSubScored(ctx, h, n.allow, pen, n.log.With("component", "gossipsub"))
	if err != nil {
		return err
	}
	n.nets.mu.Lock()
	n.nets.ps, n.nets.h, n.nets.ctx, n.nets.pen = ps, h, ctx, pen
	n.nets.running = map[string]*netState{}
	n.nets.allowed = map[peer.ID]bool{}
	n.nets.syncing = map[string]bool{}
	n.nets.gaps = map[string]*netGap{}
	n.nets.mu.Unlock()
	p2p.Handle(h, n.allow, p2p.ProtoNetSync, n.log, n.handleNetSync)

	var recs []*store.Network
	if err := n.store.View(func(tx *store.Tx) (err error) { recs, err = tx.Networks(); return }); err != nil {
		return err
	}
	for _, rec := range recs {
		if rec.Left {
			continue
		}
		if err := n.startNet(rec); err != nil {
			return err
		}
	}

	sub, err := h.EventBus().Subscribe([]any{
		new(event.EvtPeerConnectednessChanged),
		new(event.EvtPeerIdentificationCompleted),
	}, eventbus.Name("issuemesh networks"), eventbus.BufSize(256))
	if err != nil {
		return fmt.Errorf("networks: subscribe to host events: %w", err)
	}
	interval := n.cfg.SyncInterval
	if interval <= 0 {
		interval = defaultNetSyncInterval
	}
	n.goRun(ctx, "networks", func(ctx context.Context) error {
		defer sub.Close()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev, ok := <-sub.Out():
				if !ok {
					return nil
				}
				switch e := ev.(type) {
				case event.EvtPeerConnectednessChanged:
					if e.Connectedness == network.Connected || e.Connectedness == network.Limited {
						n.netSyncPeer(e.Peer)
					}
				case event.EvtPeerIdentificationCompleted:
					n.learnMemberAddrs(ctx, e.Peer, e.ListenAddrs, e.Conn.RemoteMultiaddr())
				}
			case <-tick.C:
				n.netSyncAll()
			}
		}
	})
	return nil
}

// startNet joins a network's topic and starts its services.
func (n *Mesh) startNet(rec *store.Network) error {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	if n.nets.ps == nil || n.nets.running[rec.ID] != nil {
		return nil
	}
	ns := &netState{
		id: rec.ID, name: rec.Name, link: netLink(rec.ID),
		wakePub: make(chan struct{}, 1), wakeApply: make(chan struct{}, 1),
		inbox: make(chan netItem, 4096),
	}
	topic := p2p.NetTopic(rec.Name)
	if err := n.nets.ps.RegisterTopicValidator(topic, n.netValidator(ns)); err != nil {
		return fmt.Errorf("network %s: topic validator: %w", rec.Name, err)
	}
	t, err := n.nets.ps.Join(topic)
	if err != nil {
		_ = n.nets.ps.UnregisterTopicValidator(topic)
		return fmt.Errorf("network %s: join topic %s: %w", rec.Name, topic, err)
	}
	if err := t.SetScoreParams(p2p.NetTopicScore()); err != nil {
		_ = t.Close()
		_ = n.nets.ps.UnregisterTopicValidator(topic)
		return fmt.Errorf("network %s: topic score: %w", rec.Name, err)
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(p2p.QueueSize))
	if err != nil {
		_ = t.Close()
		_ = n.nets.ps.UnregisterTopicValidator(topic)
		return fmt.Errorf("network %s: subscribe to %s: %w", rec.Name, topic, err)
	}
	ns.topic, ns.sub = t, sub
	ctx, cancel := context.WithCancel(n.nets.ctx)
	ns.cancel = cancel
	n.nets.running[rec.ID] = ns
	n.setMembersLocked(ns, rec)
	n.goRun(ctx, "network receiver "+rec.Name, func(ctx context.Context) error { return n.netReceive(ctx, ns) })
	n.goRun(ctx, "network ingest "+rec.Name, func(ctx context.Context) error { return n.netIngestLoop(ctx, ns) })
	n.goRun(ctx, "network publisher "+rec.Name, func(ctx context.Context) error { return n.netPublisher(ctx, ns) })
	n.goRun(ctx, "network applier "+rec.Name, func(ctx context.Context) error { return n.netApplier(ctx, ns) })
	if evs, err := t.EventHandler(); err == nil {
		// A member that (re)joins the topic is asked for what it has.
		n.goRun(ctx, "network peers "+rec.Name, func(ctx context.Context) error {
			defer evs.Cancel()
			for {
				pe, err := evs.NextPeerEvent(ctx)
				if err != nil {
					return nil
				}
				if pe.Type == pubsub.PeerJoin && ns.isJoined(pe.Peer) {
					// Now, and once more when both sides surely know
					// each other's subscription: what the member published
					// before it knew of this node's went elsewhere only.
					n.netSyncLater(ns, pe.Peer)
					p := pe.Peer
					n.nets.mu.Lock()
					n.nets.settles++
					n.nets.mu.Unlock()
					time.AfterFunc(netSyncSettle, func() {
						if ctx.Err() == nil {
							n.netSyncLater(ns, p)
						}
						n.nets.mu.Lock()
						n.nets.settles--
						n.nets.mu.Unlock()
					})
				}
			}
		})
	}
	kick(ns.wakePub)
	kick(ns.wakeApply)
	n.log.Info("network running", "network", rec.Name, "id", rec.ID, "members", len(ns.joined))
	return nil
}

// stopNet stops a network's services and leaves its topic.
func (n *Mesh) stopNet(id string) {
	n.nets.mu.Lock()
	ns := n.nets.running[id]
	delete(n.nets.running, id)
	ps := n.nets.ps
	n.nets.mu.Unlock()
	if ns == nil {
		return
	}
	ns.cancel()
	ns.sub.Cancel()
	_ = ps.UnregisterTopicValidator(p2p.NetTopic(ns.name))
	// The subscription ends asynchronously; the topic closes once it has.
	var err error
	for range 100 {
		if err = ns.topic.Close(); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		n.log.Warn("could not close a network's topic; joining it again needs a restart", "network", ns.name, "err", err)
	}
	n.eng.ForgetRules(ns.link)
	n.refreshNetAllow()
}
