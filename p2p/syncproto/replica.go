package syncproto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/replica"
)

// ProtoReplica streams sync events to a destination peer: uvarint-framed
// msgpack replica.Event messages, source to destination only (DESIGN 4).
const ProtoReplica protocol.ID = "/issuemesh/replica/1.0.0"

const (
	// receiveBatch is how many received frames share one durable write.
	receiveBatch = 256
	// streamIdle closes a replica or ack stream with no traffic.
	streamIdle = 5 * time.Minute
)

// ReplicaHandler is the receiving side of the replica protocol (step 5):
// register its Handle with p2p.Handle for [ProtoReplica].
type ReplicaHandler struct {
	Log    Log
	Peers  Peers
	Logger *slog.Logger
}

// Handle reads events from a peer, logs them durably in batches and tells
// Peers. Malformed input is logged with the peer and ends the stream; the
// node keeps serving everyone else.
func (h *ReplicaHandler) Handle(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if !h.Peers.Known(remote) {
		_ = s.Reset()
		return
	}
	defer s.Close()
	br := bufio.NewReaderSize(s, 64<<10)
	pid := remote.String()
	batch := make([]Entry, 0, receiveBatch)
	for {
		batch = batch[:0]
		var readErr error
		for len(batch) < receiveBatch && (len(batch) == 0 || br.Buffered() > 0) {
			_ = s.SetReadDeadline(time.Now().Add(streamIdle))
			frame, err := replica.ReadFrame(br, replica.DefaultMaxFrame)
			if err != nil {
				readErr = err
				break
			}
			ev, err := replica.UnmarshalEvent(frame)
			if err == nil && ev.Origin != pid {
				err = fmt.Errorf("event %s claims origin %s: %w", ev.ID, ev.Origin, ErrWrongOrigin)
			}
			if err != nil {
				readErr = err
				break
			}
			batch = append(batch, Entry{ev.Seq, frame})
		}
		if len(batch) > 0 {
			again, err := h.Log.Receive(context.Background(), pid, batch)
			if err != nil {
				level := slog.LevelError
				if errors.Is(err, diskspace.ErrLow) {
					level = slog.LevelDebug // said once by the guard
				}
				h.Logger.Log(context.Background(), level, "logging received events failed; closing the stream so that the peer sends them again", "peer", remote, "err", err)
				_ = s.Reset()
				return
			}
			h.Peers.Logged(remote, again)
		}
		if readErr != nil {
			StreamError(h.Logger, s, "replica", readErr)
			return
		}
	}
}
