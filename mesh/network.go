package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"

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

// memberEvent is this node's membership statement about member m.
func (n *Mesh) memberEvent(netID string, m *store.Member, state string) replica.Event {
	ev := replica.Event{
		V: replica.Version, ID: newID(), Twin: MemberTwin + m.ID, Origin: n.self.String(),
		Sent: time.Now().UnixNano(), Op: replica.OpMember, Net: netID,
		Member: m.ID, MemberName: m.Name, MemberAddrs: m.Addrs,
	}
	if len(ev.MemberAddrs) > replica.MaxMemberAddrs {
		ev.MemberAddrs = ev.MemberAddrs[:replica.MaxMemberAddrs]
	}
	ev.Replica.Set(replica.MemberState, replica.Value{S: state, Clock: n.hlc.Now()})
	return ev
}

// applyMember folds a membership event into the network record and
// reports whether anything changed. The newest statement about a member
// wins; its name and addresses are kept.
func applyMember(rec *store.Network, ev *replica.Event) bool {
	st, ok := ev.Replica.Fields[replica.MemberState]
	if !ok {
		return false
	}
	if rec.Members == nil {
		rec.Members = map[string]*store.Member{}
	}
	m := rec.Members[ev.Member]
	if m == nil {
		m = &store.Member{ID: ev.Member}
		rec.Members[ev.Member] = m
	}
	cur := replica.Replica{}
	if !m.State.Clock.IsZero() || m.State.S != "" {
		cur.Set(replica.MemberState, m.State)
	}
	merged, ch := replica.Merge(cur, replica.Replica{Fields: map[string]replica.Value{replica.MemberState: st}})
	m.State = merged.Fields[replica.MemberState]
	changed := !ch.Empty()
	if m.State.Clock == st.Clock {
		if ev.MemberName != "" && ev.MemberName != m.Name {
			m.Name, changed = ev.MemberName, true
		}
		for _, a := range ev.MemberAddrs {
			if !slices.Contains(m.Addrs, a) {
				m.Addrs, changed = append([]string{a}, m.Addrs...), true
			}
		}
		if len(m.Addrs) > maxStoredAddrs {
			m.Addrs = m.Addrs[:maxStoredAddrs]
		}
	}
	return changed
}

// checkNetEvent checks what a network's validator checks beyond the codec:
// the event belongs to the network, the operation is one a network carries
// and a membership event is consistent.
func checkNetEvent(netID string, ev *replica.Event) error {
	if ev.Net != netID {
		return fmt.Errorf("event of network %q on the topic of network %s", ev.Net, netID)
	}
	if ev.Seq == 0 {
		return errors.New("event without a sequence number")
	}
	switch ev.Op {
	case "":
	case replica.OpMember:
		if ev.Twin != MemberTwin+ev.Member {
			return fmt.Errorf("membership event about %s names twin %q", ev.Member, ev.Twin)
		}
		if _, err := peer.Decode(ev.Member); err != nil {
			return fmt.Errorf("membership event about %q: not a peer ID: %w", ev.Member, err)
		}
		if st, _ := ev.Replica.Str(replica.MemberState); st == replica.MemberLeft && ev.Member != ev.Origin {
			return fmt.Errorf("%s says %s left; only a member itself can leave", ev.Origin, ev.Member)
		}
	default:
		return fmt.Errorf("operation %q does not travel in networks", ev.Op)
	}
	return nil
}

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
					time.AfterFunc(netSyncSettle, func() {
						if ctx.Err() == nil {
							n.netSyncLater(ns, p)
						}
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

// setMembersLocked takes a network's members from its record: the
// validator's view, the allowlist and the peerstore. n.nets.mu is held.
func (n *Mesh) setMembersLocked(ns *netState, rec *store.Network) {
	joined := map[peer.ID]bool{}
	for _, m := range rec.Members {
		id, err := peer.Decode(m.ID)
		if err != nil || !m.Joined() {
			continue
		}
		joined[id] = true
		if id == n.self || n.nets.h == nil {
			continue
		}
		for _, a := range m.Addrs {
			if addr, err := ma.NewMultiaddr(a); err == nil {
				n.nets.h.Peerstore().AddAddr(id, addr, peerstore.PermanentAddrTTL)
			}
		}
	}
	ns.mu.Lock()
	ns.joined = joined
	ns.mu.Unlock()
	n.refreshNetAllowLocked()
}

// membersChanged updates a running network after its record changed.
func (n *Mesh) membersChanged(rec *store.Network) {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	if ns := n.nets.running[rec.ID]; ns != nil {
		n.setMembersLocked(ns, rec)
	}
}

func (n *Mesh) refreshNetAllow() {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	n.refreshNetAllowLocked()
}

// refreshNetAllowLocked allowlists the members of every running network and
// takes off the allowlist those that are members no more (unless they are
// peers). n.nets.mu is held.
func (n *Mesh) refreshNetAllowLocked() {
	want := map[peer.ID]bool{}
	for _, ns := range n.nets.running {
		ns.mu.Lock()
		for id := range ns.joined {
			if id != n.self {
				want[id] = true
			}
		}
		ns.mu.Unlock()
	}
	for id := range want {
		if !n.nets.allowed[id] {
			n.allow.Add(id)
			n.nets.allowed[id] = true
			n.peers.Admitted(id)
		}
	}
	for id := range n.nets.allowed {
		if want[id] {
			continue
		}
		delete(n.nets.allowed, id)
		if !n.peers.IsPeer(id) {
			n.allow.Remove(id)
		}
	}
	n.peers.Kick()
}

// netValidator admits to a network's topic only well-formed events of the
// network whose author is the message's signed author and a current member.
// A malformed or forged event is rejected, which costs the peer that
// forwarded it (p2p.InvalidPenalty). An event whose author is no member
// here is ignored (neither forwarded nor applied) without a penalty: it may
// be a new member whose join has not reached this node yet, forwarded by
// members who know of it, and its events then come by catch-up.
func (n *Mesh) netValidator(ns *netState) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		author := m.GetFrom()
		it, err := n.verifyNetEvent(ns, m.Data)
		level, result := slog.LevelWarn, pubsub.ValidationReject
		switch {
		case errors.Is(err, replica.ErrClockAhead):
			// Not the forwarder's fault (its clock may differ a little).
			n.refusedNet(ns, from, &it.ev, err)
			result = pubsub.ValidationIgnore
		case err != nil:
		case it.ev.Origin != author.String():
			err = fmt.Errorf("event %s claims author %s but is published by %s: %w", it.ev.ID, it.ev.Origin, author, errWrongOrigin)
		case !ns.isJoined(author):
			err, level, result = fmt.Errorf("author %s is not a member here", author), slog.LevelInfo, pubsub.ValidationIgnore
		}
		if err != nil {
			ns.rejected.Add(1)
			n.log.Log(context.Background(), level, "refused a network message", "network", ns.name, "author", author, "from", from, "err", err)
			return result
		}
		m.ValidatorData = it
		return pubsub.ValidationAccept
	}
}

