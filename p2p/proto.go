package p2p

import "github.com/libp2p/go-libp2p/core/protocol"

// Protocol IDs and the resource-manager service name (DESIGN 4). The
// sync protocols (replica, ack, attach, resync) have theirs in syncproto.
const (
	// ProtoPair proves an invitation's secret so both sides allowlist each other.
	ProtoPair protocol.ID = "/issuemesh/pair/1.0.0"
	// ProtoAddrs asks an allowlisted peer for the addresses it knows of
	// other peers that the asker names (address exchange).
	ProtoAddrs protocol.ID = "/issuemesh/addrs/1.0.0"

	// ServiceName is the resource-manager service scope of issuemesh streams.
	ServiceName = "issuemesh"
)
