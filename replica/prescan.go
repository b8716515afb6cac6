package replica

import (
	"encoding/binary"
	"fmt"
)

// version is the top-level "v" entry as the pre-scan found it.
type version struct {
	found    bool  // a "v" key with an integer value
	n        int64 // its value when it fits an int64
	overflow bool  // an unsigned value above MaxInt64
}

func checkVersion(v version) error {
	switch {
	case !v.found:
		return fmt.Errorf("message has no version: %w", ErrMalformed)
	case v.overflow:
		return fmt.Errorf("message version is out of range, this node speaks %d: %w", Version, ErrVersion)
	case v.n == 0:
		return fmt.Errorf("message has version 0: %w", ErrMalformed)
	case v.n != Version:
		return fmt.Errorf("message version %d, this node speaks %d: %w", v.n, Version, ErrVersion)
	}
	return nil
}

// level is an open array or map during the pre-scan.
type level struct {
	left  int  // values still to read (a map entry is two values)
	isMap bool // values alternate key, value
}

// prescan walks the msgpack bytes without recursion and without allocating
// and checks that they form exactly one well-formed value within the codec's
// limits: nesting depth, string, binary and ext lengths, array and map
// lengths (each element needs at least one more byte, so a declared length
// cannot outrun the input), and no bytes after the value. It also picks up
// the top-level map's "v" entry so that another version is refused with
// ErrVersion even when the rest of the message would not decode.
//
// The decoder that runs afterwards (wire.go) checks its own bounds as well;
// this pass is the single place that bounds nesting, including inside
// unknown values, and it names the first fault with its byte offset. The
// same pass also keeps the bytes safe for a reflection-based msgpack decoder,
// should one ever be used on them.
func prescan(b []byte) (version, error) {
	ver, _, err := scan(b)
	return ver, err
}

// allocPerElem is what a decoder may allocate per array element or map key
// or value (a string or interface header), for scan's estimate.
const allocPerElem = 16

