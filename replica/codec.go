package replica

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// Hard limits of the codec. A message that breaks one is refused with an
// error wrapping ErrMalformed, on decode and on encode alike, so that a node
// learns at once that its peers would refuse what it is about to send.
const (
	MaxStringLen = 1 << 20 // bytes in one string or binary value
	MaxListLen   = 10000   // elements in one array, or entries in one map
	MaxFields    = 256     // fields in one Replica
	MaxIDLen     = 256     // bytes in an ID (event, twin, peer) or a field name
	MaxDepth     = 16      // nesting of arrays and maps; the top-level map is depth 1
)

// MarshalEvent encodes e as one msgpack message. It sets nothing implicitly:
// the caller sets e.V = Version. An event that UnmarshalEvent would refuse
// (wrong version, missing IDs, a limit broken) is refused here too. Map keys
// are written in order, so equal events encode to equal bytes.
func MarshalEvent(e *Event) ([]byte, error) {
	if err := validateEvent(e); err != nil {
		return nil, err
	}
	w := wireEvent{
		V: e.V, ID: e.ID, Twin: e.Twin, Origin: e.Origin, Seq: e.Seq, SourceKey: e.SourceKey, Sent: e.Sent,
		Replica: wireReplica{Fields: sortedFields(e.Replica.Fields), Comments: e.Replica.Comments},
	}
	return marshal(&w, 256+approxReplicaSize(&e.Replica))
}

// wireEvent is Event as MarshalEvent writes it: the same fields and tags
// (TestWireEventMirrorsEvent keeps them in step), but with the replica's
// fields written in key order, which msgpack does not do for a
// map[string]Value, so that equal events encode to equal bytes.
type wireEvent struct {
	V         int         `msgpack:"v"`
	ID        string      `msgpack:"id"`
	Twin      string      `msgpack:"twin"`
	Origin    string      `msgpack:"o"`
	Seq       uint64      `msgpack:"seq"`
	SourceKey string      `msgpack:"key,omitempty"`
	Sent      int64       `msgpack:"sent,omitempty"`
	Replica   wireReplica `msgpack:"r"`
}

type wireReplica struct {
	Fields   sortedFields `msgpack:"f,omitempty"`
	Comments []Comment    `msgpack:"m,omitempty"`
}

// sortedFields encodes as a map in key order.
type sortedFields map[string]Value

var _ msgpack.CustomEncoder = sortedFields(nil)

func (m sortedFields) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if err := enc.EncodeString(name); err != nil {
			return err
		}
		v := m[name]
		if err := enc.Encode(&v); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalEvent decodes and validates one event. Unknown fields are ignored.
// Errors wrap ErrVersion for a message of another major version and
// ErrMalformed for anything else that is wrong with the bytes.
func UnmarshalEvent(b []byte) (Event, error) {
	var e Event
	if err := unmarshal(b, &e, "event"); err != nil {
		return Event{}, err
	}
	if err := validateEvent(&e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// MarshalAcks encodes a as one msgpack message, refusing what UnmarshalAcks
// would refuse. The caller sets a.V = Version.
func MarshalAcks(a *Acks) ([]byte, error) {
	if err := validateAcks(a); err != nil {
		return nil, err
	}
	return marshal(a, 16+64*len(a.Items))
}

// UnmarshalAcks decodes and validates one ack frame. Unknown fields are
// ignored. Errors wrap ErrVersion or ErrMalformed as for UnmarshalEvent.
func UnmarshalAcks(b []byte) (Acks, error) {
	var a Acks
	if err := unmarshal(b, &a, "acks"); err != nil {
		return Acks{}, err
	}
	if err := validateAcks(&a); err != nil {
		return Acks{}, err
	}
	return a, nil
}

func marshal(v any, sizeHint int) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, sizeHint))
	enc := msgpack.GetEncoder()
	enc.Reset(buf)
	enc.SetSortMapKeys(true)
	err := enc.Encode(v)
	msgpack.PutEncoder(enc)
	if err != nil {
		return nil, fmt.Errorf("encoding message: %w", err)
	}
	return buf.Bytes(), nil
}

// approxReplicaSize estimates the encoded size of r to size the buffer once.
func approxReplicaSize(r *Replica) int {
	n := 0
	for name, v := range r.Fields {
		n += len(name) + len(v.S) + 48 + len(v.Clock.Peer)
		for _, s := range v.L {
			n += len(s) + 2
		}
	}
	for i := range r.Comments {
		c := &r.Comments[i]
		n += len(c.ID) + len(c.Author) + len(c.Body) + len(c.Clock.Peer) + 48
	}
	return n
}

// unmarshal checks the structure of b, refuses another major version, then
// decodes b into v. what names the message kind in errors.
func unmarshal(b []byte, v any, what string) error {
	ver, err := prescan(b)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := checkVersion(ver); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v: %w", what, err, ErrMalformed)
	}
	return nil
}

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

