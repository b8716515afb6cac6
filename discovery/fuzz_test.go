package discovery

import (
	"testing"

	"github.com/issuemesh/issuemesh/internal/fuzzmsg"
)

// FuzzAddrsMessages feeds the same bytes to both messages of the address
// protocol through the bounded decoder its handler uses (fuzzmsg has the
// seeds and the check). make fuzz runs it.
func FuzzAddrsMessages(f *testing.F) {
	fuzzmsg.Seeds(f,
		&addrsRequest{V: addrsVersion, Peers: []string{"a", "b"}},
		&addrsResponse{V: addrsVersion, Peers: []peerAddrs{{ID: "a", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}}}},
		&addrsResponse{V: addrsVersion, Error: "too many peers"},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzmsg.Decode[addrsRequest](t, b)
		fuzzmsg.Decode[addrsResponse](t, b)
	})
}
