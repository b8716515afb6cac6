// Package engine is the sync engine of issuemesh: the steps of design.md §2
// that decide what a change means, between the tracker and the transport.
// It imports no libp2p; it talks to the transport through the narrow
// interfaces it defines (a Notifier that wakes a link's sender, a Fetcher
// for files), so that its tests run against in-memory trackers and an
// in-memory transport.
//
// One file per step (docs/engine.md, "Where each step lives"):
//
//   - trigger.go: the change-feed loop (Trigger) and one pass of it (Scan).
//   - share.go: outgoing rules, stamp (stamp.go), clears (clears.go) and log append (Queue);
//     manual.go: sync, unsync and link by hand, by the same path.
//   - apply.go: the incoming log in order; merge.go, rules.go, tracker.go
//     and finish.go: merge, incoming rules, the tracker write, the record
//     and ack; refuse.go: events clocked too far ahead.
//   - acks.go: the peer's answers, and acked events leaving the queue.
//   - link.go: the words. A LinkKey names a twin's link (a peer, or a
//     network); a SourceKey names an incoming log (a peer, or one author
//     in a network).
//   - blocked.go: the one writer of blocked records, one per twin,
//     direction and link; history.go: typed history records.
//   - unrecorded.go, prune.go, policy.go, lostlink.go, eventsize.go: the
//     rules these steps keep (see their docs).
//
// Lock order: a share pass or an apply batch takes the locks of its twins
// (Locks) in twin ID order, then writes the sync log; nothing else is held
// across a tracker call.
package engine
