// Package engine is the sync engine of issuemesh: the steps of design.md §2
// that decide what a change means, between the tracker and the transport.
// It imports no libp2p; it talks to the transport through the narrow
// interfaces it defines (a Notifier that wakes a link's sender, a Fetcher
// for files), so that its tests run against in-memory trackers and an
// in-memory transport.
//
// One file per step:
//
//   - link.go: the words. A LinkKey names a twin's link (a peer, or a
//     network); a SourceKey names an incoming log (a peer, or one author
//     in a network).
//   - blocked.go: the one writer of blocked records, one per twin,
//     direction and link.
//   - history.go: typed history records.
//
// Lock order: a share pass or an apply batch takes the locks of its twins
// (Locks) in twin ID order, then writes the sync log; nothing else is held
// across a tracker call.
package engine
