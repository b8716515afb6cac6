// Package msgp holds the msgpack primitives of issuemesh's hand-written
// codecs: the sync protocol's messages (replica/wire.go) and the sync
// log's twin records (store/twincodec.go). Both write what
// github.com/vmihailenco/msgpack/v5 writes for their structs, and both
// read byte slices that may come from a peer or a damaged disk, so the
// primitives here write the shortest form of each value and read with
// every bound checked: arbitrary bytes give an error, never a panic or an
// allocation larger than the input.
//
// What stays with each codec is what differs between them: the message
// layouts, the replica's limits on top of the ones here (prescan, field
// sizes), and the store's reading of values the way reflection reads them
// (structs as arrays, a timestamp extension, an extension header before a
// map).
package msgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ---- writing ----

// AppendMapLen appends a map header of n entries.
func AppendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

// AppendArrayLen appends an array header of n elements.
func AppendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// AppendStr appends s as a msgpack string.
func AppendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// AppendUint appends n in its shortest unsigned form.
func AppendUint(b []byte, n uint64) []byte {
	switch {
	case n <= 0x7f:
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), n)
}

// AppendInt appends n in its shortest form (unsigned when not negative).
func AppendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return AppendUint(b, uint64(n))
	case n >= -32:
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// ---- reading ----

// ErrMalformed is what errors of a [Reader] wrap unless its Malformed is
// set.
var ErrMalformed = errors.New("malformed msgpack")

// Reader reads msgpack values from a byte slice. Every method checks its
// bounds. Errors read "at byte N: what was wrong" and wrap Malformed.
type Reader struct {
	b []byte
	i int
	// Malformed is the error that the reader's errors wrap (default
	// ErrMalformed).
	Malformed error
	// MaxStr and MaxLen, when not 0, bound a string's bytes and a map's or
	// array's entries.
	MaxStr, MaxLen uint64
	// peers lets the clocks of one message share one string per peer ID:
	// most clocks carry the same one or two.
	peers [2]string
}

// NewReader returns a reader of b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// Offset is the position of the next byte to read.
func (r *Reader) Offset() int { return r.i }

// Left is how many bytes are still to be read: every msgpack value takes at
// least one, which bounds the entries of a map or an array.
func (r *Reader) Left() int { return len(r.b) - r.i }

// Fail returns an error at offset off, wrapping Malformed.
func (r *Reader) Fail(off int, format string, args ...any) error {
	kind := r.Malformed
	if kind == nil {
		kind = ErrMalformed
	}
	return fmt.Errorf("at byte %d: %s: %w", off, fmt.Sprintf(format, args...), kind)
}

// Byte reads one byte (the code of the next value).
func (r *Reader) Byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, r.Fail(r.i, "message ends where a value should start")
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

// Peek returns the next byte without reading it.
func (r *Reader) Peek() (byte, error) {
	if r.i >= len(r.b) {
		return 0, r.Fail(r.i, "message ends where a value should start")
	}
	return r.b[r.i], nil
}

// Unread steps back over the byte just read.
func (r *Reader) Unread() { r.i-- }

// Next returns the next n bytes, which alias the input.
func (r *Reader) Next(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.i) {
		return nil, r.Fail(r.i, "value of %d bytes runs past the end of the message", n)
	}
	p := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return p, nil
}

// UintN reads a big-endian unsigned integer of size bytes (1, 2, 4 or 8).
func (r *Reader) UintN(size int) (uint64, error) {
	p, err := r.Next(uint64(size))
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

// Container reads a map header (isMap) or an array header and returns its
// number of entries, or -1 for nil. The entries must fit in the bytes left
// (and in MaxLen).
func (r *Reader) Container(isMap bool) (int, error) {
	off := r.i
	c, err := r.Byte()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c == 0xc0:
		return -1, nil
	case isMap && c >= 0x80 && c <= 0x8f, !isMap && c >= 0x90 && c <= 0x9f:
		n = uint64(c & 0x0f)
	case isMap && c == 0xde, !isMap && c == 0xdc:
		n, err = r.UintN(2)
	case isMap && c == 0xdf, !isMap && c == 0xdd:
		n, err = r.UintN(4)
	default:
		want := "an array"
		if isMap {
			want = "a map"
		}
		return 0, r.Fail(off, "expected %s, found %s", want, TypeName(c))
	}
	if err != nil {
		return 0, err
	}
	if r.MaxLen > 0 && n > r.MaxLen {
		return 0, r.Fail(off, "%d entries exceed the %d-entry limit", n, r.MaxLen)
	}
	if n > uint64(len(r.b)-r.i) {
		return 0, r.Fail(off, "%d entries cannot fit in the %d bytes left", n, len(r.b)-r.i)
	}
	return int(n), nil
}

