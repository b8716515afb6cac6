package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

const (
	// sendBatch is how many events the sender reads from the log at a time.
	sendBatch = 256
	// sendWindow is how many events may be sent and not yet acked.
	sendWindow = 4096
	// receiveBatch is how many received frames share one durable write.
	receiveBatch = 256
	// streamIdle closes a replica or ack stream with no traffic.
	streamIdle = 5 * time.Minute
	// writeTimeout bounds one write of a batch of frames.
	writeTimeout = 30 * time.Second
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
	// acked is a sequence at or below which every outgoing event to the
	// peer has been acknowledged: the sender's probe for the oldest pending
	// event starts after it instead of seeking from 0 through the
	// tombstones of every acked event. Sequences only grow and acked events
	// never come back, so it only moves up. Used by the sender's goroutine.
	acked atomic.Uint64
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

func (n *Node) wakeSender(id peer.ID) {
	if ps := n.peer(id); ps != nil {
		ps.kick(ps.wakeSend)
	}
}

// startPeer starts the sender, applier and ack sender of a peer. n.mu is
// held by the caller.
func (n *Node) startPeer(ctx context.Context, ps *peerState) {
	if ps.cancel != nil {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	ps.cancel = cancel
	ps.dropAck = n.opts.dropAck
	n.goRun(pctx, "sender "+ps.id.String(), func(ctx context.Context) error { return n.runSender(ctx, ps) })
	n.goRun(pctx, "applier "+ps.id.String(), func(ctx context.Context) error { return n.runApplier(ctx, ps) })
	n.goRun(pctx, "acks "+ps.id.String(), func(ctx context.Context) error { return n.runAckSender(ctx, ps) })
	ps.kick(ps.wakeApply)
	ps.kick(ps.wakeSend)
}

// ---- sending ----

var errAckTimeout = errors.New("no ack for the oldest sent event in time")

// runSender keeps a replica stream to the peer open while there is something
// to send, and reopens it with backoff after errors.
func (n *Node) runSender(ctx context.Context, ps *peerState) error {
	return n.retryLoop(ctx, ps.wakeSend, slog.LevelDebug, "replica stream ended", []any{"peer", ps.id},
		func(ctx context.Context) error {
			if ps.paused() || !n.hasPending(ps) {
				return nil
			}
			return n.sendSession(ctx, ps)
		})
}

func (n *Node) hasPending(ps *peerState) bool {
	var es []store.OutEntry
	_ = n.store.View(func(tx *store.Tx) (err error) { es, err = ps.oldestOut(tx); return })
	return len(es) > 0
}

// oldestOut returns the oldest pending outgoing event to the peer (none if
// everything is acked) and moves ps.acked up to just below it.
func (ps *peerState) oldestOut(tx *store.Tx) ([]store.OutEntry, error) {
	es, err := tx.PendingOut(ps.id.String(), ps.acked.Load(), 1)
	if err == nil && len(es) > 0 && es[0].Seq-1 > ps.acked.Load() {
		ps.acked.Store(es[0].Seq - 1)
	}
	return es, err
}

// sendSession streams pending events in order until there is nothing left
// and no ack outstanding, the peer is paused, or an error occurs. Events are
// sent again from the oldest unacked one in the next session.
func (n *Node) sendSession(ctx context.Context, ps *peerState) (err error) {
	h := n.hostOrNil()
	if h == nil {
		return errors.New("node is not running")
	}
	s, err := p2p.Dial(ctx, h, ps.id, p2p.ProtoReplica) // a blocked write ends with ctx
	if err != nil {
		return err
	}
	defer s.End(&err)
	// The peer never writes on this stream; a read returning means it
	// closed or reset it.
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, s)
		close(closed)
	}()
	w := bufio.NewWriterSize(s, 64<<10)
	pid := ps.id.String()
	var lastSent, watchSeq uint64
	watchSince := time.Now()
	timer := time.NewTimer(n.opts.AckTimeout / 4)
	defer timer.Stop()
	for {
		if ps.paused() {
			return nil
		}
		var first, entries []store.OutEntry
		err := n.store.View(func(tx *store.Tx) error {
			var err error
			if first, err = ps.oldestOut(tx); err != nil || len(first) == 0 {
				return err
			}
			if lastSent < first[0].Seq {
				lastSent = first[0].Seq - 1
			}
			if lastSent+1-first[0].Seq >= sendWindow { // in flight: first..lastSent
				return nil
			}
			entries, err = tx.PendingOut(pid, lastSent, sendBatch)
			return err
		})
		if err != nil {
			return err
		}
		if len(first) == 0 {
			return nil // everything acked
		}
		if first[0].Seq != watchSeq {
			watchSeq, watchSince = first[0].Seq, time.Now()
		} else if lastSent >= watchSeq && time.Since(watchSince) > n.opts.AckTimeout {
			return fmt.Errorf("event %d: %w", watchSeq, errAckTimeout)
		}
		if len(entries) > 0 {
			s.SetWriteDeadline(time.Now().Add(writeTimeout))
			for _, e := range entries {
				if err := replica.WriteFrame(w, e.Frame); err != nil {
					return fmt.Errorf("send to %s: %w", ps.id, err)
				}
			}
			if err := w.Flush(); err != nil {
				return fmt.Errorf("send to %s: %w", ps.id, err)
			}
			lastSent = entries[len(entries)-1].Seq
			continue
		}
		timer.Reset(n.opts.AckTimeout / 4)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return errors.New("peer closed the replica stream")
		case <-ps.wakeSend:
		case <-timer.C:
		}
	}
}

