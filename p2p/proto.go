package p2p

import "github.com/libp2p/go-libp2p/core/protocol"

// Protocol IDs and the resource-manager service name (DESIGN 4).
const (
	// ProtoReplica streams sync events to a destination peer.
	ProtoReplica protocol.ID = "/issuemesh/replica/1.0.0"
	// ProtoAck carries a destination's answers to events back to the source.
	ProtoAck protocol.ID = "/issuemesh/ack/1.0.0"
	// ProtoPair proves an invitation's secret so both sides allowlist each other.
	ProtoPair protocol.ID = "/issuemesh/pair/1.0.0"
	// ProtoAddrs asks an allowlisted peer for the addresses it knows of
	// other peers that the asker names (address exchange).
	ProtoAddrs protocol.ID = "/issuemesh/addrs/1.0.0"
	// ProtoAttach fetches the bytes of a shared file from the peer that
	// shared it (request, reply, chunks; see replica.AttachRequest).
	ProtoAttach protocol.ID = "/issuemesh/attach/1.0.0"

	// ServiceName is the resource-manager service scope of issuemesh streams.
	ServiceName = "issuemesh"
)
