package node

// The node's side of the sync protocol (p2p/syncproto): each peer's live
// state, the per-peer services (sender, applier, ack sender) and the
// adapters through which the protocols reach the sync log and the engine.

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/p2p/syncproto"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// peerState is the node's live state for one allowlisted peer.
type peerState struct {
	id        peer.ID
	mu        sync.Mutex
	info      store.Peer
	wakeSend  chan struct{}
	wakeApply chan struct{}
	acks      chan replica.Ack
	cancel    context.CancelFunc
	dropAck   func(replica.Ack) bool
	sendFail  sendFailure // under mu
}

// sendFailure is why sending to a peer keeps failing, for status: the
// last session's error, since when, how many sessions in a row.
type sendFailure struct {
	err   string
	since time.Time
	count int
}

// sendWarnAfter is how many failed sessions in a row are logged as a
// warning (once); earlier ones are debug lines, as a peer that is briefly
// away is ordinary.
const sendWarnAfter = 3

// sessionEnded records how the sender's session to the peer ended: nil
// clears the failure, an error adds to it.
func (ps *peerState) sessionEnded(log *slog.Logger, err error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err == nil {
		if ps.sendFail.count >= sendWarnAfter {
			log.Info("sending to the peer works again", "peer", ps.id, "failed_sessions", ps.sendFail.count)
		}
		ps.sendFail = sendFailure{}
		return
	}
	if ps.sendFail.count == 0 {
		ps.sendFail.since = time.Now()
	}
	ps.sendFail.err = err.Error()
	ps.sendFail.count++
	if ps.sendFail.count == sendWarnAfter {
		log.Warn("sending to the peer keeps failing; its events wait and are sent again (shown in status)", "peer", ps.id, "failed_sessions", ps.sendFail.count, "since", ps.sendFail.since, "err", err)
	}
}

// fillSendFailure fills pi's send error fields.
func (ps *peerState) fillSendFailure(pi *PeerInfo) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if f := ps.sendFail; f.count > 0 {
		since := f.since
		pi.SendError, pi.SendErrorSince, pi.SendFailures = f.err, &since, f.count
	}
}

func newPeerState(id peer.ID, info store.Peer) *peerState {
	return &peerState{
		id: id, info: info,
		wakeSend:  make(chan struct{}, 1),
		wakeApply: make(chan struct{}, 1),
		acks:      make(chan replica.Ack, 8192),
	}
}

func (ps *peerState) name() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.info.Name != "" {
		return ps.info.Name
	}
	return shortID(ps.id)
}

func (ps *peerState) paused() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.info.Paused
}

func (ps *peerState) kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// queueAck hands an ack to the peer's ack sender. If the queue is full the
// ack is dropped: the source retransmits after its ack timeout and the
// retransmission is answered from the received set.
func (ps *peerState) queueAck(a replica.Ack) {
	if ps.dropAck != nil && ps.dropAck(a) {
		return
	}
	select {
	case ps.acks <- a:
	default:
	}
}

func shortID(id peer.ID) string {
	s := id.String()
	if len(s) > 12 {
		return s[len(s)-8:]
	}
	return s
}

func (n *Node) peer(id peer.ID) *peerState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers[id]
}

func (n *Node) peerIDs() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.peers))
}

// kickSend wakes the peer's sender; ps may be nil (no such peer).
func (ps *peerState) kickSend() {
	if ps != nil {
		ps.kick(ps.wakeSend)
	}
}

// start starts the sender, applier and ack sender of the peer on node n.
// n.mu is held by the caller.
func (ps *peerState) start(ctx context.Context, n *Node) {
	if ps.cancel != nil {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	ps.cancel = cancel
	ps.dropAck = n.opts.dropAck
	sender := syncproto.NewSender(ps.id, syncproto.SenderConfig{
		Host: n.hostOrNil, Log: syncLog{db: n.store}, Paused: ps.paused, Wake: ps.wakeSend,
		AckTimeout: n.opts.AckTimeout, Backoff: n.backoff, Logger: n.log,
		Sent:  func(k int) { n.metrics.sentEvents(ps.id.String(), k) },
		Ended: func(err error) { ps.sessionEnded(n.log, err) },
	})
	acks := syncproto.AckSenderConfig{Host: n.hostOrNil, Queue: ps.acks, Backoff: n.backoff, Logger: n.log}
	n.goRun(pctx, "sender "+ps.id.String(), sender.Run)
	n.goRun(pctx, "applier "+ps.id.String(), newApplier(n, ps).Run)
	n.goRun(pctx, "acks "+ps.id.String(), func(ctx context.Context) error { return syncproto.RunAcks(ctx, ps.id, acks) })
	ps.kick(ps.wakeApply)
	ps.kick(ps.wakeSend)
}

// isReady reports whether Run has started every part of the node: the
// host, the networks, the admin socket and the peers' senders.
func (n *Node) isReady() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready
}