func (n *Node) hostOrNil() host.Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.host == nil {
		return nil
	}
	return n.host
}

// ---- receiving ----

// handleReplica reads events from a peer, logs them durably in batches and
// wakes the peer's applier. Malformed input is logged with the peer and
// ends the stream; the node keeps serving everyone else.
func (n *Node) handleReplica(s network.Stream) {
	remote := s.Conn().RemotePeer()
	ps := n.peer(remote)
	if ps == nil {
		s.Reset()
		return
	}
	defer s.Close()
	br := bufio.NewReaderSize(s, 64<<10)
	pid := remote.String()
	type rx struct {
		seq   uint64
		frame []byte
	}
	batch := make([]rx, 0, receiveBatch)
	for {
		batch = batch[:0]
		var readErr error
		for len(batch) < receiveBatch && (len(batch) == 0 || br.Buffered() > 0) {
			s.SetReadDeadline(time.Now().Add(streamIdle))
			frame, err := replica.ReadFrame(br, replica.DefaultMaxFrame)
			if err != nil {
				readErr = err
				break
			}
			ev, err := replica.UnmarshalEvent(frame)
			if err == nil && ev.Origin != pid {
				err = fmt.Errorf("event %s claims origin %s: %w", ev.ID, ev.Origin, errWrongOrigin)
			}
			if err != nil {
				readErr = err
				break
			}
			batch = append(batch, rx{ev.Seq, frame})
		}
		if len(batch) > 0 {
			var reacks []replica.Ack
			err := n.store.Update(context.Background(), func(tx *store.Tx) error {
				reacks = reacks[:0]
				for _, r := range batch {
					dup, ack, err := tx.Receive(pid, r.seq, r.frame)
					if err != nil {
						return err
					}
					tx.Checkpoint() // each event on its own if the batch is too big
					if dup && ack != nil {
						reacks = append(reacks, *ack)
					}
				}
				return nil
			})
			if err != nil {
				level := slog.LevelError
				if errors.Is(err, diskspace.ErrLow) {
					level = slog.LevelDebug // said once by the guard
				}
				n.log.Log(context.Background(), level, "logging received events failed; closing the stream so that the peer sends them again", "peer", remote, "err", err)
				s.Reset()
				return
			}
			for _, a := range reacks {
				ps.queueAck(a)
			}
			ps.kick(ps.wakeApply)
		}
		if readErr != nil {
			n.streamError(s, "replica", readErr)
			return
		}
	}
}

