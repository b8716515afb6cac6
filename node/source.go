package node

import "github.com/issuemesh/issuemesh/engine"

// Link and source keys are engine.LinkKey and engine.SourceKey; these are
// their string forms for the parts of the node that keep strings.

// netPrefix starts the link key of a network: "net:<network ID>".
const netPrefix = "net:"

func (ps *peerState) source() *engine.Source {
	return &engine.Source{Key: engine.PeerSource(ps.id.String()), Ack: ps.queueAck}
}

// isNetLink reports whether a link key names a network.
func isNetLink(link string) bool { return engine.LinkKey(link).IsNet() }

// netLink is the link key of network id.
func netLink(id string) string { return string(engine.NetLink(id)) }
