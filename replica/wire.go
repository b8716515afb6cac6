package replica

// The msgpack encoding of the messages, written and read by hand.
//
// The layout is what github.com/vmihailenco/msgpack/v5 writes for the
// message structs with their msgpack tags: each struct a map keyed by its tag
// names, omitempty fields left out. Integers take their shortest form and
// the fields of a Replica are written in key order, so that equal messages
// encode to equal bytes. The decoder reads what msgpack writes (tests check
// both directions against the library) and ignores unknown keys.
//
// Why not the library's reflection: decoding a 1 KiB event by hand is several
// times faster and allocates only the strings and slices it returns, and the
// decoder walks bytes that prescan has already checked, iteratively, with no
// recursion into unknown values. The decoder still checks every bound itself
// and returns errors rather than panicking.

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// ---- encoding ----

func eventSizeHint(e *Event) int {
	n := 96 + len(e.ID) + len(e.Twin) + len(e.Origin) + len(e.SourceKey) + len(e.Op) + len(e.LinkKey) +
		len(e.Net) + len(e.Member) + len(e.MemberName)
	for _, a := range e.MemberAddrs {
		n += 5 + len(a)
	}
	for name, v := range e.Replica.Fields {
		n += 40 + len(name) + len(v.S) + len(v.Clock.Peer)
		for _, s := range v.L {
			n += 5 + len(s)
		}
		for s, el := range v.E {
			n += 40 + len(s) + len(el.Clock.Peer)
		}
	}
	for i := range e.Replica.Comments {
		c := &e.Replica.Comments[i]
		n += 72 + len(c.ID) + len(c.Author) + len(c.Body) + len(c.Clock.Peer)
	}
	return n
}

func acksSizeHint(a *Acks) int {
	n := 16
	for i := range a.Items {
		it := &a.Items[i]
		n += 48 + len(it.EventID) + len(it.Twin) + len(it.LocalKey) + len(it.Error)
	}
	return n
}

func appendEvent(b []byte, e *Event) []byte {
	n := 6
	if e.SourceKey != "" {
		n++
	}
	if e.Sent != 0 {
		n++
	}
	if e.Op != "" {
		n++
	}
	if e.LinkKey != "" {
		n++
	}
	if e.Net != "" {
		n++
	}
	if e.Member != "" {
		n++
	}
	if e.MemberName != "" {
		n++
	}
	if len(e.MemberAddrs) > 0 {
		n++
	}
	b = appendMapLen(b, n)
	b = appendInt(appendStr(b, "v"), int64(e.V))
	b = appendStr(appendStr(b, "id"), e.ID)
	b = appendStr(appendStr(b, "twin"), e.Twin)
	b = appendStr(appendStr(b, "o"), e.Origin)
	b = appendUint(appendStr(b, "seq"), e.Seq)
	if e.SourceKey != "" {
		b = appendStr(appendStr(b, "key"), e.SourceKey)
	}
	if e.Sent != 0 {
		b = appendInt(appendStr(b, "sent"), e.Sent)
	}
	b = appendReplica(appendStr(b, "r"), &e.Replica)
	if e.Op != "" {
		b = appendStr(appendStr(b, "op"), e.Op)
	}
	if e.LinkKey != "" {
		b = appendStr(appendStr(b, "lk"), e.LinkKey)
	}
	if e.Net != "" {
		b = appendStr(appendStr(b, "net"), e.Net)
	}
	if e.Member != "" {
		b = appendStr(appendStr(b, "mb"), e.Member)
	}
	if e.MemberName != "" {
		b = appendStr(appendStr(b, "mn"), e.MemberName)
	}
	if len(e.MemberAddrs) > 0 {
		b = appendArrayLen(appendStr(b, "ma"), len(e.MemberAddrs))
		for _, a := range e.MemberAddrs {
			b = appendStr(b, a)
		}
	}
	return b
}

// AppendReplica appends the msgpack encoding of r to b, in the layout
// msgpack's reflection gives the struct (what the sync log stores inside a
// twin; see store's twin codec).
func AppendReplica(b []byte, r *Replica) []byte { return appendReplica(b, r) }