// RawStr reads a string or binary value and returns its bytes, which alias
// the input; nil reads as no bytes.
func (r *Reader) RawStr() ([]byte, error) {
	off := r.i
	c, err := r.Byte()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == 0xc0:
		return nil, nil
	case c == 0xd9 || c == 0xc4:
		n, err = r.UintN(1)
	case c == 0xda || c == 0xc5:
		n, err = r.UintN(2)
	case c == 0xdb || c == 0xc6:
		n, err = r.UintN(4)
	default:
		return nil, r.Fail(off, "expected a string, found %s", TypeName(c))
	}
	if err != nil {
		return nil, err
	}
	if r.MaxStr > 0 && n > r.MaxStr {
		return nil, r.Fail(off, "string of %d bytes exceeds the %d-byte limit", n, r.MaxStr)
	}
	return r.Next(n)
}

// Str reads a string (see [Reader.RawStr]).
func (r *Reader) Str() (string, error) {
	p, err := r.RawStr()
	return string(p), err
}

// Peer reads a string, reusing the string of a recent equal one (peer IDs
// repeat in every clock of a message).
func (r *Reader) Peer() (string, error) {
	p, err := r.RawStr()
	if err != nil {
		return "", err
	}
	for _, s := range r.peers {
		if s == string(p) {
			return s, nil
		}
	}
	s := string(p)
	r.peers[1], r.peers[0] = r.peers[0], s
	return s, nil
}

// Integer reads any msgpack integer; neg reports a negative value, whose
// two's complement is in u. nil reads as 0.
func (r *Reader) Integer() (u uint64, neg bool, err error) {
	off := r.i
	c, err := r.Byte()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c <= 0x7f:
		return uint64(c), false, nil
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, nil
	case c == 0xc0:
		return 0, false, nil
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, false, r.Fail(off, "expected an integer, found %s", TypeName(c))
	}
	v, err := r.UintN(size)
	if err != nil {
		return 0, false, err
	}
	switch c {
	case 0xd0:
		s := int64(int8(v))
		return uint64(s), s < 0, nil
	case 0xd1:
		s := int64(int16(v))
		return uint64(s), s < 0, nil
	case 0xd2:
		s := int64(int32(v))
		return uint64(s), s < 0, nil
	case 0xd3:
		return v, int64(v) < 0, nil
	}
	return v, false, nil
}

// Bool reads a boolean; nil reads as false.
func (r *Reader) Bool() (bool, error) {
	off := r.i
	c, err := r.Byte()
	if err != nil {
		return false, err
	}
	switch c {
	case 0xc2, 0xc0:
		return false, nil
	case 0xc3:
		return true, nil
	}
	return false, r.Fail(off, "expected a boolean, found %s", TypeName(c))
}

// Skip passes over one value of any type without recursion: pending counts
// the values still to pass.
func (r *Reader) Skip() error {
	for pending := 1; pending > 0; pending-- {
		off := r.i
		c, err := r.Byte()
		if err != nil {
			return err
		}
		var (
			n    uint64 // payload bytes to pass
			size int    // bytes of a length field
			ext  bool
		)
		switch {
		case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
			continue
		case c <= 0x8f:
			pending += 2 * int(c&0x0f)
			continue
		case c <= 0x9f:
			pending += int(c & 0x0f)
			continue
		case c <= 0xbf:
			n = uint64(c & 0x1f)
		default:
			switch c {
			case 0xc4, 0xd9:
				size = 1
			case 0xc5, 0xda:
				size = 2
			case 0xc6, 0xdb:
				size = 4
			case 0xc7:
				size, ext = 1, true
			case 0xc8:
				size, ext = 2, true
			case 0xc9:
				size, ext = 4, true
			case 0xca:
				n = 4
			case 0xcb:
				n = 8
			case 0xcc, 0xd0:
				n = 1
			case 0xcd, 0xd1:
				n = 2
			case 0xce, 0xd2:
				n = 4
			case 0xcf, 0xd3:
				n = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
				n = 1 + 1<<(c-0xd4)
			case 0xdc, 0xde:
				size = 2
			case 0xdd, 0xdf:
				size = 4
			default:
				return r.Fail(off, "byte 0x%02x is not valid msgpack", c)
			}
		}
		if size > 0 {
			if n, err = r.UintN(size); err != nil {
				return err
			}
			if ext {
				n++
			}
			if c >= 0xdc { // array or map
				if c >= 0xde {
					n *= 2
				}
				if n > uint64(len(r.b)-r.i) {
					return r.Fail(off, "%d entries cannot fit in the %d bytes left", n, len(r.b)-r.i)
				}
				pending += int(n)
				continue
			}
		}
		if _, err := r.Next(n); err != nil {
			return err
		}
	}
	return nil
}

// TypeName describes the msgpack value starting with c, for errors.
func TypeName(c byte) string {
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return "an integer"
	case c <= 0x8f || c == 0xde || c == 0xdf:
		return "a map"
	case c <= 0x9f || c == 0xdc || c == 0xdd:
		return "an array"
	case c <= 0xbf || (c >= 0xd9 && c <= 0xdb):
		return "a string"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "a boolean"
	case c >= 0xc4 && c <= 0xc6:
		return "binary data"
	case c == 0xca || c == 0xcb:
		return "a float"
	case (c >= 0xc7 && c <= 0xc9) || (c >= 0xd4 && c <= 0xd8):
		return "an extension value"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
