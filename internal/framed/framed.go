// Package framed is the request and answer of the small control protocols
// (pair, address exchange): one msgpack message per frame
// (replica.WriteFrame), each way, decoded by the bounded decoder
// (replica.Unmarshal) as every reflection-decoded message from the network
// is. It owns no step of the sync path; pairing and discovery use it.
package framed

import (
	"bufio"
	"context"
	"io"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
)

// Call sends req as one frame over a new proto stream to id and reads one
// answer of at most limit bytes into resp. The stream has ctx's deadline
// and is reset when ctx ends: reads wait for the deadline, not for ctx.
func Call(ctx context.Context, h host.Host, id peer.ID, proto protocol.ID, req, resp any, limit int) (err error) {
	s, err := p2p.Dial(ctx, h, id, proto)
	if err != nil {
		return err
	}
	defer s.End(&err)
	if err := Write(s, req); err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	return Read(s, limit, resp)
}

// Write writes v as one frame.
func Write(s network.Stream, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return replica.WriteFrame(s, b)
}

// Read reads one frame of at most limit bytes and decodes it into v with
// the bounded decoder.
func Read(r io.Reader, limit int, v any) error {
	frame, err := replica.ReadFrame(bufio.NewReaderSize(r, 4096), limit)
	if err != nil {
		return err
	}
	return replica.Unmarshal(frame, v)
}
