package syncproto

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
)

// ProtoAck carries a destination's answers to events back to the source:
// uvarint-framed msgpack replica.Acks, destination to source only.
const ProtoAck protocol.ID = "/issuemesh/ack/1.0.0"

const (
	// ackFrame bounds how many acks one frame carries.
	ackFrame = 4096
	// ackBatch bounds how many acks one sync-log write records.
	ackBatch = 4096
)

// AckSenderConfig is what [RunAcks] needs.
type AckSenderConfig struct {
	// Host is the node's host while it runs, nil otherwise.
	Host func() host.Host
	// Queue holds the acks to send, queued by the applier once the result
	// of each event is durable.
	Queue <-chan replica.Ack
	// Backoff gives the retry policy after a failed send.
	Backoff func() *backoff.Backoff
	// Logger (nil discards).
	Logger *slog.Logger
}

// RunAcks sends the acks queued for peer id over the ack protocol until
// ctx ends, batching whatever is queued into one frame (step 7). Acks that
// could not be sent are sent again on a new stream, after a backoff.
func RunAcks(ctx context.Context, id peer.ID, cfg AckSenderConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var s network.Stream
	var w *bufio.Writer
	defer func() {
		if s != nil {
			_ = s.CloseWrite()
			_ = s.Close()
		}
	}()
	var pending []replica.Ack
	b := cfg.Backoff()
	for {
		if len(pending) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case a := <-cfg.Queue:
				pending = append(pending, a)
			}
		}
	drain:
		for len(pending) < ackFrame {
			select {
			case a := <-cfg.Queue:
				pending = append(pending, a)
			default:
				break drain
			}
		}
		err := func() error {
			if s == nil {
				h := cfg.Host()
				if h == nil {
					return errors.New("node is not running")
				}
				var err error
				if s, err = p2p.OpenStream(ctx, h, id, ProtoAck); err != nil {
					return err
				}
				w = bufio.NewWriterSize(s, 32<<10)
			}
			frame, err := replica.MarshalAcks(&replica.Acks{V: replica.Version, Items: pending})
			if err != nil {
				return err
			}
			_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := replica.WriteFrame(w, frame); err != nil {
				return err
			}
			return w.Flush()
		}()
		if err != nil {
			if s != nil {
				_ = s.Reset()
				s = nil
			}
			log.Debug("sending acks failed; retrying", "peer", id, "acks", len(pending), "err", err, "in", b.Current())
			if !b.Wait(ctx) {
				return nil
			}
			continue
		}
		b.Reset()
		pending = pending[:0]
	}
}

// AckHandler is the source's side of the ack protocol: register its Handle
// with p2p.Handle for [ProtoAck].
type AckHandler struct {
	Peers  Peers
	Logger *slog.Logger
}

// Handle records the peer's answers through Peers.Acked. Every ack frame
// already buffered is recorded in one write (as the replica handler does
// for events): one frame per commit kept the receiver waiting for commits
// while the acks queued up and the send window filled.
func (h *AckHandler) Handle(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if !h.Peers.Known(remote) {
		_ = s.Reset()
		return
	}
	defer s.Close()
	br := bufio.NewReaderSize(s, 32<<10)
	var items []replica.Ack
	for {
		items = items[:0]
		var readErr error
		for frames := 0; frames == 0 || (br.Buffered() > 0 && len(items) < ackBatch); frames++ {
			_ = s.SetReadDeadline(time.Now().Add(streamIdle))
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
			if err := h.Peers.Acked(context.Background(), remote, items); err != nil {
				h.Logger.Error("recording acks failed; the events will be sent again", "peer", remote, "err", err)
				_ = s.Reset()
				return
			}
		}
		if readErr != nil {
			StreamError(h.Logger, s, "ack", readErr)
			return
		}
	}
}