// scan is prescan that also estimates what a reflection-based decoder may
// allocate for the value: every string, binary and ext payload, plus
// allocPerElem for each array element and for each map key and value.
func scan(b []byte) (ver version, alloc int, err error) {
	var (
		stack   [MaxDepth + 1]level
		top     = 0 // stack[0] is the virtual top level holding one value
		i       = 0
		wantVer = false // the value being read follows the top-level key "v"
	)
	stack[0].left = 1
	for top >= 0 {
		cur := &stack[top]
		if cur.left == 0 {
			top--
			continue
		}
		// Inside the top-level map, the parity of what is left tells keys
		// from values: a key is read when an even number of values is left.
		isKey := top == 1 && cur.isMap && cur.left%2 == 0
		cur.left--
		if i >= len(b) {
			return ver, alloc, malformedAt(i, "message ends where a value should start")
		}
		off := i
		c := b[i]
		i++
		var (
			payload int  // bytes after the type byte and length field
			hdr     int  // bytes of the length field after the type byte
			isStr   bool // str or bin: the length field counts payload bytes
			isExt   bool // ext: the length field counts data bytes after the ext type byte
			items   = -1 // >= 0: an array or map with this many entries
			isMap   bool
		)
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			items, isMap = int(c&0x0f), true
		case c <= 0x9f: // fixarray
			items = int(c & 0x0f)
		case c <= 0xbf: // fixstr
			payload, isStr = int(c&0x1f), true
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc1:
				return ver, alloc, malformedAt(off, "byte 0xc1 is not valid msgpack")
			case 0xc4, 0xd9: // bin8, str8
				hdr, isStr = 1, true
			case 0xc5, 0xda: // bin16, str16
				hdr, isStr = 2, true
			case 0xc6, 0xdb: // bin32, str32
				hdr, isStr = 4, true
			case 0xc7: // ext8
				hdr, isExt = 1, true
			case 0xc8: // ext16
				hdr, isExt = 2, true
			case 0xc9: // ext32
				hdr, isExt = 4, true
			case 0xca: // float32
				payload = 4
			case 0xcb: // float64
				payload = 8
			case 0xcc, 0xd0: // uint8, int8
				payload = 1
			case 0xcd, 0xd1: // uint16, int16
				payload = 2
			case 0xce, 0xd2: // uint32, int32
				payload = 4
			case 0xcf, 0xd3: // uint64, int64
				payload = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16, after an ext type byte
				payload = 1 + 1<<(c-0xd4)
			case 0xdc: // array16
				hdr = 2
			case 0xdd: // array32
				hdr = 4
			case 0xde: // map16
				hdr, isMap = 2, true
			case 0xdf: // map32
				hdr, isMap = 4, true
			}
		}
		if hdr > 0 {
			if hdr > len(b)-i {
				return ver, alloc, malformedAt(off, "message ends inside a length field")
			}
			var n uint64
			switch hdr {
			case 1:
				n = uint64(b[i])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b[i:]))
			case 4:
				n = uint64(binary.BigEndian.Uint32(b[i:]))
			}
			i += hdr
			switch {
			case isStr || isExt:
				if n > MaxStringLen {
					return ver, alloc, malformedAt(off, fmt.Sprintf("value of %d bytes exceeds the %d-byte limit", n, MaxStringLen))
				}
				payload = int(n)
				if isExt {
					payload++ // the ext type byte
				}
			default:
				if n > MaxListLen {
					return ver, alloc, malformedAt(off, fmt.Sprintf("%s of %d entries exceeds the %d-entry limit", kind(isMap), n, MaxListLen))
				}
				items = int(n)
			}
		}
		if payload > len(b)-i {
			return ver, alloc, malformedAt(off, fmt.Sprintf("value of %d bytes runs past the end of the message", payload))
		}
		if wantVer {
			ver = intVersion(b[off:i], b[i:i+payload])
		}
		wantVer = isKey && isStr && payload == 1 && b[i] == 'v'
		i += payload
		if isStr || isExt {
			alloc += payload
		}
		if items >= 0 {
			if top+1 > MaxDepth {
				return ver, alloc, malformedAt(off, fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
			}
			values := items
			if isMap {
				values *= 2
			}
			alloc += values * allocPerElem
			if values > len(b)-i {
				return ver, alloc, malformedAt(off, fmt.Sprintf("%s of %d entries cannot fit in the %d bytes left", kind(isMap), items, len(b)-i))
			}
			top++
			stack[top] = level{left: values, isMap: isMap}
		}
	}
	if i != len(b) {
		return ver, alloc, malformedAt(i, fmt.Sprintf("%d unexpected bytes after the message", len(b)-i))
	}
	return ver, alloc, nil
}

// intVersion reads an integer from its type byte (head[0]) and payload p;
// anything but an integer gives a version that is not found.
func intVersion(head, p []byte) version {
	c := head[0]
	if c <= 0x7f || c >= 0xe0 {
		return version{found: true, n: int64(int8(c))}
	}
	switch c {
	case 0xcc:
		return version{found: true, n: int64(p[0])}
	case 0xcd:
		return version{found: true, n: int64(binary.BigEndian.Uint16(p))}
	case 0xce:
		return version{found: true, n: int64(binary.BigEndian.Uint32(p))}
	case 0xcf:
		u := binary.BigEndian.Uint64(p)
		if u > 1<<63-1 {
			return version{found: true, overflow: true}
		}
		return version{found: true, n: int64(u)}
	case 0xd0:
		return version{found: true, n: int64(int8(p[0]))}
	case 0xd1:
		return version{found: true, n: int64(int16(binary.BigEndian.Uint16(p)))}
	case 0xd2:
		return version{found: true, n: int64(int32(binary.BigEndian.Uint32(p)))}
	case 0xd3:
		return version{found: true, n: int64(binary.BigEndian.Uint64(p))}
	}
	return version{}
}

func kind(isMap bool) string {
	if isMap {
		return "map"
	}
	return "array"
}

func malformedAt(off int, what string) error {
	return fmt.Errorf("at byte %d: %s: %w", off, what, ErrMalformed)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrMalformed)...)
}
