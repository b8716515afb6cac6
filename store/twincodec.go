package store

// A hand-written msgpack codec for Twin, the record read and written most
// often: every event sent or applied loads its twin and stores it back.
//
// Why: decoding a twin by reflection (msgpack.Unmarshal) walks the struct
// tags, allocates a reflect.Value per map entry and a fresh string per clock,
// and showed up as about 12% of the CPU of a fan-out benchmark. This codec
// does the same job with direct calls.
//
// The bytes do not change format. The encoder writes what reflection writes
// for the structs with their msgpack tags: each struct a map keyed by its
// tag names in field order, omitempty fields left out, a nil map or slice as
// nil, time.Time as msgpack's timestamp extension (-1). Two details differ,
// neither of which a decoder can tell apart: integers take their shortest
// form (reflection writes int64 and uint64 at full width), and map entries are
// written in key order (reflection writes them in Go's random map order), so
// equal twins encode to equal bytes. Twins written before keep decoding, and
// what this codec writes decodes with plain msgpack.Unmarshal into the same
// value (tests check both directions, and a fuzz target checks agreement).
//
// The decoder reads the bytes directly and accepts, scalar by scalar, what
// the library's Decoder accepts when reflection calls it: strings also as
// bin or nil, integers of any width and sign (nil as 0), booleans also as
// nil, an extension header before a map passed over. On top of that it
// mirrors how reflection decodes into a value: a struct given as nil is
// zeroed, a struct may also come as an array of its fields in order, a nil
// map or slice is set to nil (a nil []string leaves the field as it is), an
// empty array gives an empty non-nil slice, a key given twice decodes again
// into the same field (maps merge, slices are decoded into in place), and
// unknown keys are skipped. The one difference: a nil time.Time, which
// reflection never writes and panics on, reads as the zero time. Lengths are
// checked against the bytes left before anything is allocated, so arbitrary
// bytes give an error, never a huge allocation or a panic. A fuzz target
// (FuzzTwinDecode) holds the decoder to reflection's results. The msgpack
// primitives (writers, bounded readers, skip) are internal/msgp's, shared
// with the replica's wire codec; what reflection accepts beyond them
// (structs as arrays, timestamps, an extension header before a map) is
// here.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/issuemesh/issuemesh/internal/msgp"
	"github.com/issuemesh/issuemesh/replica"
)

// ---- encoding ----

// encodeTwin returns the msgpack encoding of tw (see the top of this file).
// The buffer starts at a typical twin's size: one allocation, rarely two.
func encodeTwin(tw *Twin) []byte {
	return appendTwin(make([]byte, 0, 4096), tw)
}

func appendTwin(b []byte, tw *Twin) []byte {
	b = msgp.AppendMapLen(b, 5)
	b = msgp.AppendStr(msgp.AppendStr(b, "id"), tw.ID)
	b = msgp.AppendStr(msgp.AppendStr(b, "key"), tw.LocalKey)
	b = msgp.AppendStr(b, "links")
	if tw.Links == nil {
		b = append(b, msgpcode.Nil)
	} else {
		b = msgp.AppendMapLen(b, len(tw.Links))
		for _, peer := range sortedKeys(tw.Links) {
			b = msgp.AppendStr(b, peer)
			if l := tw.Links[peer]; l == nil {
				b = append(b, msgpcode.Nil)
			} else {
				b = appendLink(b, l)
			}
		}
	}
	b = appendTime(msgp.AppendStr(b, "created"), tw.Created)
	return msgp.AppendUint(msgp.AppendStr(b, "hn"), tw.HistN)
}

func appendLink(b []byte, l *Link) []byte {
	n := 2
	if l.RemoteKey != "" {
		n++
	}
	if l.Unsynced {
		n++
	}
	if l.Manual {
		n++
	}
	if len(l.Keys) > 0 {
		n++
	}
	b = msgp.AppendMapLen(b, n)
	if l.RemoteKey != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "rk"), l.RemoteKey)
	}
	b = replica.AppendReplica(msgp.AppendStr(b, "ag"), &l.Agreed)
	b = replica.AppendReplica(msgp.AppendStr(b, "bl"), &l.Baseline)
	if l.Unsynced {
		b = append(msgp.AppendStr(b, "un"), msgpcode.True)
	}
	if l.Manual {
		b = append(msgp.AppendStr(b, "man"), msgpcode.True)
	}
	if len(l.Keys) > 0 {
		b = msgp.AppendMapLen(msgp.AppendStr(b, "keys"), len(l.Keys))
		for _, member := range sortedKeys(l.Keys) {
			b = msgp.AppendStr(msgp.AppendStr(b, member), l.Keys[member])
		}
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	secs := uint64(t.Unix())
	if secs>>34 == 0 {
		data := uint64(t.Nanosecond())<<34 | secs
		if data&0xffffffff00000000 == 0 {
			return binary.BigEndian.AppendUint32(append(b, msgpcode.FixExt4, 0xff), uint32(data))
		}
		return binary.BigEndian.AppendUint64(append(b, msgpcode.FixExt8, 0xff), data)
	}
	b = binary.BigEndian.AppendUint32(append(b, msgpcode.Ext8, 12, 0xff), uint32(t.Nanosecond()))
	return binary.BigEndian.AppendUint64(b, secs)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return keys
}

