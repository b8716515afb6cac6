package store

import (
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Twin records and the events of the outgoing and incoming logs are stored
// compressed (S2, klauspost/compress) when that makes them smaller. Each
// link of a twin holds two replicas, the agreed state and the baseline,
// which mostly carry the same values, so a twin with a 1 KiB description
// held it twice, and every write of the twin (each change and first ack)
// copied both through Badger's write-ahead log, memtable and tables. S2
// finds the second copy (its window covers the record), shrinks prose by
// about a third besides, and costs microseconds each way. Events are
// compressed in the log only: the wire carries them as replica encodes
// them (PendingOut returns that form).
//
// The stored form is a marker byte, packedMark, then the S2 block of the
// plain encoding; any other first byte is the plain encoding itself, as
// homes written before compression hold it. Twins and events are msgpack
// maps, which never start with 0xc1, the one byte msgpack leaves unused.
// Both forms are read, so an existing home needs no migration: its records
// are compressed as they are next written.

const (
	packedMark byte = 0xc1
	// packMin is the smallest encoding worth compressing.
	packMin = 256
	// maxUnpacked bounds what a stored compressed record may claim to
	// decode to, so that a damaged record cannot make a node allocate
	// without limit.
	maxUnpacked = 256 << 20
)

// packedTwin is the marker of a compressed twin record.
const packedTwin = packedMark

// pack returns the stored form of a plain encoding (a copy: raw may be
// reused by the caller).
func pack(raw []byte) []byte {
	if len(raw) < packMin {
		return slices.Clone(raw)
	}
	buf := make([]byte, 1+s2.MaxEncodedLen(len(raw)))
	buf[0] = packedMark
	enc := s2.Encode(buf[1:], raw) // in buf: it is big enough
	if 1+len(enc) >= len(raw) {
		return slices.Clone(raw)
	}
	return buf[: 1+len(enc) : 1+len(enc)]
}

// unpack returns the plain encoding of a stored record, in dst's storage
// when it is big enough, else in new storage. A plain record is returned
// as it is.
func unpack(dst, b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != packedMark {
		return b, nil
	}
	n, err := s2.DecodedLen(b[1:])
	if err != nil {
		return nil, fmt.Errorf("compressed record: %w", err)
	}
	if n > maxUnpacked {
		return nil, fmt.Errorf("compressed record claims %d bytes, more than the %d a record may have", n, maxUnpacked)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	raw, err := s2.Decode(dst[:n], b[1:])
	if err != nil {
		return nil, fmt.Errorf("compressed record: %w", err)
	}
	return raw, nil
}

// unpackFrame returns an event's wire encoding from its stored form.
func unpackFrame(b []byte) ([]byte, error) { return unpack(nil, b) }

// packTwin returns tw's stored form.
func packTwin(tw *Twin) []byte {
	bp := rawBufs.Get().(*[]byte)
	defer rawBufs.Put(bp)
	*bp = appendTwin((*bp)[:0], tw)
	return pack(*bp)
}

// unpackTwin decodes a twin's stored form into tw.
func unpackTwin(b []byte, tw *Twin) error {
	bp := rawBufs.Get().(*[]byte)
	defer rawBufs.Put(bp)
	raw, err := unpack(*bp, b)
	if err != nil {
		return fmt.Errorf("twin record: %w", err)
	}
	if len(b) > 0 && b[0] == packedMark {
		*bp = raw[:0]
	}
	return decodeTwin(raw, tw) // copies what it keeps (strings)
}

// rawBufs holds buffers for twins' plain encodings on their way in and out
// of compression: decodeTwin keeps nothing of its input and the stored form
// is a copy, so the buffer is reused rather than allocated per twin.
var rawBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}