func appendReplica(b []byte, r *Replica) []byte {
	n := 0
	if len(r.Fields) > 0 {
		n++
	}
	if len(r.Comments) > 0 {
		n++
	}
	if len(r.Attachments) > 0 {
		n++
	}
	b = appendMapLen(b, n)
	if len(r.Fields) > 0 {
		b = appendMapLen(appendStr(b, "f"), len(r.Fields))
		var buf [16]string
		names := buf[:0]
		for name := range r.Fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			v := r.Fields[name]
			b = appendValue(appendStr(b, name), &v)
		}
	}
	if len(r.Comments) > 0 {
		b = appendArrayLen(appendStr(b, "m"), len(r.Comments))
		for i := range r.Comments {
			b = appendComment(b, &r.Comments[i])
		}
	}
	if len(r.Attachments) > 0 {
		b = appendAttachments(appendStr(b, "at"), r.Attachments)
	}
	return b
}

func appendValue(b []byte, v *Value) []byte {
	n := 1
	if v.S != "" {
		n++
	}
	if len(v.L) > 0 {
		n++
	}
	if len(v.E) > 0 {
		n++
	}
	b = appendMapLen(b, n)
	if v.S != "" {
		b = appendStr(appendStr(b, "s"), v.S)
	}
	if len(v.L) > 0 {
		b = appendArrayLen(appendStr(b, "l"), len(v.L))
		for _, s := range v.L {
			b = appendStr(b, s)
		}
	}
	if len(v.E) > 0 {
		b = appendMapLen(appendStr(b, "e"), len(v.E))
		for _, s := range sortedKeys(v.E) {
			el := v.E[s]
			b = appendStr(b, s)
			if el.Del {
				b = append(appendStr(appendMapLen(b, 2), "d"), 0xc3)
			} else {
				b = appendMapLen(b, 1)
			}
			b = appendClock(appendStr(b, "c"), &el.Clock)
		}
	}
	return appendClock(appendStr(b, "c"), &v.Clock)
}

// sortedKeys returns the elements of a set in byte order.
func sortedKeys(e map[string]Elem) []string {
	keys := make([]string, 0, len(e))
	for s := range e {
		keys = append(keys, s)
	}
	slices.Sort(keys)
	return keys
}

func appendClock(b []byte, c *Clock) []byte {
	b = appendMapLen(b, 3)
	b = appendInt(appendStr(b, "w"), c.Wall)
	b = appendUint(appendStr(b, "l"), uint64(c.Logical))
	return appendStr(appendStr(b, "p"), c.Peer)
}

func appendComment(b []byte, c *Comment) []byte {
	n := 3
	if c.Author != "" {
		n++
	}
	if c.Created != 0 {
		n++
	}
	if c.Internal {
		n++
	}
	b = appendMapLen(b, n)
	b = appendStr(appendStr(b, "id"), c.ID)
	if c.Author != "" {
		b = appendStr(appendStr(b, "a"), c.Author)
	}
	b = appendStr(appendStr(b, "b"), c.Body)
	if c.Created != 0 {
		b = appendInt(appendStr(b, "t"), c.Created)
	}
	if c.Internal {
		b = append(appendStr(b, "i"), 0xc3)
	}
	return appendClock(appendStr(b, "c"), &c.Clock)
}

func appendAcks(b []byte, a *Acks) []byte {
	b = appendMapLen(b, 2)
	b = appendInt(appendStr(b, "v"), int64(a.V))
	b = appendStr(b, "a")
	if a.Items == nil {
		return append(b, 0xc0)
	}
	b = appendArrayLen(b, len(a.Items))
	for i := range a.Items {
		it := &a.Items[i]
		n := 4
		if it.LocalKey != "" {
			n++
		}
		if it.Error != "" {
			n++
		}
		b = appendMapLen(b, n)
		b = appendUint(appendStr(b, "seq"), it.Seq)
		b = appendStr(appendStr(b, "id"), it.EventID)
		b = appendStr(appendStr(b, "twin"), it.Twin)
		b = appendUint(appendStr(b, "res"), uint64(it.Result))
		if it.LocalKey != "" {
			b = appendStr(appendStr(b, "key"), it.LocalKey)
		}
		if it.Error != "" {
			b = appendStr(appendStr(b, "err"), it.Error)
		}
	}
	return b
}

func appendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendStr(b []byte, s string) []byte {
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

func appendUint(b []byte, n uint64) []byte {
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

func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(b, uint64(n))
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

// ---- decoding ----

// precheck checks the structure and the version of a message before it is
// decoded.
func precheck(b []byte) error {
	ver, err := prescan(b)
	if err != nil {
		return err
	}
	return checkVersion(ver)
}

// reader decodes msgpack values from b. Every method checks its bounds, so
// even bytes that did not pass prescan give an error, never a panic.
type reader struct {
	b []byte
	i int
	// lastPeer lets the clocks of one message share one string per peer:
	// most clocks in an event carry the same peer ID or two.
	lastPeer [2]string
}

func (r *reader) fail(off int, format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s: %w", off, fmt.Sprintf(format, args...), ErrMalformed)
}

// typeName describes the msgpack value starting with c, for errors.
func typeName(c byte) string {
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

func (r *reader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, r.fail(r.i, "message ends where a value should start")
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

// bytesN returns the next n bytes.
func (r *reader) bytesN(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.i) {
		return nil, r.fail(r.i, "value of %d bytes runs past the end of the message", n)
	}
	p := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return p, nil
}

// length reads a big-endian length of size bytes (1, 2 or 4).
func (r *reader) length(size int) (uint64, error) {
	p, err := r.bytesN(uint64(size))
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	}
	return uint64(binary.BigEndian.Uint32(p)), nil
}

// container reads a map or array header (isMap says which) and returns its
// number of entries, or -1 for nil.
func (r *reader) container(isMap bool) (int, error) {
	off := r.i
	c, err := r.byte()
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
		n, err = r.length(2)
	case isMap && c == 0xdf, !isMap && c == 0xdd:
		n, err = r.length(4)
	default:
		want := "an array"
		if isMap {
			want = "a map"
		}
		return 0, r.fail(off, "expected %s, found %s", want, typeName(c))
	}
	if err != nil {
		return 0, err
	}
	if n > MaxListLen {
		return 0, r.fail(off, "%d entries exceed the %d-entry limit", n, MaxListLen)
	}
	if n > uint64(len(r.b)-r.i) {
		return 0, r.fail(off, "%d entries cannot fit in the %d bytes left", n, len(r.b)-r.i)
	}
	return int(n), nil
}

// rawStr returns the bytes of a string or binary value, nil for nil. They
// alias the message.
func (r *reader) rawStr() ([]byte, error) {
	off := r.i
	c, err := r.byte()
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
		n, err = r.length(1)
	case c == 0xda || c == 0xc5:
		n, err = r.length(2)
	case c == 0xdb || c == 0xc6:
		n, err = r.length(4)
	default:
		return nil, r.fail(off, "expected a string, found %s", typeName(c))
	}
	if err != nil {
		return nil, err
	}
	if n > MaxStringLen {
		return nil, r.fail(off, "string of %d bytes exceeds the %d-byte limit", n, MaxStringLen)
	}
	return r.bytesN(n)
}

func (r *reader) str() (string, error) {
	p, err := r.rawStr()
	return string(p), err
}

// peer reads a peer ID, reusing the string of a recent equal one.
func (r *reader) peer() (string, error) {
	p, err := r.rawStr()
	if err != nil {
		return "", err
	}
	for _, s := range r.lastPeer {
		if s == string(p) {
			return s, nil
		}
	}
	s := string(p)
	r.lastPeer[1], r.lastPeer[0] = r.lastPeer[0], s
	return s, nil
}

// integer reads any msgpack integer; neg reports a negative value, whose
// two's complement is in u. nil reads as 0.
func (r *reader) integer() (u uint64, neg bool, err error) {
	off := r.i
	c, err := r.byte()
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
		return 0, false, r.fail(off, "expected an integer, found %s", typeName(c))
	}
	p, err := r.bytesN(uint64(size))
	if err != nil {
		return 0, false, err
	}
	switch c {
	case 0xcc:
		return uint64(p[0]), false, nil
	case 0xcd:
		return uint64(binary.BigEndian.Uint16(p)), false, nil
	case 0xce:
		return uint64(binary.BigEndian.Uint32(p)), false, nil
	case 0xcf:
		return binary.BigEndian.Uint64(p), false, nil
	case 0xd0:
		v := int64(int8(p[0]))
		return uint64(v), v < 0, nil
	case 0xd1:
		v := int64(int16(binary.BigEndian.Uint16(p)))
		return uint64(v), v < 0, nil
	case 0xd2:
		v := int64(int32(binary.BigEndian.Uint32(p)))
		return uint64(v), v < 0, nil
	}
	v := int64(binary.BigEndian.Uint64(p))
	return uint64(v), v < 0, nil
}

func (r *reader) int64() (int64, error) {
	off := r.i
	u, neg, err := r.integer()
	if err != nil {
		return 0, err
	}
	if !neg && u > math.MaxInt64 {
		return 0, r.fail(off, "integer %d is out of range", u)
	}
	return int64(u), nil
}

