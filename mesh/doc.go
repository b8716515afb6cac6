// Package mesh is a node's networks (DESIGN 1, 3, 4, 5.5): multi-party
// sync groups, each a gossipsub topic plus its member list. It owns the
// send and receive steps of the sync path for a network (step 4 and 5:
// publish, validate, archive, catch up, log) and membership; it supplies
// the engine with sources to apply ("net:<network ID>/<author>", through
// Engine.Apply) and is woken for a "net:" link by Mesh.Wake. The engine's
// share step logs this node's events for a network through Mesh.Append.
// The interfaces it consumes (Engine, Peers) are defined here; package
// pairing brings new members in (Mesh implements pairing.Networks).
//
// A network is one more link of a twin, like a peer: the twin's link
// "net:<network ID>" has its agreed state and baseline, and share stamps and sends a local change
// to it as to a peer, with the network's own trigger and rules (config
// entry "net:<network name>"). What differs is the transport:
//
//   - This node's events for a network get a sequence per author (the
//     outgoing log of the link key) and are published on the network's
//     gossipsub topic /issuemesh/net/<name>/1. Messages are signed by their
//     author; a topic validator admits only well-formed events of this
//     network whose author (Event.Origin) is the message's signed author and
//     a current member, and rejects everything else.
//   - Every member archives every event of the network it has seen, own and
//     received, by (author, seq), keeping per author and twin only the
//     newest (each event carries the twin's whole agreed state). Gossipsub is
//     best effort: whenever a member connects to another member (or joins
//     the topic, or gossip shows a gap in an author's events), and every
//     NetSyncInterval, it asks over ProtoNetSync for each author's events
//     after its complete mark of that author, and the other member answers
//     from its archive. No member depends on any single other member.
//   - Received events are deduplicated per (network, author, seq), logged
//     under "net:<network ID>/<author>" and applied by the network's applier
//     with the same merge and rules as a peer's. There are no acks: each
//     event carries its author's key of the issue, which every member keeps
//     on the twin's link (store.Link.Keys). A member that created an issue
//     from a network event tells its key by sending its state once.
//   - Membership is a set of events too (replica.OpMember): a member invites
//     with a code carrying the network (network invite); the acceptor proves
//     the code's secret over the pair protocol, the inviter records the join
//     as a membership event, signed and published like any event, and gives
//     the acceptor the member list. Every member applies the event: it
//     allowlists the new member and learns its addresses. A member leaves
//     with a membership event about itself. The newest statement about a
//     member wins (clocked like a field), so all members agree.
//
// Values converge whatever the delivery order: fields are last writer wins
// by hybrid logical clock, comments merge by ID, list fields (labels) are
// sets with adds and removes (see replica.Merge).
//
// Every event is its author's signed envelope (p2p.SignEvent), published,
// archived and served as such, and verified by one function whichever way
// it comes (verifyNetEvent, verify.go): no member can forge another's
// event in a catch-up answer.
//
// Limits: the gossipsub messages of a member not yet known to a node (its
// join still on the way) are rejected there and arrive by catch-up
// instead; manual sync, unsync and link act on peers only.
package mesh
