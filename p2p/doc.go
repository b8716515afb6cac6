// Package p2p is issuemesh's libp2p layer: host construction, the node's
// persisted identity, the allowlist that decides who may connect, the
// protocol IDs, an allowlist-checking stream handler and a connector that
// keeps allowlisted peers connected. It knows nothing about trackers,
// issues or replicas; the node wires those on top.
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
// The relay service keeps go-libp2p's default per-connection limits
// (2 minutes and 128 KiB per relayed connection). Relayed connections are
// therefore "limited": streams over them need [OpenStream] (which allows
// limited connections) and are meant for small control traffic while DCUtR
// hole punching upgrades to a direct connection.
//
// # Connector
//
// [Connector.Run] protects every allowlisted peer in the connection manager
// (tag "issuemesh") and dials the ones that are not connected, using the
// addresses already in the peerstore, with per-peer exponential backoff
// (1 s doubling to 1 min, ±20 % jitter, reset when a connection succeeds).
// Successive dial attempts to one peer are at least 1 s apart even after a
// success, so a peer that accepts and immediately drops us cannot make us
// spin. A connection through a relay counts as connected.
package p2p
