// Package syncproto is the sync protocol on the wire: steps 4 (send), 5
// (receive) and 7 (ack) of the path of a change (DESIGN 2), and the fetch of
// a file's bytes and the resync after a restore that ride beside them. Each
// protocol is one file, laid out as go-libp2p's ping: an ID, a handler that
// the node registers with [p2p.Handle], and the dialling side.
//
//   - sender.go: [Sender], one per peer with its own Run. It keeps a
//     replica stream open while the peer's outgoing log holds events, sends
//     them in order with at most [SendWindow] unacked, and starts over from
//     the oldest unacked event when the stream ends or the oldest event is
//     not acked within the ack timeout (the destination drops duplicates,
//     so resending is safe).
//   - replica.go: [ReplicaHandler], the receiving side of
//     /issuemesh/replica/1.0.0: frames are read in batches, checked (size,
//     version, origin), logged durably through [Log.Receive], and only then
//     handed on ([Peers.Logged]).
//   - ack.go: /issuemesh/ack/1.0.0. [RunAcks] batches a peer's queued acks
//     into frames; [AckHandler] records a peer's acks through
//     [Peers.Acked] before the events leave the queue.
//   - attach.go: /issuemesh/attach/1.0.0, [Fetch] and [AttachHandler].
//   - resync.go: /issuemesh/resync/1.0.0, [AskResync] and [ResyncHandler].
//
// The wire side does not know about twins, trackers or store: it reads
// and writes the sync log through the small [Log] interface and tells the
// node what happened through [Peers], [Files] and the resync callback,
// which the node implements over store and its engine. Guarantees kept
// here (DESIGN 5): an event is acked by the destination only after
// [Log.Receive] made it durable (nothing acked is lost); a source keeps
// every event until its ack is recorded, and resends from the oldest
// unacked one (nothing lost, order kept); duplicates are the receiving
// log's to drop, answered with the ack given before.
package syncproto
