package mesh

import (
	"bytes"
	"testing"

	"github.com/issuemesh/issuemesh/internal/fuzzmsg"
)

// FuzzCatchUpMessages feeds the same bytes to both messages of the
// catch-up protocol through the bounded decoder its handler uses. make
// fuzz runs it.
func FuzzCatchUpMessages(f *testing.F) {
	fuzzmsg.Seeds(f,
		&SyncRequest{V: SyncVersion, Net: "n", Had: map[string]uint64{"a": 1, "b": 1 << 40}},
		&SyncChunk{V: SyncVersion, Events: [][]byte{{0x80}, bytes.Repeat([]byte{1}, 300)}},
		&SyncChunk{V: SyncVersion, Done: true, Marks: map[string]uint64{"a": 3}},
		&SyncChunk{V: SyncVersion, Error: "not a member"},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzmsg.Decode[SyncRequest](t, b)
		fuzzmsg.Decode[SyncChunk](t, b)
	})
}