// ---- decoding ----

// errArrayStruct is what a struct given as an array of the wrong length
// gives (reflection refuses it too).
var errArrayStruct = errors.New("msgpack: number of fields in array-encoded struct has changed")

// twinDecoder reads msgpack values from b with the shared primitives
// (internal/msgp), adding what reflection accepts on top. Every read checks
// its bounds.
type twinDecoder struct{ msgp.Reader }

// decodeTwin decodes b into tw, as msgpack.Unmarshal(b, tw) would.
func decodeTwin(b []byte, tw *Twin) error {
	t := twinDecoder{msgp.NewReader(b)}
	return t.twin(tw)
}

// integer reads an integer as the library's DecodeInt64 and DecodeUint64
// do (they agree bit for bit): any width, signed or not, nil as 0, and no
// floats. The caller converts the bits.
func (t *twinDecoder) integer() (uint64, error) {
	u, _, err := t.Integer()
	return u, err
}

func (t *twinDecoder) int64() (int64, error) {
	n, err := t.integer()
	return int64(n), err
}

// mapLen reads the header of a map as the library's DecodeMapLen: -1 for
// nil, and an extension header before the map is passed over. It checks
// that the entries can fit in the bytes left.
func (t *twinDecoder) mapLen() (int, error) {
	c, err := t.Peek()
	if err != nil {
		return 0, err
	}
	if msgpcode.IsExt(c) {
		if _, _, err := t.extHeader(); err != nil {
			return 0, err
		}
	}
	return t.Container(true)
}

// arrayLen reads the header of an array as the library's DecodeArrayLen:
// -1 for nil. It checks that the elements can fit in the bytes left.
func (t *twinDecoder) arrayLen() (int, error) { return t.Container(false) }

// structLen reads the header of a struct of nfields fields: the number of
// keys of a map (asArray false) or of fields of an array (asArray true), or
// -1 when the struct is to be zeroed (nil, or an empty array).
func (t *twinDecoder) structLen(nfields int) (n int, asArray bool, err error) {
	c, err := t.Peek()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c == msgpcode.Nil || msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err = t.mapLen()
		return n, false, err
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err = t.arrayLen()
		switch {
		case err != nil:
		case n <= 0:
			n = -1
		case n != nfields:
			err = errArrayStruct
		}
		return n, true, err
	}
	return 0, false, fmt.Errorf("msgpack: invalid code=%x decoding struct", c)
}

// extHeader reads the header of an extension value: its type and length.
func (t *twinDecoder) extHeader() (int8, uint64, error) {
	c, err := t.Byte()
	if err != nil {
		return 0, 0, err
	}
	var n uint64
	switch c {
	case msgpcode.FixExt1:
		n = 1
	case msgpcode.FixExt2:
		n = 2
	case msgpcode.FixExt4:
		n = 4
	case msgpcode.FixExt8:
		n = 8
	case msgpcode.FixExt16:
		n = 16
	case msgpcode.Ext8:
		n, err = t.UintN(1)
	case msgpcode.Ext16:
		n, err = t.UintN(2)
	case msgpcode.Ext32:
		n, err = t.UintN(4)
	default:
		return 0, 0, fmt.Errorf("msgpack: invalid code=%x decoding ext len", c)
	}
	if err != nil {
		return 0, 0, err
	}
	id, err := t.Byte()
	return int8(id), n, err
}

// field reads the key of a struct field given as a map, or takes the index
// i of one given as an array, and returns its number, as names gives it for
// a key (-1 for an unknown one).
func (t *twinDecoder) field(asArray bool, i int, names func([]byte) int) (int, error) {
	if asArray {
		return i, nil
	}
	key, err := t.RawStr()
	if err != nil {
		return 0, err
	}
	return names(key), nil
}

