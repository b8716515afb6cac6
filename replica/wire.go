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
// and returns errors rather than panicking. The msgpack primitives
// (writers, bounded readers, skip) are internal/msgp's, shared with the
// store's twin codec; the limits of the wire are set on the reader here.

import (
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/issuemesh/issuemesh/internal/msgp"
)

// ---- encoding ----

func eventSizeHint(e *Event) int {
	n := 96 + len(e.ID) + len(e.Twin) + len(e.Origin) + len(e.SourceKey) + len(e.Op) + len(e.LinkKey) +
		len(e.Net) + len(e.Member) + len(e.MemberName)
	for _, a := range e.MemberAddrs {
		n += 5 + len(a)
	}
	for name, v := range e.Replica.Fields {
		n += 40 + len(name) + len(v.S) + len(v.Clock.Peer) + len(v.T) + 40*len(v.U)
		if v.Lost != nil {
			n += 80 + len(v.Lost.S)
		}
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
	if e.Changed != 0 {
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
	b = msgp.AppendMapLen(b, n)
	b = msgp.AppendInt(msgp.AppendStr(b, "v"), int64(e.V))
	b = msgp.AppendStr(msgp.AppendStr(b, "id"), e.ID)
	b = msgp.AppendStr(msgp.AppendStr(b, "twin"), e.Twin)
	b = msgp.AppendStr(msgp.AppendStr(b, "o"), e.Origin)
	b = msgp.AppendUint(msgp.AppendStr(b, "seq"), e.Seq)
	if e.SourceKey != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "key"), e.SourceKey)
	}
	if e.Sent != 0 {
		b = msgp.AppendInt(msgp.AppendStr(b, "sent"), e.Sent)
	}
	if e.Changed != 0 {
		b = msgp.AppendInt(msgp.AppendStr(b, "ch"), e.Changed)
	}
	b = appendReplica(msgp.AppendStr(b, "r"), &e.Replica)
	if e.Op != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "op"), e.Op)
	}
	if e.LinkKey != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "lk"), e.LinkKey)
	}
	if e.Net != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "net"), e.Net)
	}
	if e.Member != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "mb"), e.Member)
	}
	if e.MemberName != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "mn"), e.MemberName)
	}
	if len(e.MemberAddrs) > 0 {
		b = msgp.AppendArrayLen(msgp.AppendStr(b, "ma"), len(e.MemberAddrs))
		for _, a := range e.MemberAddrs {
			b = msgp.AppendStr(b, a)
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
	b = msgp.AppendMapLen(b, n)
	if len(r.Fields) > 0 {
		b = msgp.AppendMapLen(msgp.AppendStr(b, "f"), len(r.Fields))
		var buf [16]string
		names := buf[:0]
		for name := range r.Fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			v := r.Fields[name]
			b = appendValue(msgp.AppendStr(b, name), &v)
		}
	}
	if len(r.Comments) > 0 {
		b = msgp.AppendArrayLen(msgp.AppendStr(b, "m"), len(r.Comments))
		for i := range r.Comments {
			b = appendComment(b, &r.Comments[i])
		}
	}
	if len(r.Attachments) > 0 {
		b = appendAttachments(msgp.AppendStr(b, "at"), r.Attachments)
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
	if v.T != "" {
		n++
	}
	if len(v.U) > 0 {
		n++
	}
	if !v.Base.IsZero() {
		n++
	}
	if v.Lost != nil {
		n++
	}
	b = msgp.AppendMapLen(b, n)
	if v.S != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "s"), v.S)
	}
	if len(v.L) > 0 {
		b = msgp.AppendArrayLen(msgp.AppendStr(b, "l"), len(v.L))
		for _, s := range v.L {
			b = msgp.AppendStr(b, s)
		}
	}
	if len(v.E) > 0 {
		b = msgp.AppendMapLen(msgp.AppendStr(b, "e"), len(v.E))
		for _, s := range sortedKeys(v.E) {
			el := v.E[s]
			b = msgp.AppendStr(b, s)
			if el.Del {
				b = append(msgp.AppendStr(msgp.AppendMapLen(b, 2), "d"), 0xc3)
			} else {
				b = msgp.AppendMapLen(b, 1)
			}
			b = appendClock(msgp.AppendStr(b, "c"), &el.Clock)
		}
	}
	b = appendClock(msgp.AppendStr(b, "c"), &v.Clock)
	if v.T != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "t"), string(v.T))
	}
	if len(v.U) > 0 {
		b = appendUsers(msgp.AppendStr(b, "u"), v.U)
	}
	if !v.Base.IsZero() {
		b = appendClock(msgp.AppendStr(b, "b"), &v.Base)
	}
	if v.Lost != nil {
		b = appendSide(msgp.AppendStr(b, "x"), v.Lost)
	}
	return b
}

