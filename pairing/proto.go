package pairing

import "github.com/issuemesh/issuemesh/store"

// The pair protocol's messages: one Request from the acceptor, one
// Response from the inviter, each one frame of msgpack.

const (
	// ProtoVersion is the version of the pair protocol's messages.
	ProtoVersion = 1
	// MaxFrame is the frame limit of the pair protocol (the answer to a
	// network invitation holds the member list).
	MaxFrame = 256 << 10
	// MaxRequest is the frame limit of a pair request (a secret and up to
	// replica.MaxMemberAddrs addresses), read from strangers.
	MaxRequest = 32 << 10
)

// Request proves an invitation's secret.
type Request struct {
	V      int    `msgpack:"v"`
	Secret []byte `msgpack:"secret"`
	// Addrs are the acceptor's own addresses, told to a network's members.
	Addrs []string `msgpack:"addrs,omitempty"`
}

// Response is the inviter's answer.
type Response struct {
	V     int    `msgpack:"v"`
	OK    bool   `msgpack:"ok"`
	Error string `msgpack:"error,omitempty"`
	// Net is the network a network invitation joins, with its members.
	Net *Snapshot `msgpack:"net,omitempty"`
}

// Snapshot is what a new member learns from its inviter: the network and
// its members.
type Snapshot struct {
	ID      string          `msgpack:"id"`
	Name    string          `msgpack:"name"`
	Members []*store.Member `msgpack:"members"`
}