func (n *Node) hostOrNil() host.Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.host == nil {
		return nil
	}
	return n.host
}

// registerSync registers the handlers of the sync protocols on h.
func registerSync(n *Node, h host.Host) {
	peers := syncPeers{n}
	rh := &syncproto.ReplicaHandler{Log: syncLog{db: n.store, m: n.metrics}, Peers: peers, Logger: n.log}
	ah := &syncproto.AckHandler{Peers: peers, Logger: n.log}
	fh := &syncproto.AttachHandler{Files: sharedFiles{n}, Run: n.runContext, Logger: n.log, Transfers: &n.transfers}
	xh := &syncproto.ResyncHandler{Known: peers.Known, ResendAll: func(ctx context.Context, id peer.ID) (int, error) { return n.resendAll(ctx, id.String()) }, Run: n.runContext, Logger: n.log}
	p2p.Handle(h, n.allow, syncproto.ProtoReplica, n.log, rh.Handle)
	p2p.Handle(h, n.allow, syncproto.ProtoAck, n.log, ah.Handle)
	p2p.Handle(h, n.allow, syncproto.ProtoAttach, n.log, fh.Handle)
	p2p.Handle(h, n.allow, syncproto.ProtoResync, n.log, xh.Handle)
}

// syncLog is the sync log (store) as syncproto.Log.
type syncLog struct {
	db *store.Store
	m  *nodeMetrics // counts the events received (nil: not counted)
}

func (l syncLog) ReadOut(peer string, read func(syncproto.Outgoing) error) error {
	return l.db.View(func(tx *store.Tx) error { return read(outLog{tx, peer}) })
}

// Receive logs a batch of received events in one durable write; a
// duplicate that was answered gives its ack to send again.
func (l syncLog) Receive(ctx context.Context, peer string, events []syncproto.Entry) ([]replica.Ack, error) {
	var again []replica.Ack
	fresh := 0
	err := l.db.Update(ctx, func(tx *store.Tx) error {
		again, fresh = again[:0], 0 // the store may run this more than once
		for _, e := range events {
			dup, ack, err := tx.Receive(peer, e.Seq, e.Frame)
			if err != nil {
				return err
			}
			tx.Checkpoint() // each event on its own if the batch is too big
			if dup && ack != nil {
				again = append(again, *ack)
			}
			if !dup {
				fresh++
			}
		}
		return nil
	})
	if err == nil && l.m != nil {
		l.m.receivedEvents(peer, fresh)
	}
	return again, err
}

// outLog is one snapshot of the outgoing log to peer.
type outLog struct {
	tx   *store.Tx
	peer string
}

func (o outLog) Pending(after uint64, n int) ([]syncproto.Entry, error) {
	es, err := o.tx.PendingOut(o.peer, after, n)
	if len(es) == 0 {
		return nil, err
	}
	out := make([]syncproto.Entry, len(es))
	for i, e := range es {
		out[i] = syncproto.Entry{Seq: e.Seq, Frame: e.Frame}
	}
	return out, err
}

// syncPeers is the node's peers as syncproto.Peers.
type syncPeers struct{ n *Node }

func (p syncPeers) Known(id peer.ID) bool { return p.n.peer(id) != nil }

// Logged wakes the peer's applier and queues the acks of answered
// duplicates again.
func (p syncPeers) Logged(id peer.ID, again []replica.Ack) {
	ps := p.n.peer(id)
	if ps == nil {
		return
	}
	for _, a := range again {
		ps.queueAck(a)
	}
	ps.kick(ps.wakeApply)
}

// Acked records the acks (recordAcks) and wakes the peer's sender: the
// window has room again.
func (p syncPeers) Acked(ctx context.Context, id peer.ID, acks []replica.Ack) error {
	if err := p.n.recordAcks(ctx, id, acks); err != nil {
		return err
	}
	p.n.peer(id).kickSend()
	return nil
}