// fieldName reads the name of a replica field, sharing the strings of the
// standard names.
func (t *twinDecoder) fieldName() (string, error) {
	p, err := t.RawStr()
	if err != nil {
		return "", err
	}
	switch string(p) {
	case replica.FieldSummary:
		return replica.FieldSummary, nil
	case replica.FieldDescription:
		return replica.FieldDescription, nil
	case replica.FieldStatus:
		return replica.FieldStatus, nil
	case replica.FieldPriority:
		return replica.FieldPriority, nil
	case replica.FieldLabels:
		return replica.FieldLabels, nil
	}
	return string(p), nil
}

// time reads a time.Time as reflection does: msgpack's timestamp extension
// (the library's own -1 only) in the local zone, the zero time in UTC. Nil
// gives the zero time (reflection panics on it; it never writes it).
func (t *twinDecoder) time() (time.Time, error) {
	c, err := t.Peek()
	if err != nil {
		return time.Time{}, err
	}
	if c == msgpcode.Nil {
		_, _ = t.Byte() // the nil just peeked
		return time.Time{}, nil
	}
	id, n, err := t.extHeader()
	if err != nil {
		return time.Time{}, err
	}
	if id != -1 {
		return time.Time{}, fmt.Errorf("msgpack: got ext type=%d, wanted -1", id)
	}
	p, err := t.Next(n)
	if err != nil {
		return time.Time{}, err
	}
	var tm time.Time
	switch n {
	case 4:
		tm = time.Unix(int64(binary.BigEndian.Uint32(p)), 0)
	case 8:
		sec := binary.BigEndian.Uint64(p)
		tm = time.Unix(int64(sec&0x00000003ffffffff), int64(sec>>34))
	case 12:
		tm = time.Unix(int64(binary.BigEndian.Uint64(p[4:])), int64(binary.BigEndian.Uint32(p)))
	default:
		return time.Time{}, fmt.Errorf("msgpack: invalid ext len=%d decoding time", n)
	}
	if tm.IsZero() {
		tm = tm.UTC() // as the library does: the zero time has no zone
	}
	return tm, nil
}

// twinFields numbers the fields of Twin by their msgpack tags, in field
// order (the order of an array-encoded struct), -1 for an unknown key.
// TestTwinCodecKnowsEveryField checks these functions against the structs.
func twinFields(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "key":
		return 1
	case "links":
		return 2
	case "created":
		return 3
	case "hn":
		return 4
	}
	return -1
}

