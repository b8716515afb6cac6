package main

import (
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/node"
)

// printInitAddrs prints the addresses init can give out: one "address:"
// line per configured listen address with a fixed port. An address with
// port 0 gets its port from the system when the node starts, so it cannot
// be given to anyone yet: a "note:" line says so and that `issuemesh id`
// shows the real one once the node runs.
func printInitAddrs(w io.Writer, listen []string, id peer.ID) {
	var fixed []string
	for _, a := range listen {
		if anyPort(a) {
			fmt.Fprintf(w, "note: %s takes a free port when the node starts; run `issuemesh id` then for the address to give to peers\n", a)
			continue
		}
		fixed = append(fixed, a)
	}
	for _, a := range node.ConfiguredAddrs(fixed, id) {
		fmt.Fprintf(w, "address: %s\n", a)
	}
}

// anyPort reports whether the multiaddr a listens on port 0 (TCP or UDP).
func anyPort(a string) bool {
	m, err := ma.NewMultiaddr(a)
	if err != nil {
		return false
	}
	for _, code := range []int{ma.P_TCP, ma.P_UDP} {
		if v, err := m.ValueForProtocol(code); err == nil && v == "0" {
			return true
		}
	}
	return false
}
