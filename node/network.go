package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Networks (DESIGN 1, 4, 5.5): a multi-party sync group. A network is one
// more link of a twin, like a peer: the twin's link "net:<network ID>" has
// its agreed state and baseline, and share stamps and sends a local change
// to it as to a peer, with the network's own trigger and rules (config
// entry "net:<network name>"). What differs is the transport:
//
//   - This node's events for a network get a sequence per author (the
//     outgoing log of the link key) and are published on the network's
//     gossipsub topic /issuemesh/net/<name>/1. Messages are signed by their
//     author; a topic validator admits only well-formed events of this
//     network whose author (Event.Origin) is the message's signed author and
//     a current member, and rejects everything else.
//   - Every member archives every event of the network it has seen, own and
//     received, by (author, seq), keeping per author and twin only the
//     newest (each event carries the twin's whole agreed state). Gossipsub is
//     best effort: whenever a member connects to another member (or joins
//     the topic, or gossip shows a gap in an author's events), and every
//     NetSyncInterval, it asks over ProtoNetSync for each author's events
//     after its complete mark of that author, and the other member answers
//     from its archive. No member depends on any single other member.
//   - Received events are deduplicated per (network, author, seq), logged
//     under "net:<network ID>/<author>" and applied by the network's applier
//     with the same merge and rules as a peer's. There are no acks: each
//     event carries its author's key of the issue, which every member keeps
//     on the twin's link (store.Link.Keys). A member that created an issue
//     from a network event tells its key by sending its state once.
//   - Membership is a set of events too (replica.OpMember): a member invites
//     with a code carrying the network (network invite); the acceptor proves
//     the code's secret over the pair protocol, the inviter records the join
//     as a membership event, signed and published like any event, and gives
//     the acceptor the member list. Every member applies the event: it
//     allowlists the new member and learns its addresses. A member leaves
//     with a membership event about itself. The newest statement about a
//     member wins (clocked like a field), so all members agree.
//
// Values converge whatever the delivery order: fields are last writer wins
// by hybrid logical clock, comments merge by ID, list fields (labels) are
// sets with adds and removes (see replica.Merge).
//
// Every event is its author's signed envelope (p2p.SignEvent), published,
// archived and served as such, and verified by one function whichever way
// it comes (verifyNetEvent, netverify.go): no member can forge another's
// event in a catch-up answer.
//
// Limits: the gossipsub messages of a member not yet known to a node (its join still on
// the way) are rejected there and arrive by catch-up instead; manual sync,
// unsync and link act on peers only.

