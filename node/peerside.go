package node

import (
	"strings"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/store"
)

// peerSides fills in, for the errors the admin API lists, the peer's side
// of each blocked twin as this node knows it: the twin's key at the peer
// and the replica both sides last agreed on (the twin's link record).
// A twin not linked (yet) is left as it is.
func peerSides(tx *store.Tx, bs []store.Blocked) {
	for i := range bs {
		b := &bs[i]
		if b.Twin == "" {
			continue
		}
		tw, err := tx.GetTwin(b.Twin)
		if err != nil {
			continue
		}
		// "net:<id>/<author>": received from one author of a network,
		// whose link is the network's.
		link, author, _ := strings.Cut(b.Peer, "/")
		l := tw.Links[link]
		if l == nil {
			continue
		}
		b.PeerKey = l.RemoteKey
		if author != "" {
			b.PeerKey = l.Keys[author]
		}
		b.Agreed = engine.AgreedText(l.Agreed)
	}
}
