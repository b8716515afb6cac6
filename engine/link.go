package engine

import "strings"

// netPrefix starts the link key of a network: "net:<network ID>".
const netPrefix = "net:"

// LinkKey names one link of a twin (store.Twin.Links): a peer ID, or
// "net:<network ID>" for a network. A peer's outgoing log is kept under its
// link key, and so is this node's author log of a network.
//
// It is the one word for "which link": store.Link is the state kept under
// it, replica.OpLink the manual operation that links two issues.
type LinkKey string

// PeerLink is the link key of a peer (its peer ID as text).
func PeerLink(id string) LinkKey { return LinkKey(id) }

// NetLink is the link key of network id.
func NetLink(id string) LinkKey { return LinkKey(netPrefix + id) }

// Net returns the network ID of a network's link key, or "" for a peer.
func (k LinkKey) Net() string {
	if id, ok := strings.CutPrefix(string(k), netPrefix); ok {
		return id
	}
	return ""
}

// Peer returns the peer ID of a peer's link key, or "" for a network.
func (k LinkKey) Peer() string {
	if k.IsNet() {
		return ""
	}
	return string(k)
}

// IsNet reports whether the link is a network's.
func (k LinkKey) IsNet() bool { return strings.HasPrefix(string(k), netPrefix) }

func (k LinkKey) String() string { return string(k) }

// SourceKey names an incoming log: where received events come from. For a
// peer it is the peer's link key; in a network, each author has its own:
// "net:<network ID>/<author peer ID>".
type SourceKey string

// NetSource is the source key of author's events in network id.
func NetSource(id, author string) SourceKey { return SourceKey(netPrefix + id + "/" + author) }

// PeerSource is the source key of a peer's events.
func PeerSource(id string) SourceKey { return SourceKey(id) }

// Link returns the link the source's events merge into: the peer, or the
// network.
func (s SourceKey) Link() LinkKey {
	if net, _, ok := strings.Cut(string(s), "/"); ok && strings.HasPrefix(net, netPrefix) {
		return LinkKey(net)
	}
	return LinkKey(s)
}

// Author returns the author of a network source, or "" for a peer.
func (s SourceKey) Author() string {
	if net, author, ok := strings.Cut(string(s), "/"); ok && strings.HasPrefix(net, netPrefix) {
		return author
	}
	return ""
}

func (s SourceKey) String() string { return string(s) }
