package syncproto

// The resync protocol: a node restored from a backup asks each peer to
// send again the whole agreed state of every twin they share (see the
// node's backup.go for why). The ask is one line, the answer "ok" or
// "error: ...".

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/issuemesh/issuemesh/p2p"
)

// ProtoResync asks a peer to send again the whole agreed state of every
// twin shared with the asker (after a restore).
const ProtoResync protocol.ID = "/issuemesh/resync/1.0.0"

const (
	// resyncWait bounds one resync exchange, the peer's queueing of its
	// events included.
	resyncWait = 2 * time.Minute
	resyncAsk  = "resync 1\n"
)

// AskResync asks peer id to send its state again; nil once it answered ok.
func AskResync(ctx context.Context, h host.Host, id peer.ID) (err error) {
	ctx, cancel := context.WithTimeout(ctx, resyncWait)
	defer cancel()
	s, err := p2p.Dial(ctx, h, id, ProtoResync)
	if err != nil {
		return err
	}
	defer s.End(&err)
	if _, err := io.WriteString(s, resyncAsk); err != nil {
		return fmt.Errorf("resync request to %s: %w", id, err)
	}
	_ = s.CloseWrite()
	reply, err := io.ReadAll(io.LimitReader(s, 1024))
	if err != nil {
		return fmt.Errorf("resync answer of %s: %w", id, err)
	}
	if got := strings.TrimSpace(string(reply)); got != "ok" {
		return fmt.Errorf("peer %s refused the resync: %q", id, got)
	}
	return nil
}

// ResyncHandler answers peers restored from a backup: register its Handle
// with p2p.Handle for [ProtoResync].
type ResyncHandler struct {
	// Known reports whether id is a peer of this node.
	Known func(id peer.ID) bool
	// ResendAll queues, for every twin shared with the peer, an event
	// with its whole agreed state, and returns how many.
	ResendAll func(ctx context.Context, id peer.ID) (int, error)
	// Run is the node's run context.
	Run    func() context.Context
	Logger *slog.Logger
}

// Handle answers one request.
func (h *ResyncHandler) Handle(s network.Stream) {
	remote := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(resyncWait))
	req, err := io.ReadAll(io.LimitReader(s, 64))
	if err != nil || string(req) != resyncAsk {
		h.Logger.Warn("a resync request that is not one", "peer", remote, "err", err)
		_ = s.Reset()
		return
	}
	if !h.Known(remote) {
		_ = s.Reset()
		return
	}
	count, err := h.ResendAll(h.Run(), remote)
	reply := "ok\n"
	if err != nil {
		h.Logger.Warn("resending the state of the shared twins to a restored peer failed", "peer", remote, "err", err)
		reply = "error: " + err.Error() + "\n"
	} else {
		h.Logger.Info("the peer was restored from a backup: the state of every shared twin is sent again", "peer", remote, "twins", count)
	}
	_, _ = io.WriteString(s, reply)
	_ = s.Close()
}
