package syncproto

import (
	"errors"
	"io"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/issuemesh/issuemesh/replica"
)

// ErrWrongOrigin is an event whose origin is not the peer that sent it.
var ErrWrongOrigin = errors.New("event from another origin than the sending peer")

// StreamError ends stream s of protocol proto that failed with err: bad
// input from the peer (malformed, too large, an unknown version, the wrong
// origin) is logged as an error naming the peer and what was wrong; a
// stream that just ended (EOF, reset, connection closed) is normal and
// logged at debug. The stream is reset, unless it ended cleanly (EOF):
// then the handler closes it.
func StreamError(log *slog.Logger, s network.Stream, proto string, err error) {
	remote := s.Conn().RemotePeer()
	switch {
	case errors.Is(err, io.EOF):
		return
	case errors.Is(err, replica.ErrMalformed), errors.Is(err, replica.ErrFrameTooLarge), errors.Is(err, replica.ErrVersion), errors.Is(err, ErrWrongOrigin):
		log.Error("bad data on the "+proto+" protocol; closing the stream", "peer", remote, "addr", s.Conn().RemoteMultiaddr(), "err", err)
	default:
		log.Debug(proto+" stream ended", "peer", remote, "err", err)
	}
	_ = s.Reset()
}
