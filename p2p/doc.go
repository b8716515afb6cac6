// Package p2p is issuemesh's libp2p layer: host construction, the node's
// persisted identity, the allowlist that decides who may connect, the
// protocol IDs, an allowlist-checking stream handler and a connector that
// keeps allowlisted peers connected, and [Exchange], the scaffold of every
// outgoing stream (context deadline, reset when the context ends, close or
// reset at the end). It knows nothing about trackers, issues or replicas;
// the node wires those on top. The sync protocols themselves (replica, ack,
// attach, resync) are in the syncproto package below this one.
//
// # Who may talk to us
//
// Only peers on the [Allowlist] get anywhere (DESIGN 5.6):
//
//   - The [Gater] refuses outbound dials to, and authenticated inbound
//     connections from, any peer that is not allowlisted. Inbound
//     connections are judged in InterceptSecured, after the security
//     handshake has proved the remote peer ID. Each refused peer is logged
//     once at warn level (bounded memory; repeats are logged at debug).
//   - [Handle] checks the allowlist again for every inbound stream, so a
//     peer removed from the allowlist while connected cannot open a
//     protocol (defence in depth behind the gater).
//   - The circuit relay service, when it runs, reserves slots for and relays
//     between allowlisted peers only.
//   - The [Connector] unprotects and disconnects a peer that it kept
//     connected once that peer leaves the allowlist.
//   - Invitations ([Pairing], when given in [Config]): while at least one
//     invitation is open the gater also admits inbound connections from
//     peers that are not allowlisted; such a peer can only use the pair
//     protocol ([HandlePair]; [Handle] resets its other streams, the relay
//     refuses it) and is disconnected after [PairTimeout] (10 s) unless it
//     got on the allowlist. At most 32 wait at a time, 8 from one source
//     (IPv4 /24, IPv6 /48); when full, a newcomer takes the place of the
//     stranger with the most failed attempts, then of one with no pair
//     stream running, then the longest waiting, so strangers cannot keep a
//     real invitee out; a peer ID with 3 failed attempts in 10 minutes is
//     refused until they age out. With no open
//     invitation strangers are refused exactly as without a Pairing. A
//     node accepting an invitation may dial the inviter, not yet
//     allowlisted, while [Pairing.AllowDial] is in force.
//
// # Reachability and NAT
//
// [Config.Reachability] is "auto", "public" or "private". AutoNAT (v1)
// needs peers that run the AutoNAT service and dial back from a throw-away
// peer ID, which our own gater refuses; in a closed mesh of allowlisted
// peers "auto" therefore usually stays at "unknown". In that state the
// relay client (autorelay) is active, but the relay service is not. A node
// that is reachable from the internet and should relay for its NATed peers
// must be configured "public"; a node known to be behind NAT should be
// configured "private" so that it reserves relay slots at once. See NOTES.md.
//
// The relay service replaces go-libp2p's default per-connection limits (2
// minutes and 128 KiB, enough to start hole punching and no more) with
// [RelayResources]: one hour and 64 MiB each way per relayed connection,
// 16 KiB copy buffers, 32 reservations per IP address. It relays for
// allowlisted peers only, and sync data falls back to the relay when hole
// punching cannot work (a symmetric NAT), so the limits bound what one
// relayed connection may cost; when one is reached the relay resets the
// connection and the Connector dials again. Relayed connections stay
// "limited": streams over them need [OpenStream] (which allows limited
// connections); go-libp2p prefers a direct connection for new streams once
// DCUtR made one. [Reservations], [Relaying], [HolePunchReady] and
// [PeerConn] report the state for the node's status.
//
// go-libp2p hole punches and advertises relay addresses only for public
// addresses ([manet.IsPublicAddr]). The NAT tests simulate the internet in
// 198.18.0.0/15, which is reserved; [TreatAsPublic], driven by the hidden
// environment variable [TestPublicEnv] (read by the issuemesh command at
// start), makes such a range count as public. Tests only.
//
// # Connector
//
// [Connector.Run] protects every allowlisted peer in the connection manager
// (tag "issuemesh") and dials the ones that are not connected, using the
// addresses already in the peerstore, with per-peer exponential backoff
// (1 s doubling to 1 min, ±20 % jitter, reset when a connection succeeds).
// Successive dial attempts to one peer are at least 1 s apart even after a
// success, so a peer that accepts and immediately drops us cannot make us
// spin. A connection through a relay counts as connected. [Connector.Retry]
// forgets a peer's backoff, e.g. when its addresses were just learned (by
// mDNS or from another peer), so that it is dialled at once.
package p2p
