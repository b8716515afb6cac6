package node

import (
	"bytes"
	"testing"

	"github.com/issuemesh/issuemesh/internal/fuzzmsg"
)

// The fuzz targets of the catch-up and address protocols (fuzzmsg has the
// seeds and the check; the pair protocol's is in package pairing). The
// replica, ack and attachment codecs are fuzzed in package replica. make
// fuzz runs them.

func FuzzCatchUpMessages(f *testing.F) {
	fuzzmsg.Seeds(f,
		&netSyncRequest{V: netSyncVersion, Net: "n", Had: map[string]uint64{"a": 1, "b": 1 << 40}},
		&netSyncChunk{V: netSyncVersion, Events: [][]byte{{0x80}, bytes.Repeat([]byte{1}, 300)}},
		&netSyncChunk{V: netSyncVersion, Done: true, Marks: map[string]uint64{"a": 3}},
		&netSyncChunk{V: netSyncVersion, Error: "not a member"},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzmsg.Decode[netSyncRequest](t, b)
		fuzzmsg.Decode[netSyncChunk](t, b)
	})
}

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
