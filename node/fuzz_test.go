package node

import (
	"testing"

	"github.com/issuemesh/issuemesh/internal/fuzzmsg"
)

// The fuzz target of the address protocol (fuzzmsg has the seeds and the
// check; the pair protocol's is in package pairing, catch-up's in mesh). The
// replica, ack and attachment codecs are fuzzed in package replica. make
// fuzz runs them.

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