// uint reads a non-negative integer of at most max.
func (r *reader) uint(max uint64) (uint64, error) {
	off := r.i
	u, neg, err := r.integer()
	if err != nil {
		return 0, err
	}
	if neg {
		return 0, r.fail(off, "expected an unsigned integer, found %d", int64(u))
	}
	if u > max {
		return 0, r.fail(off, "integer %d is out of range (at most %d)", u, max)
	}
	return u, nil
}

func (r *reader) bool() (bool, error) {
	off := r.i
	c, err := r.byte()
	if err != nil {
		return false, err
	}
	switch c {
	case 0xc2, 0xc0:
		return false, nil
	case 0xc3:
		return true, nil
	}
	return false, r.fail(off, "expected a boolean, found %s", typeName(c))
}

// skip passes over one value of any type without recursion.
func (r *reader) skip() error {
	for pending := 1; pending > 0; pending-- {
		off := r.i
		c, err := r.byte()
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
				return r.fail(off, "byte 0x%02x is not valid msgpack", c)
			}
		}
		if size > 0 {
			if n, err = r.length(size); err != nil {
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
					return r.fail(off, "%d entries cannot fit in the %d bytes left", n, len(r.b)-r.i)
				}
				pending += int(n)
				continue
			}
		}
		if _, err := r.bytesN(n); err != nil {
			return err
		}
	}
	return nil
}

// fields reads a map that stands for a struct: for each key it calls field,
// which decodes the value and returns the key's number (0 to 31), or returns
// -1 for an unknown key, whose value is then skipped. A struct given as nil is left zero. A known
// key given twice is refused, since which one wins would be a guess.
func (r *reader) fields(what string, field func(key []byte) (int, error)) error {
	n, err := r.container(true)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var seen uint32
	for range n {
		keyOff := r.i
		key, err := r.rawStr()
		if err != nil {
			return fmt.Errorf("%s key: %w", what, err)
		}
		k, err := field(key)
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		if k < 0 {
			if err := r.skip(); err != nil {
				return fmt.Errorf("unknown key %q: %w", printable(key), err)
			}
			continue
		}
		if seen&(1<<k) != 0 {
			return r.fail(keyOff, "%s key %q appears twice", what, key)
		}
		seen |= 1 << k
	}
	return nil
}

// printable renders a key for an error message.
func printable(key []byte) string {
	if utf8.Valid(key) && len(key) <= 64 {
		return string(key)
	}
	return fmt.Sprintf("%x", key[:min(len(key), 32)])
}

