// Package pairing is how two nodes that do not know each other yet come to
// trust each other (DESIGN 7): the invitation code that `issuemesh invite`
// and `network invite` print, the invitations the inviter keeps, and the
// pair protocol (/issuemesh/pair/1.0.0) over which the acceptor proves the
// code's secret.
//
// It owns one step before the sync path starts: admission. The inviter
// checks an invitation once (Check: known, unused, unexpired), marks it
// used and admits the acceptor in one durable write, through the one
// redeem path of Service, whatever the invitation is for: a pairing, where
// the node's peers admit the acceptor (Peers), or a network, where the
// network records its join (Networks). The acceptor's side (Service.Dial)
// checks the code (Invitation.Check) and proves the secret the same way
// for both.
//
// The code is "im1" followed by the unpadded lower-case base32 (RFC 4648)
// of: a version byte (1); uvarint-length-prefixed peer ID bytes;
// uvarint-length-prefixed secret; the expiry in Unix seconds (uvarint); an
// address count (uvarint) and that many uvarint-length-prefixed binary
// multiaddrs; for an invitation into a network (network invite) the
// uvarint-length-prefixed network ID and name; a CRC-32 (IEEE, big-endian)
// of everything before it, which catches a code copied incompletely. Codes
// without a network are as before networks existed.
//
// The code carries the inviter's peer ID, its addresses, a random
// single-use secret and the expiry; the inviter stores only the SHA-256 of
// the secret (SecretHash), with the expiry and the name the accepting peer
// will get. The acceptor dials the inviter (its gater lets strangers in
// only while an invitation is open, for the pair protocol only, for at most
// p2p.PairTimeout, within the limits of p2p.Pairing) and sends the secret
// inside the Noise channel that authenticates the inviter's peer ID, so
// only the inviter ever sees it. Refusals name the reason on both sides.
//
// A limitation: the acceptor must be able to reach the inviter by one of
// the addresses in the code. A relay address works only if the relay
// allowlists the acceptor too, which it does not yet at that point; so an
// inviter behind NAT should be invited from (or invite) a peer that can
// reach it directly, or peers are added by ID (peer add /p2p/ID) and found
// by address exchange.
package pairing
