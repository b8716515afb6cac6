package p2p

import (
	"context"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Exchange is a stream used for one exchange with a peer, with the
// scaffold every issuemesh stream needs (DESIGN 4): the context's deadline,
// if it has one, is the stream's; the end of the context resets the stream,
// so that a read or write blocked on a dead peer returns and shutdown never
// waits for a deadline; and [Exchange.End] closes the stream (CloseWrite,
// then Close) after a successful exchange or resets it after a failed one.
//
//	x, err := p2p.Dial(ctx, h, id, proto)
//	if err != nil {
//		return err
//	}
//	defer x.End(&err)
type Exchange struct {
	network.Stream
	stop func() bool
}

// Dial opens a proto stream to id ([OpenStream]) and guards it with ctx
// ([Guard]).
func Dial(ctx context.Context, h host.Host, id peer.ID, proto protocol.ID) (*Exchange, error) {
	s, err := OpenStream(ctx, h, id, proto)
	if err != nil {
		return nil, err
	}
	return Guard(ctx, s), nil
}

// Guard ties s to ctx: ctx's deadline becomes the stream's and ctx's end
// resets it. Use it for a stream opened under a shorter context than the
// exchange's, and on the serving side with the node's run context.
func Guard(ctx context.Context, s network.Stream) *Exchange {
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	return &Exchange{Stream: s, stop: context.AfterFunc(ctx, func() { _ = s.Reset() })}
}

// End finishes the exchange: if *errp is nil the stream is closed for
// writing and then closed, otherwise it is reset, so that the peer sees the
// failure instead of a clean end. Meant to be deferred with the caller's
// named error result.
func (x *Exchange) End(errp *error) {
	x.stop()
	if errp != nil && *errp == nil {
		_ = x.CloseWrite()
		_ = x.Close()
		return
	}
	_ = x.Reset()
}
