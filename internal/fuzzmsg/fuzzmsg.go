// Package fuzzmsg is the shared seed corpus and check of the fuzz targets
// of the protocols whose messages are decoded by reflection (pair,
// catch-up, address exchange): each target feeds the same bytes to every
// message type of its protocol through the bounded decoder the stream
// handlers use (replica.Unmarshal). It is for tests only and owns no step
// of the sync path.
package fuzzmsg

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/replica"
)

// Nested is a msgpack map {"x": [[[...nil...]]]} of size bytes: an unknown
// key whose value nests size-4 arrays deep.
func Nested(size int) []byte {
	b := []byte{0x81, 0xa1, 'x'}
	b = append(b, bytes.Repeat([]byte{0x91}, size-4)...)
	return append(b, 0xc0)
}

// Seeds adds each message's encoding, damaged variants of it, and the
// hostile shapes: deep nesting, a declared length the bytes cannot hold, a
// frame of nils that a decoder would blow up.
func Seeds(f *testing.F, msgs ...any) {
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
	f.Add(Nested(4096))
	f.Add([]byte{0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add(append([]byte{0x81, 0xa1, 'x', 0xdc, 0x10, 0x00}, bytes.Repeat([]byte{0xc0}, 0x1000)...))
}

// Decode decodes b into a new T with the bounded decoder: an error must
// wrap replica.ErrMalformed; what is accepted must encode, and its encoding
// must be accepted again.
func Decode[T any](t *testing.T, b []byte) {
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