func decodeEvent(r *reader, e *Event) error {
	return r.fields("event", func(key []byte) (k int, err error) {
		switch string(key) {
		case "v":
			k = 0
			var v int64
			v, err = r.int64()
			e.V = int(v)
			if int64(e.V) != v {
				err = r.fail(r.i, "version %d is out of range", v)
			}
		case "id":
			k = 1
			e.ID, err = r.str()
		case "twin":
			k = 2
			e.Twin, err = r.str()
		case "o":
			k = 3
			e.Origin, err = r.peer()
		case "seq":
			k = 4
			e.Seq, err = r.uint(math.MaxUint64)
		case "key":
			k = 5
			e.SourceKey, err = r.str()
		case "sent":
			k = 6
			e.Sent, err = r.int64()
		case "r":
			k = 7
			err = decodeReplica(r, &e.Replica)
		case "op":
			k = 8
			e.Op, err = r.str()
		case "lk":
			k = 9
			e.LinkKey, err = r.str()
		case "net":
			k = 10
			e.Net, err = r.str()
		case "mb":
			k = 11
			e.Member, err = r.peer()
		case "mn":
			k = 12
			e.MemberName, err = r.str()
		case "ma":
			k = 13
			var n int
			if n, err = r.container(false); err != nil || n < 0 {
				return k, err
			}
			e.MemberAddrs = make([]string, n)
			for i := range e.MemberAddrs {
				if e.MemberAddrs[i], err = r.str(); err != nil {
					return k, err
				}
			}
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeReplica(r *reader, rep *Replica) error {
	return r.fields("replica", func(key []byte) (k int, err error) {
		switch string(key) {
		case "f":
			k = 0
			err = decodeFields(r, rep)
		case "m":
			k = 1
			err = decodeComments(r, rep)
		case "at":
			k = 2
			err = decodeAttachments(r, rep)
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeFields(r *reader, rep *Replica) error {
	n, err := r.container(true)
	if err != nil || n < 0 {
		return err
	}
	if n > MaxFields {
		return malformed("%d fields, the limit is %d", n, MaxFields)
	}
	rep.Fields = make(map[string]Value, n)
	for range n {
		off := r.i
		name, err := r.str()
		if err != nil {
			return fmt.Errorf("field name: %w", err)
		}
		if _, dup := rep.Fields[name]; dup {
			return r.fail(off, "field %q appears twice", name)
		}
		var v Value
		if err := decodeValue(r, &v); err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		rep.Fields[name] = v
	}
	return nil
}

func decodeValue(r *reader, v *Value) error {
	return r.fields("value", func(key []byte) (k int, err error) {
		switch string(key) {
		case "s":
			k = 0
			v.S, err = r.str()
		case "l":
			k = 1
			var n int
			if n, err = r.container(false); err != nil || n < 0 {
				return k, err
			}
			v.L = make([]string, n)
			for i := range v.L {
				if v.L[i], err = r.str(); err != nil {
					return k, err
				}
			}
		case "c":
			k = 2
			err = decodeClock(r, &v.Clock)
		case "e":
			k = 3
			err = decodeElems(r, v)
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeElems(r *reader, v *Value) error {
	n, err := r.container(true)
	if err != nil || n < 0 {
		return err
	}
	v.E = make(map[string]Elem, n)
	for range n {
		off := r.i
		s, err := r.str()
		if err != nil {
			return fmt.Errorf("element: %w", err)
		}
		if _, dup := v.E[s]; dup {
			return r.fail(off, "element %q appears twice", printable([]byte(s)))
		}
		var el Elem
		err = r.fields("element", func(key []byte) (k int, err error) {
			switch string(key) {
			case "d":
				k = 0
				el.Del, err = r.bool()
			case "c":
				k = 1
				err = decodeClock(r, &el.Clock)
			default:
				return -1, nil
			}
			return k, err
		})
		if err != nil {
			return fmt.Errorf("element %q: %w", printable([]byte(s)), err)
		}
		v.E[s] = el
	}
	return nil
}

func decodeClock(r *reader, c *Clock) error {
	return r.fields("clock", func(key []byte) (k int, err error) {
		switch string(key) {
		case "w":
			k = 0
			c.Wall, err = r.int64()
		case "l":
			k = 1
			var l uint64
			l, err = r.uint(math.MaxUint32)
			c.Logical = uint32(l)
		case "p":
			k = 2
			c.Peer, err = r.peer()
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeComments(r *reader, rep *Replica) error {
	n, err := r.container(false)
	if err != nil || n < 0 {
		return err
	}
	rep.Comments = make([]Comment, n)
	for i := range rep.Comments {
		if err := decodeComment(r, &rep.Comments[i]); err != nil {
			return fmt.Errorf("comment %d of %d: %w", i+1, n, err)
		}
	}
	return nil
}

func decodeComment(r *reader, c *Comment) error {
	return r.fields("comment", func(key []byte) (k int, err error) {
		switch string(key) {
		case "id":
			k = 0
			c.ID, err = r.str()
		case "a":
			k = 1
			c.Author, err = r.str()
		case "b":
			k = 2
			c.Body, err = r.str()
		case "t":
			k = 3
			c.Created, err = r.int64()
		case "i":
			k = 4
			c.Internal, err = r.bool()
		case "c":
			k = 5
			err = decodeClock(r, &c.Clock)
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeAcks(r *reader, a *Acks) error {
	return r.fields("acks", func(key []byte) (k int, err error) {
		switch string(key) {
		case "v":
			k = 0
			var v int64
			v, err = r.int64()
			a.V = int(v)
			if int64(a.V) != v {
				err = r.fail(r.i, "version %d is out of range", v)
			}
		case "a":
			k = 1
			var n int
			if n, err = r.container(false); err != nil || n < 0 {
				return k, err
			}
			a.Items = make([]Ack, n)
			for i := range a.Items {
				if err = decodeAck(r, &a.Items[i]); err != nil {
					return k, fmt.Errorf("item %d of %d: %w", i+1, n, err)
				}
			}
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeAck(r *reader, it *Ack) error {
	return r.fields("ack", func(key []byte) (k int, err error) {
		switch string(key) {
		case "seq":
			k = 0
			it.Seq, err = r.uint(math.MaxUint64)
		case "id":
			k = 1
			it.EventID, err = r.str()
		case "twin":
			k = 2
			it.Twin, err = r.str()
		case "res":
			k = 3
			var res uint64
			res, err = r.uint(math.MaxUint8)
			it.Result = Result(res)
		case "key":
			k = 4
			it.LocalKey, err = r.str()
		case "err":
			k = 5
			it.Error, err = r.str()
		default:
			return -1, nil
		}
		return k, err
	})
}
