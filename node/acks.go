package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/replica"
)

// recordAcks records a batch of acks from the peer (engine/acks.go) and
// counts them.
func (n *Node) recordAcks(ctx context.Context, remote peer.ID, items []replica.Ack) error {
	now := time.Now()
	acked, err := n.eng.RecordAcks(ctx, engine.PeerLink(remote.String()), items, now)
	if err == nil {
		n.metrics.ackedBatch(remote.String(), acked, now)
	}
	return err
}
