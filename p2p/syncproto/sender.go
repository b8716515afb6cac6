package syncproto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
)

const (
	// SendBatch is how many events the sender reads from the log at a time.
	SendBatch = 256
	// SendWindow is how many events may be sent and not yet acked.
	SendWindow = 4096
	// writeTimeout bounds one write of a batch of frames.
	writeTimeout = 30 * time.Second
)

// ErrAckTimeout is a session ended because the oldest sent event was not
// acked within the ack timeout; the next session sends it again.
var ErrAckTimeout = errors.New("no ack for the oldest sent event in time")

// SenderConfig is what a [Sender] needs.
type SenderConfig struct {
	// Host is the node's host while it runs, nil otherwise.
	Host func() host.Host
	// Log is the sync log.
	Log Log
	// Paused reports whether the peer's connection is paused: nothing is
	// sent while it is.
	Paused func() bool
	// Wake is signalled when there may be something new to send (an
	// event queued, acks recorded, the peer resumed).
	Wake <-chan struct{}
	// AckTimeout is how long the oldest sent event may wait for its ack
	// before the session starts over from it.
	AckTimeout time.Duration
	// Backoff gives the retry policy after a failed session.
	Backoff func() *backoff.Backoff
	// Logger (nil discards).
	Logger *slog.Logger
	// Sent, if set, is told how many events each write sent (metrics).
	Sent func(n int)
	// Ended, if set, is told how each session ended: nil when everything
	// was sent and acked, else why it ended (the peer cannot be dialled,
	// an ack did not come in time, the stream broke), so that the node
	// can show a peer it cannot send to in status.
	Ended func(err error)
}

// Sender streams the outgoing log to one peer in order (step 4). It is a
// service: [Sender.Run] keeps a replica stream open while there is
// something to send and reopens it with backoff after errors.
type Sender struct {
	peer peer.ID
	cfg  SenderConfig
	// acked is a sequence at or below which every outgoing event to the
	// peer has been acknowledged: the probe for the oldest pending event
	// starts after it instead of seeking from 0 through the tombstones of
	// every acked event. Sequences only grow and acked events never come
	// back, so it only moves up. Used by Run's goroutine only.
	acked uint64
}

// NewSender returns the sender to peer id.
func NewSender(id peer.ID, cfg SenderConfig) *Sender {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{peer: id, cfg: cfg}
}

// Run sends until ctx ends; it returns nil then.
func (s *Sender) Run(ctx context.Context) error {
	return backoff.Retry(ctx, s.cfg.Backoff(), func(ctx context.Context) error {
		if s.cfg.Paused() || !s.hasPending() {
			return nil
		}
		err := s.session(ctx)
		if s.cfg.Ended != nil && ctx.Err() == nil {
			s.cfg.Ended(err)
		}
		return err
	}, backoff.OnWake(s.cfg.Wake), func(ctx context.Context, err error, b *backoff.Backoff) bool {
		s.cfg.Logger.Debug("replica stream ended", "peer", s.peer, "err", err, "in", b.Current())
		return b.Wait(ctx)
	})
}

func (s *Sender) hasPending() bool {
	var first []Entry
	_ = s.cfg.Log.ReadOut(s.peer.String(), func(out Outgoing) (err error) { first, err = s.oldest(out); return })
	return len(first) > 0
}

// oldest returns the oldest pending outgoing event to the peer (none if
// everything is acked) and moves s.acked up to just below it.
func (s *Sender) oldest(out Outgoing) ([]Entry, error) {
	es, err := out.Pending(s.acked, 1)
	if err == nil && len(es) > 0 && es[0].Seq-1 > s.acked {
		s.acked = es[0].Seq - 1
	}
	return es, err
}

// session streams pending events in order until there is nothing left and
// no ack outstanding, the peer is paused, or an error occurs. Events are
// sent again from the oldest unacked one in the next session.
func (s *Sender) session(ctx context.Context) (err error) {
	h := s.cfg.Host()
	if h == nil {
		return errors.New("node is not running")
	}
	x, err := p2p.Dial(ctx, h, s.peer, ProtoReplica) // a blocked write ends with ctx
	if err != nil {
		return err
	}
	defer x.End(&err)
	// The peer never writes on this stream; a read returning means it
	// closed or reset it.
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, x)
		close(closed)
	}()
	w := bufio.NewWriterSize(x, 64<<10)
	pid := s.peer.String()
	var lastSent, watchSeq uint64
	watchSince := time.Now()
	timer := time.NewTimer(s.cfg.AckTimeout / 4)
	defer timer.Stop()
	for {
		if s.cfg.Paused() {
			return nil
		}
		var first, entries []Entry
		err := s.cfg.Log.ReadOut(pid, func(out Outgoing) error {
			var err error
			if first, err = s.oldest(out); err != nil || len(first) == 0 {
				return err
			}
			if lastSent < first[0].Seq {
				lastSent = first[0].Seq - 1
			}
			if lastSent+1-first[0].Seq >= SendWindow { // in flight: first..lastSent
				return nil
			}
			entries, err = out.Pending(lastSent, SendBatch)
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
		} else if lastSent >= watchSeq && time.Since(watchSince) > s.cfg.AckTimeout {
			return fmt.Errorf("event %d: %w", watchSeq, ErrAckTimeout)
		}
		if len(entries) > 0 {
			_ = x.SetWriteDeadline(time.Now().Add(writeTimeout))
			for _, e := range entries {
				if err := replica.WriteFrame(w, e.Frame); err != nil {
					return fmt.Errorf("send to %s: %w", s.peer, err)
				}
			}
			if err := w.Flush(); err != nil {
				return fmt.Errorf("send to %s: %w", s.peer, err)
			}
			if s.cfg.Sent != nil {
				s.cfg.Sent(len(entries))
			}
			lastSent = entries[len(entries)-1].Seq
			continue
		}
		timer.Reset(s.cfg.AckTimeout / 4)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return errors.New("peer closed the replica stream")
		case <-s.cfg.Wake:
		case <-timer.C:
		}
	}
}