func (t *twinDecoder) twin(tw *Twin) error {
	n, asArray, err := t.structLen(5)
	if err != nil || n < 0 {
		*tw = Twin{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, twinFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			tw.ID, err = t.Str()
		case 1:
			tw.LocalKey, err = t.Str()
		case 2:
			err = t.links(&tw.Links)
		case 3:
			tw.Created, err = t.time()
		case 4:
			tw.HistN, err = t.integer()
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *twinDecoder) links(m *map[string]*Link) error {
	n, err := t.mapLen()
	if err != nil || n < 0 {
		*m = nil
		return err
	}
	if *m == nil {
		*m = make(map[string]*Link, n)
	}
	for range n {
		peer, err := t.Str()
		if err != nil {
			return err
		}
		c, err := t.Peek()
		if err != nil {
			return err
		}
		var l *Link
		if c == msgpcode.Nil {
			_, _ = t.Byte() // the nil just peeked
		} else {
			l = new(Link)
			err = t.link(l)
		}
		if err != nil {
			return err
		}
		(*m)[peer] = l
	}
	return nil
}

// linkFields numbers the fields of Link (see twinFields).
func linkFields(key []byte) int {
	switch string(key) {
	case "rk":
		return 0
	case "ag":
		return 1
	case "bl":
		return 2
	case "un":
		return 3
	case "man":
		return 4
	case "keys":
		return 5
	}
	return -1
}

func (t *twinDecoder) link(l *Link) error {
	n, asArray, err := t.structLen(6)
	if err != nil || n < 0 {
		*l = Link{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, linkFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			l.RemoteKey, err = t.Str()
		case 1:
			err = t.replica(&l.Agreed)
		case 2:
			err = t.replica(&l.Baseline)
		case 3:
			l.Unsynced, err = t.Bool()
		case 4:
			l.Manual, err = t.Bool()
		case 5:
			err = t.stringMap(&l.Keys)
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *twinDecoder) stringMap(m *map[string]string) error {
	n, err := t.mapLen()
	if err != nil || n < 0 {
		*m = nil
		return err
	}
	if *m == nil {
		*m = make(map[string]string, n)
	}
	for range n {
		k, err := t.Str()
		if err != nil {
			return err
		}
		v, err := t.Str()
		if err != nil {
			return err
		}
		(*m)[k] = v
	}
	return nil
}

// replicaFields numbers the fields of replica.Replica (see twinFields).
func replicaFields(key []byte) int {
	switch string(key) {
	case "f":
		return 0
	case "m":
		return 1
	case "at":
		return 2
	}
	return -1
}

func (t *twinDecoder) replica(r *replica.Replica) error {
	n, asArray, err := t.structLen(3)
	if err != nil || n < 0 {
		*r = replica.Replica{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, replicaFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			err = t.values(&r.Fields)
		case 1:
			err = decodeSlice(t, &r.Comments, t.comment)
		case 2:
			err = decodeSlice(t, &r.Attachments, t.attachment)
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *twinDecoder) values(m *map[string]replica.Value) error {
	n, err := t.mapLen()
	if err != nil || n < 0 {
		*m = nil
		return err
	}
	if *m == nil {
		*m = make(map[string]replica.Value, n)
	}
	for range n {
		name, err := t.fieldName()
		if err != nil {
			return err
		}
		var v replica.Value
		if err := t.value(&v); err != nil {
			return err
		}
		(*m)[name] = v
	}
	return nil
}

// decodeSlice decodes an array into *s element by element, as reflection
// does: nil gives nil, an empty array an empty non-nil slice, and the
// elements are decoded in place into the slice's existing storage.
func decodeSlice[T any](t *twinDecoder, s *[]T, elem func(*T) error) error {
	n, err := t.arrayLen()
	if err != nil || n < 0 {
		*s = nil
		return err
	}
	v := *s
	switch {
	case n == 0 && v == nil:
		v = []T{}
	case cap(v) >= n:
		v = v[:n]
	default:
		v = v[:cap(v)]
		v = append(v, make([]T, n-len(v))...)
	}
	*s = v
	for i := range v {
		if err := elem(&v[i]); err != nil {
			return err
		}
	}
	return nil
}

// valueFields numbers the fields of replica.Value (see twinFields).
func valueFields(key []byte) int {
	switch string(key) {
	case "s":
		return 0
	case "l":
		return 1
	case "e":
		return 2
	case "c":
		return 3
	case "t":
		return 4
	case "u":
		return 5
	case "b":
		return 6
	case "x":
		return 7
	}
	return -1
}

func (t *twinDecoder) value(v *replica.Value) error {
	n, asArray, err := t.structLen(8)
	if err != nil || n < 0 {
		*v = replica.Value{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, valueFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			v.S, err = t.Str()
		case 1:
			err = t.strings(&v.L)
		case 2:
			err = t.elems(&v.E)
		case 3:
			err = t.clock(&v.Clock)
		case 4:
			var k string
			k, err = t.Str()
			v.T = replica.Kind(k)
		case 5:
			err = decodeSlice(t, &v.U, t.user)
		case 6:
			err = t.clock(&v.Base)
		case 7:
			err = t.side(&v.Lost)
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// userFields numbers the fields of replica.User (see twinFields).
func userFields(key []byte) int {
	switch string(key) {
	case "e":
		return 0
	case "n":
		return 1
	case "d":
		return 2
	}
	return -1
}

func (t *twinDecoder) user(u *replica.User) error {
	n, asArray, err := t.structLen(3)
	if err != nil || n < 0 {
		*u = replica.User{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, userFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			u.Email, err = t.Str()
		case 1:
			u.Login, err = t.Str()
		case 2:
			u.Name, err = t.Str()
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sideFields numbers the fields of replica.Side (see twinFields).
func sideFields(key []byte) int {
	switch string(key) {
	case "s":
		return 0
	case "l":
		return 1
	case "u":
		return 2
	case "c":
		return 3
	}
	return -1
}

// side decodes a *replica.Side as reflection does: nil gives nil, anything
// else a Side of its own.
func (t *twinDecoder) side(p **replica.Side) error {
	c, err := t.Peek()
	if err != nil {
		return err
	}
	if c == msgpcode.Nil {
		_, _ = t.Byte() // the nil just peeked
		*p = nil
		return nil
	}
	if *p == nil {
		*p = new(replica.Side)
	}
	x := *p
	n, asArray, err := t.structLen(4)
	if err != nil || n < 0 {
		*x = replica.Side{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, sideFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			x.S, err = t.Str()
		case 1:
			err = t.strings(&x.L)
		case 2:
			err = decodeSlice(t, &x.U, t.user)
		case 3:
			err = t.clock(&x.Clock)
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// strings decodes a []string as reflection does: nil leaves *s as it is,
// any array (even empty) gives a non-nil slice.
func (t *twinDecoder) strings(s *[]string) error {
	n, err := t.arrayLen()
	if err != nil || n < 0 {
		return err
	}
	ss := *s
	if ss == nil || cap(ss) < n {
		ss = make([]string, 0, n)
	}
	ss = ss[:0]
	for range n {
		str, err := t.Str()
		if err != nil {
			return err
		}
		ss = append(ss, str)
	}
	*s = ss
	return nil
}

func (t *twinDecoder) elems(m *map[string]replica.Elem) error {
	n, err := t.mapLen()
	if err != nil || n < 0 {
		*m = nil
		return err
	}
	if *m == nil {
		*m = make(map[string]replica.Elem, n)
	}
	for range n {
		s, err := t.Str()
		if err != nil {
			return err
		}
		var el replica.Elem
		if err := t.elem(&el); err != nil {
			return err
		}
		(*m)[s] = el
	}
	return nil
}

// elemFields numbers the fields of replica.Elem (see twinFields).
func elemFields(key []byte) int {
	switch string(key) {
	case "d":
		return 0
	case "c":
		return 1
	}
	return -1
}

func (t *twinDecoder) elem(el *replica.Elem) error {
	n, asArray, err := t.structLen(2)
	if err != nil || n < 0 {
		*el = replica.Elem{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, elemFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			el.Del, err = t.Bool()
		case 1:
			err = t.clock(&el.Clock)
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// clockFields numbers the fields of replica.Clock (see twinFields).
func clockFields(key []byte) int {
	switch string(key) {
	case "w":
		return 0
	case "l":
		return 1
	case "p":
		return 2
	}
	return -1
}

func (t *twinDecoder) clock(c *replica.Clock) error {
	n, asArray, err := t.structLen(3)
	if err != nil || n < 0 {
		*c = replica.Clock{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, clockFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			c.Wall, err = t.int64()
		case 1:
			var l uint64
			l, err = t.integer()
			c.Logical = uint32(l) // reflection truncates the same way
		case 2:
			c.Peer, err = t.Peer()
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// commentFields numbers the fields of replica.Comment (see twinFields).
func commentFields(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "a":
		return 1
	case "b":
		return 2
	case "t":
		return 3
	case "i":
		return 4
	case "c":
		return 5
	case "d":
		return 6
	}
	return -1
}

func (t *twinDecoder) comment(c *replica.Comment) error {
	n, asArray, err := t.structLen(7)
	if err != nil || n < 0 {
		*c = replica.Comment{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, commentFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			c.ID, err = t.Str()
		case 1:
			c.Author, err = t.Str()
		case 2:
			c.Body, err = t.Str()
		case 3:
			c.Created, err = t.int64()
		case 4:
			c.Internal, err = t.Bool()
		case 5:
			err = t.clock(&c.Clock)
		case 6:
			c.Deleted, err = t.Bool()
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// attachmentFields numbers the fields of replica.Attachment (see twinFields).
func attachmentFields(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "n":
		return 1
	case "ty":
		return 2
	case "sz":
		return 3
	case "d":
		return 4
	case "a":
		return 5
	case "t":
		return 6
	case "c":
		return 7
	case "x":
		return 8
	}
	return -1
}

func (t *twinDecoder) attachment(a *replica.Attachment) error {
	n, asArray, err := t.structLen(9)
	if err != nil || n < 0 {
		*a = replica.Attachment{}
		return err
	}
	for i := range n {
		k, err := t.field(asArray, i, attachmentFields)
		if err != nil {
			return err
		}
		switch k {
		case 0:
			a.ID, err = t.Str()
		case 1:
			a.Filename, err = t.Str()
		case 2:
			a.ContentType, err = t.Str()
		case 3:
			a.Size, err = t.int64()
		case 4:
			a.Digest, err = t.Str()
		case 5:
			a.Author, err = t.Str()
		case 6:
			a.Created, err = t.int64()
		case 7:
			err = t.clock(&a.Clock)
		case 8:
			a.Deleted, err = t.Bool()
		default:
			err = t.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}
