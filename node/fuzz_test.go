package node

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// The fuzz targets of the protocols whose messages the node decodes by
// reflection (pair, catch-up, address exchange): each feeds the same bytes
// to every message type of its protocol through the bounded decoder that
// the stream handlers use (readMsg, replica.Unmarshal). The replica, ack
// and attachment codecs are fuzzed in package replica. make fuzz runs them.

// fuzzSeeds adds each message's encoding, damaged variants of it, and the
// hostile shapes: deep nesting, a declared length the bytes cannot hold, a
// frame of nils that a decoder would blow up.
func fuzzSeeds(f *testing.F, msgs ...any) {
	for _, m := range msgs {
		b, err := msgpack.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, n := range []int{0, 1, len(b) / 2, len(b) - 1} {
			f.Add(bytes.Clone(b[:n]))
		}
		for _, i := range []int{0, 1, len(b) / 2, len(b) - 1} {
			flipped := bytes.Clone(b)
			flipped[i] ^= 0xff
			f.Add(flipped)
			f.Add(append(append(bytes.Clone(b[:i]), 0xdd), b[i:]...))
		}
		f.Add(append(bytes.Clone(b), 0xc0))
	}
	f.Add(nestedMsg(4096))
	f.Add([]byte{0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add(append([]byte{0x81, 0xa1, 'x', 0xdc, 0x10, 0x00}, bytes.Repeat([]byte{0xc0}, 0x1000)...))
}

// fuzzDecode decodes b into a new T with the bounded decoder: an error must
// wrap replica.ErrMalformed; what is accepted must encode, and its encoding
// must be accepted again.
func fuzzDecode[T any](t *testing.T, b []byte) {
	var v T
	if err := replica.Unmarshal(b, &v); err != nil {
		if !errors.Is(err, replica.ErrMalformed) {
			t.Fatalf("%T: error does not wrap ErrMalformed: %v", v, err)
		}
		return
	}
	b1, err := msgpack.Marshal(&v)
	if err != nil {
		t.Fatalf("%T: accepted message does not encode: %v", v, err)
	}
	var v1 T
	if err := replica.Unmarshal(b1, &v1); err != nil {
		t.Fatalf("%T: re-encoded message is refused: %v", v, err)
	}
}

func FuzzPairMessages(f *testing.F) {
	member := &store.Member{ID: "12D3KooWmember", Name: "m", Addrs: []string{"/ip4/127.0.0.1/tcp/1"},
		State: replica.Value{S: replica.MemberJoined, Clock: replica.Clock{Wall: 1, Peer: "p"}}}
	fuzzSeeds(f,
		&pairRequest{V: pairVersion, Secret: make([]byte, pairing.SecretSize), Addrs: []string{"/ip4/127.0.0.1/tcp/1"}},
		&pairResponse{V: pairVersion, OK: true, Net: &netSnapshot{ID: "n", Name: "team", Members: []*store.Member{member, nil}}},
		&pairResponse{V: pairVersion, Error: "unknown invitation"},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[pairRequest](t, b)
		fuzzDecode[pairResponse](t, b)
	})
}

func FuzzCatchUpMessages(f *testing.F) {
	fuzzSeeds(f,
		&netSyncRequest{V: netSyncVersion, Net: "n", Had: map[string]uint64{"a": 1, "b": 1 << 40}},
		&netSyncChunk{V: netSyncVersion, Events: [][]byte{{0x80}, bytes.Repeat([]byte{1}, 300)}},
		&netSyncChunk{V: netSyncVersion, Done: true, Marks: map[string]uint64{"a": 3}},
		&netSyncChunk{V: netSyncVersion, Error: "not a member"},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[netSyncRequest](t, b)
		fuzzDecode[netSyncChunk](t, b)
	})
}

func FuzzAddrsMessages(f *testing.F) {
	fuzzSeeds(f,
		&addrsRequest{V: addrsVersion, Peers: []string{"a", "b"}},
		&addrsResponse{V: addrsVersion, Peers: []peerAddrs{{ID: "a", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}}}},
		&addrsResponse{V: addrsVersion, Error: "too many peers"},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[addrsRequest](t, b)
		fuzzDecode[addrsResponse](t, b)
	})
}