// container is an open array or map during the pre-scan.
type container struct {
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
// The msgpack decoder that runs afterwards allocates from declared lengths
// and skips unknown fields recursively; this pass is what makes both safe.
func prescan(b []byte) (version, error) {
	var (
		ver     version
		stack   [MaxDepth + 1]container
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
			return ver, malformedAt(i, "message ends where a value should start")
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
				return ver, malformedAt(off, "byte 0xc1 is not valid msgpack")
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
				return ver, malformedAt(off, "message ends inside a length field")
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
					return ver, malformedAt(off, fmt.Sprintf("value of %d bytes exceeds the %d-byte limit", n, MaxStringLen))
				}
				payload = int(n)
				if isExt {
					payload++ // the ext type byte
				}
			default:
				if n > MaxListLen {
					return ver, malformedAt(off, fmt.Sprintf("%s of %d entries exceeds the %d-entry limit", kind(isMap), n, MaxListLen))
				}
				items = int(n)
			}
		}
		if payload > len(b)-i {
			return ver, malformedAt(off, fmt.Sprintf("value of %d bytes runs past the end of the message", payload))
		}
		if wantVer {
			ver = intVersion(b[off:i], b[i:i+payload])
		}
		wantVer = isKey && isStr && payload == 1 && b[i] == 'v'
		i += payload
		if items >= 0 {
			if top+1 > MaxDepth {
				return ver, malformedAt(off, fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
			}
			values := items
			if isMap {
				values *= 2
			}
			if values > len(b)-i {
				return ver, malformedAt(off, fmt.Sprintf("%s of %d entries cannot fit in the %d bytes left", kind(isMap), items, len(b)-i))
			}
			top++
			stack[top] = container{left: values, isMap: isMap}
		}
	}
	if i != len(b) {
		return ver, malformedAt(i, fmt.Sprintf("%d unexpected bytes after the message", len(b)-i))
	}
	return ver, nil
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

// validateEvent checks what the pre-scan cannot: required fields and the
// limits on IDs, field names and the number of fields. It also checks the
// string and list limits so that MarshalEvent refuses what peers would.
func validateEvent(e *Event) error {
	if err := checkVersion(version{found: true, n: int64(e.V)}); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if err := checkID("event ID", e.ID); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if err := checkID("twin ID", e.Twin); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if err := checkID("origin peer ID", e.Origin); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if err := checkString("source key", e.SourceKey); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if err := validateReplica(&e.Replica); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	return nil
}

func validateReplica(r *Replica) error {
	if len(r.Fields) > MaxFields {
		return malformed("replica has %d fields, the limit is %d", len(r.Fields), MaxFields)
	}
	for name, v := range r.Fields {
		if err := checkID("field name", name); err != nil {
			return err
		}
		if err := checkString("field "+name, v.S); err != nil {
			return err
		}
		if len(v.L) > MaxListLen {
			return malformed("field %s is a list of %d entries, the limit is %d", name, len(v.L), MaxListLen)
		}
		for _, s := range v.L {
			if err := checkString("an entry of field "+name, s); err != nil {
				return err
			}
		}
		if err := checkString("clock peer ID of field "+name, v.Clock.Peer); err != nil {
			return err
		}
	}
	if len(r.Comments) > MaxListLen {
		return malformed("replica has %d comments, the limit is %d", len(r.Comments), MaxListLen)
	}
	for i := range r.Comments {
		c := &r.Comments[i]
		if c.ID == "" {
			return malformed("comment %d of %d has no ID", i+1, len(r.Comments))
		}
		for _, s := range [...]struct{ what, v string }{
			{"ID", c.ID}, {"author", c.Author}, {"body", c.Body}, {"clock peer ID", c.Clock.Peer},
		} {
			if err := checkString("comment "+s.what, s.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateAcks(a *Acks) error {
	if err := checkVersion(version{found: true, n: int64(a.V)}); err != nil {
		return fmt.Errorf("acks: %w", err)
	}
	if len(a.Items) > MaxListLen {
		return malformed("acks: %d items, the limit is %d", len(a.Items), MaxListLen)
	}
	for i := range a.Items {
		it := &a.Items[i]
		if it.Result < ResultApplied || it.Result > ResultFailed {
			return malformed("acks: item %d (event %q) has result %d, want 1 (applied), 2 (skipped) or 3 (failed)",
				i+1, it.EventID, it.Result)
		}
		if it.Twin == "" {
			return malformed("acks: item %d (event %q) has no twin ID", i+1, it.EventID)
		}
		for _, s := range [...]struct{ what, v string }{
			{"event ID", it.EventID}, {"twin ID", it.Twin}, {"local key", it.LocalKey}, {"error", it.Error},
		} {
			if err := checkString(s.what, s.v); err != nil {
				return fmt.Errorf("acks: item %d: %w", i+1, err)
			}
		}
	}
	return nil
}

func checkID(what, s string) error {
	if s == "" {
		return malformed("%s is empty", what)
	}
	if len(s) > MaxIDLen {
		return malformed("%s of %d bytes exceeds the %d-byte limit", what, len(s), MaxIDLen)
	}
	return nil
}

func checkString(what, s string) error {
	if len(s) > MaxStringLen {
		return malformed("%s of %d bytes exceeds the %d-byte limit", what, len(s), MaxStringLen)
	}
	return nil
}