// streamError ends a stream that failed: malformed input from the peer is
// logged as an error naming the peer and what was wrong; a stream that just
// ended (EOF, reset, connection closed) is normal and logged at debug.
func (n *Node) streamError(s network.Stream, proto string, err error) {
	remote := s.Conn().RemotePeer()
	switch {
	case errors.Is(err, io.EOF):
		return
	case errors.Is(err, replica.ErrMalformed), errors.Is(err, replica.ErrFrameTooLarge), errors.Is(err, replica.ErrVersion), errors.Is(err, errWrongOrigin):
		n.log.Error("bad data on the "+proto+" protocol; closing the stream", "peer", remote, "addr", s.Conn().RemoteMultiaddr(), "err", err)
	default:
		n.log.Debug(proto+" stream ended", "peer", remote, "err", err)
	}
	s.Reset()
}

var errWrongOrigin = errors.New("event from another origin than the sending peer")

// ---- acks ----

// runAckSender sends queued acks to the peer over the ack protocol, batching
// whatever is queued into one frame.
func (n *Node) runAckSender(ctx context.Context, ps *peerState) error {
	var s network.Stream
	var w *bufio.Writer
	defer func() {
		if s != nil {
			s.CloseWrite()
			s.Close()
		}
	}()
	var pending []replica.Ack
	b := n.backoff()
	for {
		if len(pending) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case a := <-ps.acks:
				pending = append(pending, a)
			}
		}
	drain:
		for len(pending) < 4096 {
			select {
			case a := <-ps.acks:
				pending = append(pending, a)
			default:
				break drain
			}
		}
		err := func() error {
			if s == nil {
				h := n.hostOrNil()
				if h == nil {
					return errors.New("node is not running")
				}
				var err error
				if s, err = p2p.OpenStream(ctx, h, ps.id, p2p.ProtoAck); err != nil {
					return err
				}
				w = bufio.NewWriterSize(s, 32<<10)
			}
			frame, err := replica.MarshalAcks(&replica.Acks{V: replica.Version, Items: pending})
			if err != nil {
				return err
			}
			s.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := replica.WriteFrame(w, frame); err != nil {
				return err
			}
			return w.Flush()
		}()
		if err != nil {
			if s != nil {
				s.Reset()
				s = nil
			}
			n.log.Debug("sending acks failed; retrying", "peer", ps.id, "acks", len(pending), "err", err, "in", b.Current())
			if !b.Wait(ctx) {
				return nil
			}
			continue
		}
		b.Reset()
		pending = pending[:0]
	}
}

// ackBatch bounds how many acks one sync-log write records.
const ackBatch = 4096

// handleAcks records the peer's answers: acked events leave the queue, the
// twin link learns the peer's key, failures are shown as blocked twins.
// Every ack frame already buffered is recorded in one write (as
// handleReplica does for events): one frame per commit kept the receiver
// waiting for commits while the acks queued up and the send window filled.
func (n *Node) handleAcks(s network.Stream) {
	remote := s.Conn().RemotePeer()
	ps := n.peer(remote)
	if ps == nil {
		s.Reset()
		return
	}
	defer s.Close()
	br := bufio.NewReaderSize(s, 32<<10)
	var items []replica.Ack
	for {
		items = items[:0]
		var readErr error
		for frames := 0; frames == 0 || (br.Buffered() > 0 && len(items) < ackBatch); frames++ {
			s.SetReadDeadline(time.Now().Add(streamIdle))
			frame, err := replica.ReadFrame(br, replica.DefaultMaxFrame)
			if err == nil {
				var acks replica.Acks
				if acks, err = replica.UnmarshalAcks(frame); err == nil {
					items = append(items, acks.Items...)
				}
			}
			if err != nil {
				readErr = err
				break
			}
		}
		if len(items) > 0 {
			if err := n.recordAcks(context.Background(), remote, items); err != nil {
				n.log.Error("recording acks failed; the events will be sent again", "peer", remote, "err", err)
				s.Reset()
				return
			}
			ps.kick(ps.wakeSend)
		}
		if readErr != nil {
			n.streamError(s, "ack", readErr)
			return
		}
	}
}

// recordAcks records a batch of acks from the peer (engine/acks.go) and
// counts them.
func (n *Node) recordAcks(ctx context.Context, remote peer.ID, items []replica.Ack) error {
	now := time.Now()
	acked, err := n.eng.RecordAcks(ctx, engine.PeerLink(remote.String()), items, now)
	if err == nil {
		n.metrics.ackedBatch(remote.String(), acked, now)
	}
	return err
}