func appendUsers(b []byte, us []User) []byte {
	b = msgp.AppendArrayLen(b, len(us))
	for i := range us {
		u := &us[i]
		n := 0
		for _, s := range [...]string{u.Email, u.Login, u.Name} {
			if s != "" {
				n++
			}
		}
		b = msgp.AppendMapLen(b, n)
		if u.Email != "" {
			b = msgp.AppendStr(msgp.AppendStr(b, "e"), u.Email)
		}
		if u.Login != "" {
			b = msgp.AppendStr(msgp.AppendStr(b, "n"), u.Login)
		}
		if u.Name != "" {
			b = msgp.AppendStr(msgp.AppendStr(b, "d"), u.Name)
		}
	}
	return b
}

func appendSide(b []byte, x *Side) []byte {
	n := 1
	if x.S != "" {
		n++
	}
	if len(x.L) > 0 {
		n++
	}
	if len(x.U) > 0 {
		n++
	}
	b = msgp.AppendMapLen(b, n)
	if x.S != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "s"), x.S)
	}
	if len(x.L) > 0 {
		b = msgp.AppendArrayLen(msgp.AppendStr(b, "l"), len(x.L))
		for _, s := range x.L {
			b = msgp.AppendStr(b, s)
		}
	}
	if len(x.U) > 0 {
		b = appendUsers(msgp.AppendStr(b, "u"), x.U)
	}
	return appendClock(msgp.AppendStr(b, "c"), &x.Clock)
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
	b = msgp.AppendMapLen(b, 3)
	b = msgp.AppendInt(msgp.AppendStr(b, "w"), c.Wall)
	b = msgp.AppendUint(msgp.AppendStr(b, "l"), uint64(c.Logical))
	return msgp.AppendStr(msgp.AppendStr(b, "p"), c.Peer)
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
	if c.Deleted {
		n++
	}
	b = msgp.AppendMapLen(b, n)
	b = msgp.AppendStr(msgp.AppendStr(b, "id"), c.ID)
	if c.Author != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "a"), c.Author)
	}
	b = msgp.AppendStr(msgp.AppendStr(b, "b"), c.Body)
	if c.Created != 0 {
		b = msgp.AppendInt(msgp.AppendStr(b, "t"), c.Created)
	}
	if c.Internal {
		b = append(msgp.AppendStr(b, "i"), 0xc3)
	}
	b = appendClock(msgp.AppendStr(b, "c"), &c.Clock)
	if c.Deleted {
		b = append(msgp.AppendStr(b, "d"), 0xc3)
	}
	return b
}

