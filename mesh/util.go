package mesh

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/replica"
)

const (
	// maxStoredAddrs is the most addresses remembered per member.
	maxStoredAddrs = 24
	// publishBatch is how many of this node's events one pass publishes.
	publishBatch = 256
)

// errWrongOrigin is an event whose author is not the message's signed
// author.
var errWrongOrigin = errors.New("event from another origin than the sending peer")

func newID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

func nowUTC() time.Time { return time.Now().UTC() }

// shortID is the default name of a member: the end of its peer ID.
func shortID(id peer.ID) string {
	s := id.String()
	if len(s) > 12 {
		return s[len(s)-8:]
	}
	return s
}

// streamError logs why a stream of proto ended badly and resets it.
func (n *Mesh) streamError(s network.Stream, proto string, err error) {
	remote := s.Conn().RemotePeer()
	switch {
	case errors.Is(err, io.EOF):
		return
	case errors.Is(err, replica.ErrMalformed), errors.Is(err, replica.ErrFrameTooLarge), errors.Is(err, replica.ErrVersion):
		n.log.Error("bad data on the "+proto+" protocol; closing the stream", "peer", remote, "addr", s.Conn().RemoteMultiaddr(), "err", err)
	default:
		n.log.Debug(proto+" stream ended", "peer", remote, "err", err)
	}
	s.Reset()
}
