package store

import (
	"fmt"

	"github.com/klauspost/compress/s2"
)

// A twin record is stored compressed (S2, klauspost/compress) when that
// makes it smaller: each link holds two replicas, the agreed state and the
// baseline, which mostly carry the same values, so a twin with a 1 KiB
// description held it twice and every write of the twin (each change and
// first ack) copied both through Badger's write-ahead log, memtable and
// tables. S2 finds the second copy (its window covers the record) and
// costs microseconds each way.
//
// The stored form is a marker byte, packedTwin, then the S2 block of the
// twin's msgpack encoding (twincodec.go); any other first byte is the
// msgpack encoding itself, as homes written before compression hold it
// (a twin's encoding is a msgpack map, which never starts with 0xc1, the
// one byte msgpack leaves unused). Both forms are read, so an existing home
// needs no migration: its twins are compressed as they are next stored.

const (
	packedTwin byte = 0xc1
	// packMin is the smallest encoding worth compressing.
	packMin = 256
	// maxTwinSize bounds what a stored compressed twin may claim to
	// decode to, so that a damaged record cannot make a node allocate
	// without limit.
	maxTwinSize = 256 << 20
)

// packTwin returns tw's stored form.
func packTwin(tw *Twin) []byte {
	raw := encodeTwin(tw)
	if len(raw) < packMin {
		return raw
	}
	buf := make([]byte, 1+s2.MaxEncodedLen(len(raw)))
	buf[0] = packedTwin
	enc := s2.Encode(buf[1:], raw) // in buf: it is big enough
	if 1+len(enc) >= len(raw) {
		return raw
	}
	return buf[:1+len(enc)]
}

// unpackTwin decodes a twin's stored form into tw.
func unpackTwin(b []byte, tw *Twin) error {
	if len(b) == 0 || b[0] != packedTwin {
		return decodeTwin(b, tw)
	}
	n, err := s2.DecodedLen(b[1:])
	if err != nil {
		return fmt.Errorf("compressed twin record: %w", err)
	}
	if n > maxTwinSize {
		return fmt.Errorf("compressed twin record claims %d bytes, more than the %d a twin may have", n, maxTwinSize)
	}
	raw, err := s2.Decode(make([]byte, n), b[1:])
	if err != nil {
		return fmt.Errorf("compressed twin record: %w", err)
	}
	return decodeTwin(raw, tw)
}
