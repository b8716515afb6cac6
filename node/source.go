package node

import (
	"strings"

	"github.com/issuemesh/issuemesh/replica"
)

// netPrefix starts the link key of a network: "net:<network ID>". A twin's
// link with a network (store.Twin.Links) is kept under it, the network's
// author log of this node's own events is the outgoing log of that key, and
// the events received from one author of the network are logged under
// "net:<network ID>/<author peer ID>".
const netPrefix = "net:"

// source is where received events come from and where they merge: a peer,
// or one author in a network. The appliers (engine.go) work on sources.
type source struct {
	// link is the twin link the events merge into and whose rules apply:
	// the peer ID, or "net:<network ID>".
	link string
	// key is the incoming log key: the peer ID, or
	// "net:<network ID>/<author>".
	key string
	// ack sends the answer to an event back to its source; nil for a
	// network, where nobody waits for acks.
	ack func(replica.Ack)
}

// net reports whether the source is an author in a network.
func (s *source) net() bool { return isNetLink(s.link) }

func (ps *peerState) source() *source {
	id := ps.id.String()
	return &source{link: id, key: id, ack: ps.queueAck}
}

// isNetLink reports whether a link key names a network.
func isNetLink(link string) bool { return strings.HasPrefix(link, netPrefix) }

// netLink is the link key of network id.
func netLink(id string) string { return netPrefix + id }

// netSource is the incoming log key of author's events in network id.
func netSource(id, author string) string { return netPrefix + id + "/" + author }