func appendAcks(b []byte, a *Acks) []byte {
	b = msgp.AppendMapLen(b, 2)
	b = msgp.AppendInt(msgp.AppendStr(b, "v"), int64(a.V))
	b = msgp.AppendStr(b, "a")
	if a.Items == nil {
		return append(b, 0xc0)
	}
	b = msgp.AppendArrayLen(b, len(a.Items))
	for i := range a.Items {
		it := &a.Items[i]
		n := 4
		if it.LocalKey != "" {
			n++
		}
		if it.Error != "" {
			n++
		}
		b = msgp.AppendMapLen(b, n)
		b = msgp.AppendUint(msgp.AppendStr(b, "seq"), it.Seq)
		b = msgp.AppendStr(msgp.AppendStr(b, "id"), it.EventID)
		b = msgp.AppendStr(msgp.AppendStr(b, "twin"), it.Twin)
		b = msgp.AppendUint(msgp.AppendStr(b, "res"), uint64(it.Result))
		if it.LocalKey != "" {
			b = msgp.AppendStr(msgp.AppendStr(b, "key"), it.LocalKey)
		}
		if it.Error != "" {
			b = msgp.AppendStr(msgp.AppendStr(b, "err"), it.Error)
		}
	}
	return b
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

// reader decodes msgpack values from b with the shared primitives
// (internal/msgp) and the limits of the wire. Every method checks its
// bounds, so even bytes that did not pass prescan give an error, never a
// panic.
type reader struct{ msgp.Reader }

func newReader(b []byte) reader {
	r := reader{msgp.NewReader(b)}
	r.Malformed, r.MaxStr, r.MaxLen = ErrMalformed, MaxStringLen, MaxListLen
	return r
}

func (r *reader) int64() (int64, error) {
	off := r.Offset()
	u, neg, err := r.Integer()
	if err != nil {
		return 0, err
	}
	if !neg && u > math.MaxInt64 {
		return 0, r.Fail(off, "integer %d is out of range", u)
	}
	return int64(u), nil
}

// uint reads a non-negative integer of at most max.
func (r *reader) uint(max uint64) (uint64, error) {
	off := r.Offset()
	u, neg, err := r.Integer()
	if err != nil {
		return 0, err
	}
	if neg {
		return 0, r.Fail(off, "expected an unsigned integer, found %d", int64(u))
	}
	if u > max {
		return 0, r.Fail(off, "integer %d is out of range (at most %d)", u, max)
	}
	return u, nil
}

// fields reads a map that stands for a struct: for each key it calls field,
// which decodes the value and returns the key's number (0 to 31), or returns
// -1 for an unknown key, whose value is then skipped. A struct given as nil is left zero. A known
// key given twice is refused, since which one wins would be a guess.
func (r *reader) fields(what string, field func(key []byte) (int, error)) error {
	n, err := r.Container(true)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var seen uint32
	for range n {
		keyOff := r.Offset()
		key, err := r.RawStr()
		if err != nil {
			return fmt.Errorf("%s key: %w", what, err)
		}
		k, err := field(key)
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		if k < 0 {
			if err := r.Skip(); err != nil {
				return fmt.Errorf("unknown key %q: %w", printable(key), err)
			}
			continue
		}
		if seen&(1<<k) != 0 {
			return r.Fail(keyOff, "%s key %q appears twice", what, key)
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
				err = r.Fail(r.Offset(), "version %d is out of range", v)
			}
		case "id":
			k = 1
			e.ID, err = r.Str()
		case "twin":
			k = 2
			e.Twin, err = r.Str()
		case "o":
			k = 3
			e.Origin, err = r.Peer()
		case "seq":
			k = 4
			e.Seq, err = r.uint(math.MaxUint64)
		case "key":
			k = 5
			e.SourceKey, err = r.Str()
		case "sent":
			k = 6
			e.Sent, err = r.int64()
		case "r":
			k = 7
			err = decodeReplica(r, &e.Replica)
		case "op":
			k = 8
			e.Op, err = r.Str()
		case "lk":
			k = 9
			e.LinkKey, err = r.Str()
		case "net":
			k = 10
			e.Net, err = r.Str()
		case "mb":
			k = 11
			e.Member, err = r.Peer()
		case "mn":
			k = 12
			e.MemberName, err = r.Str()
		case "ma":
			k = 13
			var n int
			if n, err = r.Container(false); err != nil || n < 0 {
				return k, err
			}
			e.MemberAddrs = make([]string, n)
			for i := range e.MemberAddrs {
				if e.MemberAddrs[i], err = r.Str(); err != nil {
					return k, err
				}
			}
		case "ch":
			k = 14
			e.Changed, err = r.int64()
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
	n, err := r.Container(true)
	if err != nil || n < 0 {
		return err
	}
	if n > MaxFields {
		return malformed("%d fields, the limit is %d", n, MaxFields)
	}
	rep.Fields = make(map[string]Value, n)
	for range n {
		off := r.Offset()
		name, err := r.Str()
		if err != nil {
			return fmt.Errorf("field name: %w", err)
		}
		if _, dup := rep.Fields[name]; dup {
			return r.Fail(off, "field %q appears twice", name)
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
			v.S, err = r.Str()
		case "l":
			k = 1
			var n int
			if n, err = r.Container(false); err != nil || n < 0 {
				return k, err
			}
			v.L = make([]string, n)
			for i := range v.L {
				if v.L[i], err = r.Str(); err != nil {
					return k, err
				}
			}
		case "c":
			k = 2
			err = decodeClock(r, &v.Clock)
		case "e":
			k = 3
			err = decodeElems(r, v)
		case "t":
			k = 4
			var t string
			t, err = r.Str()
			v.T = Kind(t)
		case "u":
			k = 5
			v.U, err = decodeUsers(r)
		case "b":
			k = 6
			err = decodeClock(r, &v.Base)
		case "x":
			k = 7
			v.Lost = new(Side)
			err = decodeSide(r, v.Lost)
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeUsers(r *reader) ([]User, error) {
	off := r.Offset()
	n, err := r.Container(false)
	if err != nil || n < 0 {
		return nil, err
	}
	if n > MaxUsers {
		return nil, r.Fail(off, "%d people exceed the %d-person limit", n, MaxUsers)
	}
	us := make([]User, n)
	for i := range us {
		u := &us[i]
		err := r.fields("user", func(key []byte) (k int, err error) {
			switch string(key) {
			case "e":
				k = 0
				u.Email, err = r.Str()
			case "n":
				k = 1
				u.Login, err = r.Str()
			case "d":
				k = 2
				u.Name, err = r.Str()
			default:
				return -1, nil
			}
			return k, err
		})
		if err != nil {
			return nil, fmt.Errorf("user %d of %d: %w", i+1, n, err)
		}
	}
	return us, nil
}

func decodeSide(r *reader, x *Side) error {
	return r.fields("lost value", func(key []byte) (k int, err error) {
		switch string(key) {
		case "s":
			k = 0
			x.S, err = r.Str()
		case "l":
			k = 1
			var n int
			if n, err = r.Container(false); err != nil || n < 0 {
				return k, err
			}
			x.L = make([]string, n)
			for i := range x.L {
				if x.L[i], err = r.Str(); err != nil {
					return k, err
				}
			}
		case "u":
			k = 2
			x.U, err = decodeUsers(r)
		case "c":
			k = 3
			err = decodeClock(r, &x.Clock)
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeElems(r *reader, v *Value) error {
	n, err := r.Container(true)
	if err != nil || n < 0 {
		return err
	}
	v.E = make(map[string]Elem, n)
	for range n {
		off := r.Offset()
		s, err := r.Str()
		if err != nil {
			return fmt.Errorf("element: %w", err)
		}
		if _, dup := v.E[s]; dup {
			return r.Fail(off, "element %q appears twice", printable([]byte(s)))
		}
		var el Elem
		err = r.fields("element", func(key []byte) (k int, err error) {
			switch string(key) {
			case "d":
				k = 0
				el.Del, err = r.Bool()
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
			c.Peer, err = r.Peer()
		default:
			return -1, nil
		}
		return k, err
	})
}

func decodeComments(r *reader, rep *Replica) error {
	n, err := r.Container(false)
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
			c.ID, err = r.Str()
		case "a":
			k = 1
			c.Author, err = r.Str()
		case "b":
			k = 2
			c.Body, err = r.Str()
		case "t":
			k = 3
			c.Created, err = r.int64()
		case "i":
			k = 4
			c.Internal, err = r.Bool()
		case "c":
			k = 5
			err = decodeClock(r, &c.Clock)
		case "d":
			k = 6
			c.Deleted, err = r.Bool()
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
				err = r.Fail(r.Offset(), "version %d is out of range", v)
			}
		case "a":
			k = 1
			var n int
			if n, err = r.Container(false); err != nil || n < 0 {
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
			it.EventID, err = r.Str()
		case "twin":
			k = 2
			it.Twin, err = r.Str()
		case "res":
			k = 3
			var res uint64
			res, err = r.uint(math.MaxUint8)
			it.Result = Result(res)
		case "key":
			k = 4
			it.LocalKey, err = r.Str()
		case "err":
			k = 5
			it.Error, err = r.Str()
		default:
			return -1, nil
		}
		return k, err
	})
}