// netReceive hands the events delivered on a network's topic (validated)
// to the ingest loop.
func (n *Mesh) netReceive(ctx context.Context, ns *netState) error {
	for {
		m, err := ns.sub.Next(ctx)
		if err != nil {
			return nil // cancelled
		}
		if m.ReceivedFrom == n.self {
			continue // own event: logged and archived already
		}
		it, ok := m.ValidatorData.(netItem)
		if !ok {
			continue
		}
		n.log.Debug("network event received", "network", ns.name, "author", it.ev.Origin, "seq", it.ev.Seq, "op", it.ev.Op, "from", m.ReceivedFrom)
		select {
		case ns.inbox <- it:
		case <-ctx.Done():
			return nil
		}
	}
}

// netIngestLoop logs received events in batches, one durable write each.
// Events lost to an error come again by catch-up.
func (n *Mesh) netIngestLoop(ctx context.Context, ns *netState) error {
	batch := make([]netItem, 0, netIngestBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-ns.inbox:
			batch = append(batch[:0], it)
		}
	fill:
		for len(batch) < netIngestBatch {
			select {
			case it := <-ns.inbox:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		if _, err := n.netIngest(ctx, ns, batch, false); err != nil && ctx.Err() == nil {
			n.log.Warn("logging received network events failed; they come again by catch-up", "network", ns.name, "events", len(batch), "err", err)
		}
	}
}

// netIngest logs received events of a network durably: membership events
// are applied to the member list at once (those whose author becomes a
// member by an earlier one in the batch too), the others go to the
// incoming log for the applier. Events of an author who is not a member
// are dropped: a current member for gossip, one that ever was for catch-up
// (whose answers hold what members wrote while they were members). It
// returns the authors whose events were taken.
func (n *Mesh) netIngest(ctx context.Context, ns *netState, items []netItem, catchUp bool) (map[string]bool, error) {
	var rec *store.Network
	members, queued := false, false
	took := map[string]bool{}
	type gap struct{ mark, seen uint64 }
	gaps := map[string]gap{} // authors of which an earlier event is missing
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		members, queued = false, false
		clear(took)
		clear(gaps)
		var err error
		if rec, err = tx.GetNetwork(ns.id); err != nil {
			return err
		}
		if rec.Left {
			return nil
		}
		authorOK := func(ev *replica.Event) bool { return memberAuthorOK(rec, ev, catchUp) }
		done := make([]bool, len(items))
		for progress := true; progress; {
			progress = false
			for i := range items {
				ev := &items[i].ev
				if done[i] || ev.Op != replica.OpMember || !authorOK(ev) {
					continue
				}
				done[i], progress = true, true
				if ev.Origin == n.self.String() {
					continue // own: applied when written
				}
				src := netSource(ns.id, ev.Origin)
				dup, err := tx.ReceiveNet(src, ev.Seq)
				if err != nil {
					return err
				}
				if dup {
					continue
				}
				if _, err := tx.ArchiveNet(ns.id, ev, items[i].env); err != nil {
					return err
				}
				if applyMember(rec, ev) {
					members = true
				}
				if _, err := tx.SetNetMark(ns.id, ev.Origin, src, 0); err != nil {
					return err
				}
				took[ev.Origin] = true
			}
		}
		for i := range items {
			ev := &items[i].ev
			if done[i] || ev.Op == replica.OpMember || ev.Origin == n.self.String() || !authorOK(ev) {
				continue
			}
			src := netSource(ns.id, ev.Origin)
			dup, err := tx.ReceiveNet(src, ev.Seq)
			if err != nil {
				return err
			}
			if dup {
				continue
			}
			kept, err := tx.ArchiveNet(ns.id, ev, items[i].env)
			if err != nil {
				return err
			}
			if kept { // else a newer event of that author and twin is here
				tx.EnqueueIn(src, ev.Seq, items[i].frame)
				queued = true
			}
			mark, err := tx.SetNetMark(ns.id, ev.Origin, src, 0)
			if err != nil {
				return err
			}
			if mark < ev.Seq {
				gaps[ev.Origin] = gap{mark, max(gaps[ev.Origin].seen, ev.Seq)}
			} else {
				delete(gaps, ev.Origin)
			}
			took[ev.Origin] = true
		}
		if members {
			return tx.PutNetwork(rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range items {
		if st, ok := items[i].ev.Replica.Fields[replica.MemberState]; ok && items[i].ev.Op == replica.OpMember {
			n.hlc.Observe(st.Clock)
		}
	}
	if members {
		n.membersChanged(rec)
		if m := rec.Member(n.self.String()); m != nil && !m.Joined() {
			n.log.Warn("a membership event says this node left the network", "network", rec.Name)
		}
	}
	if queued {
		kick(ns.wakeApply)
	}
	if !catchUp {
		for author, g := range gaps {
			if id, err := peer.Decode(author); err == nil {
				n.netSyncGap(ns, id, g.mark, g.seen)
			}
		}
	}
	return took, nil
}

// netPublisher publishes this node's events of a network in order; a
// published event leaves the outgoing log (the archive keeps it).
func (n *Mesh) netPublisher(ctx context.Context, ns *netState) error {
	b := n.cfg.Backoff()
	for {
		more, err := n.publishPending(ctx, ns)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			n.log.Debug("publishing network events failed; retrying", "network", ns.name, "err", err, "in", b.Current())
			if !b.Wait(ctx) {
				return nil
			}
			continue
		}
		b.Reset()
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ns.wakePub:
		}
	}
}

// publishPending publishes up to one batch of pending events and reports
// whether more wait.
func (n *Mesh) publishPending(ctx context.Context, ns *netState) (bool, error) {
	var entries []store.OutEntry
	archived := map[uint64][]byte{} // the signed envelopes appendNet archived
	err := n.store.View(func(tx *store.Tx) (err error) {
		if entries, err = tx.PendingOut(ns.link, 0, publishBatch); err != nil {
			return err
		}
		self := n.self.String()
		for _, e := range entries {
			if env, err := tx.NetFrame(ns.id, self, e.Seq); err == nil && p2p.IsEnvelope(env) {
				archived[e.Seq] = env
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	var done []uint64
	var perr error
	for _, e := range entries {
		if err := n.checkOwnNet(ns, e.Frame); err != nil {
			done = append(done, e.Seq) // every member would refuse it
			continue
		}
		env := archived[e.Seq]
		if env == nil { // superseded in the archive by a newer event of the twin
			var err error
			if env, err = n.signNet(e.Frame); err != nil {
				perr = err
				break
			}
		}
		if perr = ns.topic.Publish(ctx, env); perr != nil {
			perr = fmt.Errorf("publish event %d: %w", e.Seq, perr)
			break
		}
		done = append(done, e.Seq)
	}
	if len(done) > 0 {
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			for _, seq := range done {
				tx.DeleteOut(ns.link, seq)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	return perr == nil && len(entries) == publishBatch, perr
}

// netApplier applies a network's received events, author by author, each
// in order, like a peer's applier; afterwards the issues created here from
// the network tell the network their key.
func (n *Mesh) netApplier(ctx context.Context, ns *netState) error {
	return n.cfg.Retry(ctx, ns.wakeApply, slog.LevelWarn, "applying received network events failed; retrying", []any{"network", ns.name},
		func(ctx context.Context) error { return n.applyNet(ctx, ns) })
}

func (n *Mesh) applyNet(ctx context.Context, ns *netState) error {
	var srcs []string
	if err := n.store.View(func(tx *store.Tx) (err error) { srcs, err = tx.InSources(ns.link + "/"); return }); err != nil {
		return err
	}
	// Authors are applied side by side: their events of one twin meet at
	// the twin's lock, and merging does not depend on their order.
	twins := map[string]bool{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for _, src := range srcs {
		wg.Go(func() {
			var ids []string
			err := n.store.View(func(tx *store.Tx) error {
				es, err := tx.PendingIn(src, 0, 4096)
				for _, e := range es {
					ids = append(ids, e.Event.Twin)
				}
				return err
			})
			if err == nil {
				err = n.eng.Apply(ctx, src)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				twins[id] = true
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	n.announceKeys(ctx, ns, twins)
	return firstErr
}

// announceKeys shares the issues of these twins that this node has not
// yet told the network its key of (it created them from network events).
func (n *Mesh) announceKeys(ctx context.Context, ns *netState, twins map[string]bool) {
	var keys []string
	self := n.self.String()
	_ = n.store.View(func(tx *store.Tx) error {
		for id := range twins {
			tw, err := tx.GetTwin(id)
			if err != nil {
				continue
			}
			if l := tw.Links[ns.link]; l != nil && tw.LocalKey != "" && !l.Unsynced && l.Keys[self] != tw.LocalKey {
				keys = append(keys, tw.LocalKey)
			}
		}
		return nil
	})
	if len(keys) == 0 {
		return
	}
	sort.Strings(keys)
	if err := n.eng.Share(ctx, keys, []string{ns.link}); err != nil && ctx.Err() == nil {
		n.log.Warn("telling a network this node's keys failed; they go with the next change", "network", ns.name, "err", err)
	}
}

// learnMemberAddrs remembers the addresses a network member announced of
// itself (identify) in each network it is a member of.
func (n *Mesh) learnMemberAddrs(ctx context.Context, id peer.ID, announced []ma.Multiaddr, over ma.Multiaddr) {
	fresh := p2p.UsableAddrs(announced, over, n.self, maxStoredAddrs)
	if len(fresh) == 0 {
		return
	}
	n.nets.mu.Lock()
	var ids []string
	for _, ns := range n.nets.running {
		if ns.isJoined(id) {
			ids = append(ids, ns.id)
		}
	}
	n.nets.mu.Unlock()
	for _, netID := range ids {
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			rec, err := tx.GetNetwork(netID)
			if err != nil {
				return err
			}
			m := rec.Member(id.String())
			if m == nil {
				return nil
			}
			var merged []string
			changed := false
			for _, a := range fresh {
				s := a.String()
				changed = changed || !slices.Contains(m.Addrs, s)
				merged = append(merged, s)
			}
			if !changed {
				return nil
			}
			for _, s := range m.Addrs {
				if len(merged) < maxStoredAddrs && !slices.Contains(merged, s) {
					merged = append(merged, s)
				}
			}
			m.Addrs = merged
			return tx.PutNetwork(rec)
		})
		if err != nil {
			n.log.Debug("could not remember a member's addresses", "peer", id, "err", err)
		}
	}
}

// Validator is the topic validator of a running network (nil if it does
// not run here).
func (n *Mesh) Validator(netID string) pubsub.ValidatorEx {
	if ns := n.netByID(netID); ns != nil {
		return n.netValidator(ns)
	}
	return nil
}

// AddMember records this node's statement that m joined a network, signed
// and published like any event, and applies it here (allowlist, addresses).
func (n *Mesh) AddMember(ctx context.Context, netID string, m *store.Member) error {
	var rec *store.Network
	err := n.store.Update(ctx, func(tx *store.Tx) (err error) {
		rec, err = n.addMember(tx, netID, m)
		return err
	})
	if err != nil {
		return err
	}
	n.membersChanged(rec)
	n.Wake(netLink(rec.ID))
	return nil
}

// addMember records m's join of network netID in tx.
func (n *Mesh) addMember(tx *store.Tx, netID string, m *store.Member) (*store.Network, error) {
	rec, err := tx.GetNetwork(netID)
	if err != nil {
		return nil, err
	}
	ev := n.memberEvent(rec.ID, m, replica.MemberJoined)
	applyMember(rec, &ev)
	if _, err := n.Append(tx, netLink(rec.ID), nil, &ev); err != nil {
		return nil, err
	}
	return rec, tx.PutNetwork(rec)
}
