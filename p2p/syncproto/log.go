package syncproto

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/replica"
)

// Entry is one event in the sync log: its sequence (per source and
// destination; sequences grow but may have gaps) and its frame, the
// msgpack encoding of a replica.Event.
type Entry struct {
	Seq   uint64
	Frame []byte
}

// Log is the sync log as the protocols use it (the node implements it over
// store).
type Log interface {
	// ReadOut calls read with the outgoing log to peer, read from one
	// consistent snapshot.
	ReadOut(peer string, read func(Outgoing) error) error
	// Receive logs events received from peer durably, in order. An event
	// already received (same source and sequence, or same event ID) is
	// dropped; if it was answered already, its ack is returned to be sent
	// again. When Receive returns nil every event is durable.
	Receive(ctx context.Context, peer string, events []Entry) (again []replica.Ack, err error)
}

// Outgoing is one snapshot of the outgoing log to a peer.
type Outgoing interface {
	// Pending returns up to n events not yet acked with a sequence above
	// after, oldest first.
	Pending(after uint64, n int) ([]Entry, error)
}

// Peers is what the replica and ack handlers tell the node (implemented by
// the node's engine wiring).
type Peers interface {
	// Known reports whether id is a peer this node syncs with; the
	// streams of any other are reset.
	Known(id peer.ID) bool
	// Logged is told that events from id are durably logged (the applier
	// may take them); again holds acks given before for duplicates among
	// them, to be queued again.
	Logged(id peer.ID, again []replica.Ack)
	// Acked records the acks from id durably: the events they answer
	// leave the outgoing log. An error makes the handler reset the
	// stream, so that the peer sends the acks again (or the events are
	// sent again and acked anew).
	Acked(ctx context.Context, id peer.ID, acks []replica.Ack) error
}