const (
	// NetSyncInterval is how often a member asks its connected fellow
	// members for the events it missed (Options.NetSyncInterval).
	defaultNetSyncInterval = 30 * time.Second
	// memberTwin starts the twin ID of a membership event: "member:<peer ID>".
	memberTwin = "member:"
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

// netLinks lists the link keys of the running networks.
func (n *Node) netLinks() []string {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	out := make([]string, 0, len(n.nets.running))
	for _, ns := range n.nets.running {
		out = append(out, ns.link)
	}
	slices.Sort(out)
	return out
}

func (n *Node) netByID(id string) *netState {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	return n.nets.running[id]
}

// wakeLink wakes whatever sends a link's events: a peer's sender or a
// network's publisher.
func (n *Node) wakeLink(link string) {
	if isNetLink(link) {
		if ns := n.netByID(link[len(netPrefix):]); ns != nil {
			kick(ns.wakePub)
		}
		return
	}
	if id, err := peer.Decode(link); err == nil {
		n.wakeSender(id)
	}
}

// appendNet appends this node's event ev to a network's author log,
// archives it and records this node's key on the link l (nil for a
// membership event). It runs inside share's update.
func (n *Node) appendNet(tx *store.Tx, link string, l *store.Link, ev *replica.Event) (uint64, error) {
	id := link[len(netPrefix):]
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

// netLoader loads a network's rules from its config entry "net:<name>".
func (n *Node) netLoader(link string) (*rules.Loader, error) {
	var rec *store.Network
	err := n.store.View(func(tx *store.Tx) (err error) { rec, err = tx.GetNetwork(link[len(netPrefix):]); return })
	if err != nil {
		return nil, err
	}
	conn := n.conf().NetworkConnection(rec.Name)
	return rules.NewLoader(n.home, conn, rules.Options{
		Self: n.self.String(), PeerID: link, PeerName: rec.Name,
		StatusMap: conn.StatusMap, PriorityMap: conn.PriorityMap, Log: n.log,
	})
}

// memberEvent is this node's membership statement about member m.
func (n *Node) memberEvent(netID string, m *store.Member, state string) replica.Event {
	ev := replica.Event{
		V: replica.Version, ID: newID(), Twin: memberTwin + m.ID, Origin: n.self.String(),
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
		if ev.Twin != memberTwin+ev.Member {
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

// runNetworks starts gossipsub, the catch-up protocol and every network
// this node is a member of. It is called by Run once the host is up.
func (n *Node) runNetworks(ctx context.Context, h host.Host) error {
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
	interval := n.opts.NetSyncInterval
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
func (n *Node) startNet(rec *store.Network) error {
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
func (n *Node) stopNet(id string) {
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
	n.forgetLinkRules(ns.link)
	n.refreshNetAllow()
}

// setMembersLocked takes a network's members from its record: the
// validator's view, the allowlist and the peerstore. n.nets.mu is held.
func (n *Node) setMembersLocked(ns *netState, rec *store.Network) {
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
func (n *Node) membersChanged(rec *store.Network) {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	if ns := n.nets.running[rec.ID]; ns != nil {
		n.setMembersLocked(ns, rec)
	}
}

func (n *Node) refreshNetAllow() {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	n.refreshNetAllowLocked()
}

// refreshNetAllowLocked allowlists the members of every running network and
// takes off the allowlist those that are members no more (unless they are
// peers). n.nets.mu is held.
func (n *Node) refreshNetAllowLocked() {
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
			n.retryConnect(id)
			n.peerAdded(id)
		}
	}
	for id := range n.nets.allowed {
		if want[id] {
			continue
		}
		delete(n.nets.allowed, id)
		if n.peer(id) == nil {
			n.allow.Remove(id)
		}
	}
	n.mu.Lock()
	c := n.connector
	n.mu.Unlock()
	if c != nil {
		c.Kick()
	}
}

// netValidator admits to a network's topic only well-formed events of the
// network whose author is the message's signed author and a current member.
// A malformed or forged event is rejected, which costs the peer that
// forwarded it (p2p.InvalidPenalty). An event whose author is no member
// here is ignored (neither forwarded nor applied) without a penalty: it may
// be a new member whose join has not reached this node yet, forwarded by
// members who know of it, and its events then come by catch-up.
func (n *Node) netValidator(ns *netState) pubsub.ValidatorEx {
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
func (n *Node) netReceive(ctx context.Context, ns *netState) error {
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
func (n *Node) netIngestLoop(ctx context.Context, ns *netState) error {
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
func (n *Node) netIngest(ctx context.Context, ns *netState, items []netItem, catchUp bool) (map[string]bool, error) {
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
func (n *Node) netPublisher(ctx context.Context, ns *netState) error {
	b := n.backoff()
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
func (n *Node) publishPending(ctx context.Context, ns *netState) (bool, error) {
	var entries []store.OutEntry
	archived := map[uint64][]byte{} // the signed envelopes appendNet archived
	err := n.store.View(func(tx *store.Tx) (err error) {
		if entries, err = tx.PendingOut(ns.link, 0, sendBatch); err != nil {
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
	return perr == nil && len(entries) == sendBatch, perr
}

// netApplier applies a network's received events, author by author, each
// in order, like a peer's applier; afterwards the issues created here from
// the network tell the network their key.
func (n *Node) netApplier(ctx context.Context, ns *netState) error {
	return n.retryLoop(ctx, ns.wakeApply, slog.LevelWarn, "applying received network events failed; retrying", []any{"network", ns.name},
		func(ctx context.Context) error { return n.applyNet(ctx, ns) })
}

func (n *Node) applyNet(ctx context.Context, ns *netState) error {
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
				err = n.eng.ApplyPending(ctx, &engine.Source{Key: engine.SourceKey(src)})
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
func (n *Node) announceKeys(ctx context.Context, ns *netState, twins map[string]bool) {
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
	if err := n.shareLinks(ctx, keys, []string{ns.link}); err != nil && ctx.Err() == nil {
		n.log.Warn("telling a network this node's keys failed; they go with the next change", "network", ns.name, "err", err)
	}
}

// learnMemberAddrs remembers the addresses a network member announced of
// itself (identify) in each network it is a member of.
func (n *Node) learnMemberAddrs(ctx context.Context, id peer.ID, announced []ma.Multiaddr, over ma.Multiaddr) {
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

// ---- operator surface ----

// NetworkInfos lists the networks with their members.
func (n *Node) NetworkInfos() ([]NetworkInfo, error) {
	var recs []*store.Network
	var stats map[string]*store.QueueStat
	err := n.store.View(func(tx *store.Tx) (err error) {
		if recs, err = tx.Networks(); err != nil {
			return err
		}
		stats, err = tx.QueueStats()
		return err
	})
	if err != nil {
		return nil, err
	}
	h := n.hostOrNil()
	out := make([]NetworkInfo, 0, len(recs))
	for _, rec := range recs {
		out = append(out, n.netInfo(rec, h, stats))
	}
	return out, nil
}

func (n *Node) netInfo(rec *store.Network, h host.Host, stats map[string]*store.QueueStat) NetworkInfo {
	info := NetworkInfo{ID: rec.ID, Name: rec.Name, Created: rec.Created, Left: rec.Left, Running: n.netByID(rec.ID) != nil, Members: []NetMemberInfo{}}
	if st := stats[netLink(rec.ID)]; st != nil {
		info.Pending = st.Pending
	}
	for _, m := range rec.Members {
		mi := NetMemberInfo{ID: m.ID, Name: m.Name, Self: m.ID == n.self.String(), State: m.State.S, Addrs: m.Addrs}
		if id, err := peer.Decode(m.ID); err == nil && h != nil && !mi.Self {
			mi.Connected = p2p.IsConnected(h, id)
		}
		info.Members = append(info.Members, mi)
	}
	sort.Slice(info.Members, func(i, j int) bool {
		a, b := info.Members[i], info.Members[j]
		return a.Name+a.ID < b.Name+b.ID
	})
	return info
}

// networkByName finds a network this node has not left by its name.
func networkByName(tx *store.Tx, name string) (*store.Network, error) {
	recs, err := tx.Networks()
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.Name == name && !rec.Left {
			return rec, nil
		}
	}
	return nil, fmt.Errorf("%w: no network named %q (see network list)", store.ErrNotFound, name)
}

// CreateNetwork creates a network with this node as its only member.
func (n *Node) CreateNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	if !pairing.ValidNetworkName(name) {
		return NetworkInfo{}, fmt.Errorf("%w: network name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", errBadRequest, name)
	}
	rec := &store.Network{ID: newID(), Name: name, Created: nowUTC()}
	self := &store.Member{ID: n.self.String(), Name: shortID(n.self), Addrs: n.ownAddrs()}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		if _, err := networkByName(tx, name); err == nil {
			return fmt.Errorf("%w: a network named %q exists already", errBadRequest, name)
		}
		rec.Members = nil
		ev := n.memberEvent(rec.ID, self, replica.MemberJoined)
		applyMember(rec, &ev)
		if _, err := n.appendNet(tx, netLink(rec.ID), nil, &ev); err != nil {
			return err
		}
		return tx.PutNetwork(rec)
	})
	if err != nil {
		return NetworkInfo{}, err
	}
	if err := n.startNet(rec); err != nil {
		return NetworkInfo{}, err
	}
	n.log.Info("network created", "network", name, "id", rec.ID)
	return n.netInfo(rec, n.hostOrNil(), nil), nil
}

// ownAddrs is this node's addresses to tell others, without /p2p/.
func (n *Node) ownAddrs() []string {
	var out []string
	for _, s := range n.Addrs() {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if t, _ := peer.SplitAddr(m); t != nil && len(out) < replica.MaxMemberAddrs {
			out = append(out, t.String())
		}
	}
	return out
}

// InviteNetwork issues a single-use invitation into the network with that
// name; the acceptor will be called member there (default: its short ID).
func (n *Node) InviteNetwork(ctx context.Context, name, member string, ttl time.Duration) (InviteResult, error) {
	var rec *store.Network
	if err := n.store.View(func(tx *store.Tx) (err error) { rec, err = networkByName(tx, name); return }); err != nil {
		return InviteResult{}, err
	}
	res, err := n.pair.Issue(ctx, member, ttl, rec.ID, rec.Name)
	return InviteResult(res), badInvitation(err)
}

func snapshotOf(rec *store.Network) *pairing.Snapshot {
	s := &pairing.Snapshot{ID: rec.ID, Name: rec.Name}
	for _, m := range rec.Members {
		c := *m
		if len(c.Addrs) > maxSnapshotAddrs {
			c.Addrs = c.Addrs[:maxSnapshotAddrs]
		}
		s.Members = append(s.Members, &c)
	}
	return s
}

// pairNets is the node's networks as package pairing sees them.
type pairNets struct{ n *Node }

// AdmitMember records remote's join of the network of the invitation that
// claim returns, as a membership event (published to the network), in the
// write that claims the invitation, and returns the network's members.
func (nn pairNets) AdmitMember(ctx context.Context, remote peer.ID, told []string, over ma.Multiaddr, claim func(*store.Tx) (store.Invite, error)) (string, *pairing.Snapshot, error) {
	n := nn.n
	var addrs []ma.Multiaddr
	for _, s := range told {
		if a, err := ma.NewMultiaddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	if h := n.hostOrNil(); h != nil {
		addrs = append(addrs, h.Peerstore().Addrs(remote)...)
	}
	if over != nil {
		addrs = append(addrs, over)
	}
	m := &store.Member{ID: remote.String(), Name: shortID(remote)}
	for _, a := range p2p.UsableAddrs(addrs, over, n.self, replica.MaxMemberAddrs) {
		m.Addrs = append(m.Addrs, a.String())
	}
	var rec *store.Network
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		inv, err := claim(tx)
		if err != nil {
			return err
		}
		if rec, err = tx.GetNetwork(inv.Network); err != nil {
			return err
		}
		if rec.Left {
			return pairing.Refusal{Reason: fmt.Sprintf("the inviter has left the network %s", rec.Name)}
		}
		if inv.Name != "" {
			m.Name = inv.Name
		}
		ev := n.memberEvent(rec.ID, m, replica.MemberJoined)
		applyMember(rec, &ev)
		if _, err := n.appendNet(tx, netLink(rec.ID), nil, &ev); err != nil {
			return err
		}
		return tx.PutNetwork(rec)
	})
	if err != nil {
		return "", nil, err
	}
	n.membersChanged(rec)
	n.wakeLink(netLink(rec.ID))
	n.log.Info("a new member joined the network by invitation", "network", rec.Name, "peer", remote, "name", m.Name)
	return m.Name, snapshotOf(rec), nil
}

// joinNetwork accepts a network invitation: it proves the code's secret to
// the inviter over the pair protocol, takes the network's members from the
// answer, joins the topic, catches up from the inviter and shares this
// node's issues with the network (by its trigger). The node must be
// running.
func (n *Node) joinNetwork(ctx context.Context, inv pairing.Invitation) (JoinResult, error) {
	h := n.hostOrNil()
	if h == nil {
		return JoinResult{}, fmt.Errorf("%w: the node is not running; start it with 'issuemesh run', then accept the invitation", errBadRequest)
	}
	err := n.store.View(func(tx *store.Tx) error {
		rec, err := networkByName(tx, inv.NetName)
		if err == nil && rec.ID != inv.Network {
			return fmt.Errorf("%w: this node is in another network named %q already; leave it first", errBadRequest, inv.NetName)
		}
		if err == nil {
			return fmt.Errorf("%w: this node is a member of network %q already", errBadRequest, inv.NetName)
		}
		return nil
	})
	if err != nil {
		return JoinResult{}, err
	}
	var rec *store.Network
	err = n.pair.Dial(ctx, h, inv, n.ownAddrs(), "join network "+inv.NetName, func(resp pairing.Response) error {
		rec = &store.Network{ID: resp.Net.ID, Name: resp.Net.Name, Created: nowUTC(), Members: map[string]*store.Member{}}
		for _, m := range resp.Net.Members {
			if m == nil || m.ID == "" {
				continue
			}
			if _, err := peer.Decode(m.ID); err != nil {
				continue
			}
			rec.Members[m.ID] = m
			n.hlc.Observe(m.State.Clock)
		}
		if !rec.Member(inv.Peer.String()).Joined() || !rec.Member(n.self.String()).Joined() {
			return fmt.Errorf("the inviter's member list of network %s lacks the inviter or this node", rec.Name)
		}
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			if old, err := tx.GetNetwork(rec.ID); err == nil { // joining again after leaving
				for id, m := range old.Members {
					if _, ok := rec.Members[id]; !ok {
						rec.Members[id] = m
					}
				}
				rec.Created = old.Created
			}
			return tx.PutNetwork(rec)
		})
		if err != nil {
			return err
		}
		return n.startNet(rec)
	})
	if err != nil {
		return JoinResult{}, badInvitation(err)
	}
	n.log.Info("joined a network", "network", rec.Name, "id", rec.ID, "inviter", inv.Peer, "members", len(rec.Members))
	if ns := n.netByID(rec.ID); ns != nil {
		if err := n.catchUp(ctx, ns, inv.Peer); err != nil {
			n.log.Warn("first catch-up from the inviter failed; other members are asked too", "network", rec.Name, "err", err)
		}
	}
	res := JoinResult{ID: inv.Peer.String(), Network: rec.Name, NetworkID: rec.ID, Members: len(rec.Members)}
	if err := n.shareAllLinks(ctx, []string{netLink(rec.ID)}); err != nil {
		return res, fmt.Errorf("joined, but sharing existing issues failed (they are shared on their next change): %w", err)
	}
	return res, nil
}

// shareAllLinks shares every issue of the tracker with the given links.
func (n *Node) shareAllLinks(ctx context.Context, links []string) error {
	return n.allIssues(ctx, func(page []adapters.Issue) error {
		keys := make([]string, len(page))
		for i, is := range page {
			keys[i] = is.Key
		}
		return n.shareLinks(ctx, keys, links)
	})
}

// LeaveNetwork leaves the network with that name: this node publishes what
// it has not yet published and a membership event saying it left, then
// stops syncing with the network. Its twins keep their links; members that
// are nothing else to this node leave its allowlist.
func (n *Node) LeaveNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	var rec *store.Network
	if err := n.store.View(func(tx *store.Tx) (err error) { rec, err = networkByName(tx, name); return }); err != nil {
		return NetworkInfo{}, err
	}
	ns := n.netByID(rec.ID)
	if ns == nil {
		return NetworkInfo{}, fmt.Errorf("%w: the node is not running; start it with 'issuemesh run' so that the other members learn that it leaves", errBadRequest)
	}
	self := &store.Member{ID: n.self.String()}
	if m := rec.Member(self.ID); m != nil {
		self.Name, self.Addrs = m.Name, m.Addrs
	}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetNetwork(rec.ID)
		if err != nil {
			return err
		}
		ev := n.memberEvent(rec.ID, self, replica.MemberLeft)
		applyMember(cur, &ev)
		if _, err := n.appendNet(tx, netLink(rec.ID), nil, &ev); err != nil {
			return err
		}
		rec = cur
		return tx.PutNetwork(cur)
	})
	if err != nil {
		return NetworkInfo{}, err
	}
	for {
		more, err := n.publishPending(ctx, ns)
		if err != nil {
			n.log.Warn("publishing before leaving failed; the other members may learn it later", "network", name, "err", err)
			break
		}
		if !more {
			break
		}
	}
	n.stopNet(rec.ID)
	err = n.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetNetwork(rec.ID)
		if err != nil {
			return err
		}
		cur.Left = true
		rec = cur
		return tx.PutNetwork(cur)
	})
	if err != nil {
		return NetworkInfo{}, err
	}
	n.log.Info("left the network", "network", name, "id", rec.ID)
	return n.netInfo(rec, n.hostOrNil(), nil), nil
}

// netTwinRefs lists, for issue show, the twin's key at each member of the
// network of link l (link key lk).
func (n *Node) netTwinRefs(tx *store.Tx, lk string, l *store.Link) []TwinRef {
	rec, err := tx.GetNetwork(lk[len(netPrefix):])
	if err != nil {
		return nil
	}
	var out []TwinRef
	for id, key := range l.Keys {
		ref := TwinRef{Peer: id, Key: key, Synced: !l.Unsynced && !rec.Left, Network: rec.Name}
		if m := rec.Member(id); m != nil {
			ref.PeerName = m.Name
		}
		out = append(out, ref)
	}
	return out
}

// retryNet releases a network's blocked twin (see Retry); it reports
// whether b was a network's.
func (n *Node) retryNet(ctx context.Context, b store.Blocked) (bool, error) {
	if !isNetLink(b.Peer) {
		return false, nil
	}
	link, _, _ := strings.Cut(b.Peer, "/")
	if b.Dir != store.BlockIn {
		return true, n.shareLinks(ctx, []string{b.LocalKey}, []string{link})
	}
	if ns := n.netByID(link[len(netPrefix):]); ns != nil {
		kick(ns.wakeApply)
	}
	return true, nil
}
