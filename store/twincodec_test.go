package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/replica"
)

// The hand-written twin codec must agree with msgpack's reflection in both
// directions: reflection's bytes decoded by hand, and the hand's bytes
// decoded by reflection, give what reflection gives for its own bytes.

const (
	testPeerA = "12D3KooWA1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZaBcDeFgH"
	testPeerB = "12D3KooWZz9y8x7w6v5u4t3s2r1qPoNmLkJiHgFeDcBa0123456"
)

// typicalReplica is what a link holds for an ordinary issue: the default
// fields, a label set with a tombstone, a comment.
func typicalReplica(i int, peer string) replica.Replica {
	clk := replica.Clock{Wall: 1_750_000_000_000 + int64(i), Logical: uint32(i % 3), Peer: peer}
	return replica.Replica{
		Fields: map[string]replica.Value{
			replica.FieldSummary:     {S: fmt.Sprintf("Login times out (%d)", i), Clock: clk},
			replica.FieldDescription: {S: "See the summary.", Clock: clk},
			replica.FieldStatus:      {S: "In Progress", Clock: clk},
			replica.FieldPriority:    {S: "High", Clock: clk},
			replica.FieldLabels: {L: []string{"backend", "login"}, Clock: clk, E: map[string]replica.Elem{
				"backend": {Clock: clk},
				"old":     {Del: true, Clock: replica.Clock{Wall: clk.Wall - 5000, Peer: testPeerB}},
			}},
		},
		Comments: []replica.Comment{
			{ID: "c1", Author: "alice", Body: "Seen on staging too.", Created: 1_750_000_000_123, Clock: clk},
		},
	}
}

// typicalTwin is a twin of about 2.6 KiB with two links, as the fan-out
// benchmark loads and stores them.
func typicalTwin() *Twin {
	tw := &Twin{ID: "tw-0001-8f3a9c", LocalKey: "PROJ-1234", Created: time.Unix(1_750_000_000, 123_456_789), HistN: 42}
	for i, peer := range []string{testPeerA, testPeerB} {
		l := tw.Link(peer)
		l.RemoteKey = fmt.Sprintf("REMOTE-%d", 100+i)
		l.Agreed = typicalReplica(i, testPeerA)
		l.Baseline = typicalReplica(i+1, testPeerA)
		l.Baseline.Comments = nil
		labels := l.Baseline.Fields[replica.FieldLabels]
		labels.E = nil
		l.Baseline.Fields[replica.FieldLabels] = labels
	}
	return tw
}

func twinCases() []struct {
	name string
	tw   *Twin
} {
	clk := replica.Clock{Wall: 1_700_000_000_000, Logical: 7, Peer: testPeerA}
	many := &Twin{ID: "many", LocalKey: "K-1", Created: time.Unix(1, 0)}
	for i := range 40 {
		many.Link(fmt.Sprintf("peer-%02d", i)).Agreed = replica.Replica{Fields: map[string]replica.Value{
			replica.FieldStatus: {S: "Open", Clock: replica.Clock{Wall: int64(i), Peer: fmt.Sprintf("peer-%02d", i)}},
		}}
	}
	bigSet := map[string]replica.Elem{}
	for i := range 300 {
		bigSet[fmt.Sprintf("label-%03d", i)] = replica.Elem{Del: i%7 == 0, Clock: replica.Clock{Wall: int64(i * 1000), Logical: uint32(i), Peer: testPeerB}}
	}
	return []struct {
		name string
		tw   *Twin
	}{
		{"zero", &Twin{}},
		{"empty links map", &Twin{ID: "t", Links: map[string]*Link{}}},
		{"nil link", &Twin{ID: "t", Links: map[string]*Link{"p": nil}}},
		{"empty link", &Twin{ID: "t", Links: map[string]*Link{"p": {}}}},
		{"typical", typicalTwin()},
		{"many links", many},
		{"labels with elements and tombstones", &Twin{ID: "lab", LocalKey: "L-2", Links: map[string]*Link{
			testPeerA: {
				Agreed: replica.Replica{Fields: map[string]replica.Value{
					replica.FieldLabels: {L: []string{"a", "b"}, E: bigSet, Clock: clk},
				}},
				Baseline: replica.Replica{Fields: map[string]replica.Value{
					replica.FieldLabels: {L: []string{}, E: map[string]replica.Elem{}, Clock: clk},
					"custom":            {S: "", Clock: replica.Clock{}},
				}},
			},
		}}},
		{"comments and attachments", &Twin{ID: "att", Links: map[string]*Link{
			testPeerB: {
				Manual: true,
				Agreed: replica.Replica{
					Comments: []replica.Comment{
						{ID: "c", Body: "", Clock: clk},
						{ID: "d", Author: "zoë", Body: strings.Repeat("x", 70_000), Created: -5, Internal: true, Clock: clk},
					},
					Attachments: []replica.Attachment{
						{ID: "a1", Filename: "trace.log", ContentType: "text/plain", Size: 1 << 40,
							Digest: strings.Repeat("ab", 32), Author: "alice", Created: 1_700_000_000_000, Clock: clk},
						{ID: "a2", Filename: "empty", Digest: strings.Repeat("00", 32), Clock: replica.Clock{Wall: -1}},
					},
				},
				Baseline: replica.Replica{Comments: []replica.Comment{}, Attachments: []replica.Attachment{}},
			},
		}}},
		{"network link with keys", &Twin{ID: "net", LocalKey: "N-1", Links: map[string]*Link{
			"net:team": {Unsynced: true, Keys: map[string]string{testPeerA: "A-1", testPeerB: "B-9", "x": ""}},
			"other":    {Keys: map[string]string{}},
		}}},
		{"unicode", &Twin{ID: "твин-🙂", LocalKey: "キー-1", Links: map[string]*Link{
			"пир": {RemoteKey: "远程-7", Agreed: replica.Replica{Fields: map[string]replica.Value{
				"résumé": {S: "naïve café ☕ \x00 nul", L: []string{"ü", ""}, Clock: replica.Clock{Peer: "ピア"}},
			}}},
		}}},
		{"extreme numbers", &Twin{ID: "num", HistN: math.MaxUint64, Links: map[string]*Link{
			"p": {Agreed: replica.Replica{Fields: map[string]replica.Value{
				"a": {Clock: replica.Clock{Wall: math.MinInt64, Logical: math.MaxUint32}},
				"b": {Clock: replica.Clock{Wall: math.MaxInt64, Logical: 128}},
				"c": {Clock: replica.Clock{Wall: -33, Logical: 255}},
				"d": {Clock: replica.Clock{Wall: -129, Logical: 65536}},
				"e": {Clock: replica.Clock{Wall: -40000, Logical: 65535}},
			}}},
		}}},
		{"time with nanoseconds", &Twin{ID: "t", Created: time.Unix(1_750_000_000, 1)}},
		{"time before 1970", &Twin{ID: "t", Created: time.Date(1901, 2, 3, 4, 5, 6, 7, time.UTC)}},
		{"time after 2514", &Twin{ID: "t", Created: time.Date(2600, 1, 1, 0, 0, 0, 999_999_999, time.UTC)}},
		{"time in a zone", &Twin{ID: "t", Created: time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))}},
		{"long strings", &Twin{ID: strings.Repeat("i", 31), LocalKey: strings.Repeat("k", 32), Links: map[string]*Link{
			strings.Repeat("p", 255): {RemoteKey: strings.Repeat("r", 256)},
		}}},
	}
}

// reflectDecode is the reference: msgpack's reflection decoding.
func reflectDecode(t testing.TB, b []byte) *Twin {
	t.Helper()
	tw := &Twin{}
	if err := msgpack.Unmarshal(b, tw); err != nil {
		t.Fatalf("reflection decode: %v", err)
	}
	return tw
}

func TestTwinCodecMatchesReflection(t *testing.T) {
	for _, tc := range twinCases() {
		t.Run(tc.name, func(t *testing.T) {
			refBytes, err := msgpack.Marshal(tc.tw)
			if err != nil {
				t.Fatal(err)
			}
			want := reflectDecode(t, refBytes)

			// Reflection's bytes, decoded by hand.
			got := &Twin{}
			if err := decodeTwin(refBytes, got); err != nil {
				t.Fatalf("decode reflection bytes: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoding reflection's bytes:\n got %#v\nwant %#v", got, want)
			}

			// The hand's bytes, decoded by reflection and by hand.
			mine := encodeTwin(tc.tw)
			if back := reflectDecode(t, mine); !reflect.DeepEqual(back, want) {
				t.Errorf("reflection decoding the codec's bytes:\n got %#v\nwant %#v", back, want)
			}
			got = &Twin{}
			if err := decodeTwin(mine, got); err != nil {
				t.Fatalf("decode own bytes: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoding own bytes:\n got %#v\nwant %#v", got, want)
			}
			// Equal twins give equal bytes (map entries are sorted).
			if again := encodeTwin(want); string(again) != string(mine) {
				t.Errorf("encoding is not deterministic")
			}
		})
	}
}

// raw encodes a msgpack value built of maps, slices and scalars, to write
// the shapes reflection never writes but accepts.
func raw(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oddInputs are valid msgpack that reflection decodes into a Twin although it
// never writes them: unknown keys, nils, structs as arrays, repeated keys,
// bin strings, wide integers, an older writer's shapes.
func oddInputs(t testing.TB) map[string][]byte {
	clock := map[string]any{"w": int64(5), "l": uint64(1), "p": "peer", "zz": []any{1, "x", map[string]any{"q": nil}}}
	ts := raw(t, time.Unix(1_700_000_000, 5))
	wide := append([]byte{0x83, 0xa1, 'w', 0xd3}, binary.BigEndian.AppendUint64(nil, 1<<40)...)
	wide = append(wide, 0xa1, 'l', 0xcf, 0, 0, 0, 1, 0, 0, 0, 2) // truncated to uint32 by reflection
	wide = append(wide, 0xa1, 'p', 0xc4, 2, 'h', 'i')            // bin as string
	dupLinks := []byte{0x83, 0xa5, 'l', 'i', 'n', 'k', 's', 0x81, 0xa1, 'a', 0x80,
		0xa5, 'l', 'i', 'n', 'k', 's', 0x81, 0xa1, 'b', 0xc0,
		0xa2, 'i', 'd', 0xa1, 'x'}
	return map[string][]byte{
		"nil":           {0xc0},
		"empty map":     {0x80},
		"empty array":   {0x90},
		"unknown keys":  raw(t, map[string]any{"id": "t", "future": map[string]any{"a": []any{1, 2.5, true}}, "links": map[string]any{"p": map[string]any{"new": 1, "ag": map[string]any{"f": map[string]any{"s": map[string]any{"c": clock, "x": "y"}}}}}}),
		"nil fields":    raw(t, map[string]any{"id": nil, "key": nil, "links": map[string]any{"p": map[string]any{"ag": nil, "bl": map[string]any{"f": nil, "m": nil, "at": nil}, "keys": nil, "un": nil}}, "hn": nil}),
		"nil time":      raw(t, map[string]any{"id": "t", "created": nil}),
		"time":          append([]byte{0x81, 0xa7, 'c', 'r', 'e', 'a', 't', 'e', 'd'}, ts...),
		"wide ints":     append([]byte{0x81, 0xa5, 'l', 'i', 'n', 'k', 's', 0x81, 0xa1, 'p', 0x81, 0xa2, 'a', 'g', 0x81, 0xa1, 'f', 0x81, 0xa1, 's', 0x81, 0xa1, 'c'}, wide...),
		"struct arrays": raw(t, []any{"id", "key", map[string]any{"p": []any{"rk", []any{nil, nil, []any{[]any{"a", "n", "ty", 1, "d", "au", 2, []any{1, 2, "p"}}}}, []any{}, true, false, map[string]any{"m": "k"}}}, time.Unix(7, 0), 9}),
		"wrong array":   raw(t, []any{"id", "key"}),
		"dup links":     dupLinks,
		"negative uint": raw(t, map[string]any{"hn": -1}),
		"bad time ext":  {0x81, 0xa7, 'c', 'r', 'e', 'a', 't', 'e', 'd', 0xd6, 0x05, 0, 0, 0, 1},
		"float int":     raw(t, map[string]any{"hn": 1.5}),
		"truncated":     raw(t, map[string]any{"id": "abc"})[:5],
		"string as map": raw(t, map[string]any{"links": "x"}),
		"empty L":       raw(t, map[string]any{"links": map[string]any{"p": map[string]any{"ag": map[string]any{"f": map[string]any{"x": map[string]any{"l": []any{}, "e": map[string]any{}}}}}}}),
		"huge array":    {0x81, 0xa5, 'l', 'i', 'n', 'k', 's', 0x81, 0xa1, 'p', 0x81, 0xa2, 'a', 'g', 0x81, 0xa1, 'm', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"huge map":      {0x81, 0xa5, 'l', 'i', 'n', 'k', 's', 0xdf, 0xff, 0xff, 0xff, 0xff},
	}
}

// sane reports whether reflection can be given b without risk: its slice
// decoding allocates as many elements as an array header claims, before
// reading them, so a 32-bit array or map header anywhere in b (whatever
// reflection makes of the bytes around it) must not claim more than b holds.
func sane(b []byte) bool {
	for i, c := range b {
		if (c == 0xdd || c == 0xdf) && (i+5 > len(b) || int(binary.BigEndian.Uint32(b[i+1:])) > len(b)) {
			return false
		}
	}
	return true
}

// reflectTry decodes b by reflection, if that can be done safely: ok is
// false where b could make reflection allocate without bound (see sane) or
// where reflection panics (it does on a nil time.Time, which it never
// writes; the codec reads that as the zero time).
func reflectTry(b []byte) (tw *Twin, ok bool, err error) {
	if !sane(b) {
		return nil, false, nil
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	tw = &Twin{}
	err = msgpack.Unmarshal(b, tw)
	return tw, true, err
}

// checkAgainstReflection decodes b both ways and reports a difference.
func checkAgainstReflection(t *testing.T, b []byte) {
	t.Helper()
	got := &Twin{}
	errGot := decodeTwin(b, got)
	if want, ok, errWant := reflectTry(b); ok {
		if (errGot == nil) != (errWant == nil) {
			t.Fatalf("%x: codec error %v, reflection error %v", b, errGot, errWant)
		}
		if errWant == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%x:\n got %#v\nwant %#v", b, got, want)
		}
	}
	if errGot != nil {
		return
	}
	// What the codec decoded, it encodes to bytes reflection reads the same.
	enc := encodeTwin(got)
	back, back2 := &Twin{}, &Twin{}
	if err := msgpack.Unmarshal(enc, back); err != nil {
		t.Fatalf("reflection refuses the codec's encoding of %#v: %v", got, err)
	}
	if err := decodeTwin(enc, back2); err != nil {
		t.Fatalf("codec refuses its own encoding of %#v: %v", got, err)
	}
	if !reflect.DeepEqual(back, back2) {
		t.Fatalf("re-encoded %#v:\nreflection %#v\n     codec %#v", got, back, back2)
	}
}

func TestTwinCodecOddInputs(t *testing.T) {
	for name, b := range oddInputs(t) {
		t.Run(name, func(t *testing.T) { checkAgainstReflection(t, b) })
	}
}

func TestTwinCodecDuplicateKeys(t *testing.T) {
	// A key given twice decodes again into the same value, as reflection
	// does: the maps merge, a slice is decoded into in place.
	first := raw(t, map[string]any{"m": []any{map[string]any{"id": "1", "b": "one"}, map[string]any{"id": "2", "b": "two"}}})
	rep := append([]byte{0x82}, first[1:]...)
	rep = append(rep, raw(t, "m")...)
	rep = append(rep, raw(t, []any{map[string]any{"b": "uno"}})...)
	b := append([]byte{0x81, 0xa5, 'l', 'i', 'n', 'k', 's', 0x81, 0xa1, 'p', 0x81, 0xa2, 'a', 'g'}, rep...)
	checkAgainstReflection(t, b)
	tw := reflectDecode(t, b)
	if c := tw.Links["p"].Agreed.Comments; len(c) != 1 || c[0].ID != "1" || c[0].Body != "uno" {
		t.Fatalf("the test does not test what it should: %#v", c)
	}
}

func TestStoreTwinRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	for _, tc := range twinCases() {
		want := reflectDecode(t, raw(t, tc.tw))
		if tc.tw.ID == "" {
			continue
		}
		if err := s.Update(t.Context(), func(tx *Tx) error { return tx.PutTwin(tc.tw) }); err != nil {
			t.Fatal(err)
		}
		err := s.View(func(tx *Tx) error {
			got, err := tx.GetTwin(tc.tw.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: got %#v\nwant %#v", tc.name, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzTwinDecode(f *testing.F) {
	for _, tc := range twinCases() {
		f.Add(raw(f, tc.tw))
		f.Add(encodeTwin(tc.tw))
	}
	for _, b := range oddInputs(f) {
		f.Add(b)
	}
	f.Fuzz(checkAgainstReflection)
}

// BenchmarkTwinCodec compares the codec with msgpack's reflection on a
// typical twin (two links, about 2.6 KiB).
func BenchmarkTwinCodec(b *testing.B) {
	tw := typicalTwin()
	enc, err := msgpack.Marshal(tw)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("typical twin: %d bytes by reflection, %d by the codec", len(enc), len(encodeTwin(tw)))
	b.Run("decode/reflect", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			var t Twin
			if err := msgpack.Unmarshal(enc, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/codec", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			var t Twin
			if err := decodeTwin(enc, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/reflect", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := msgpack.Marshal(tw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/codec", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			_ = encodeTwin(tw)
		}
	})
}

// TestTwinCodecKnowsEveryField fails when a field is added to one of the
// stored structs and not to the codec: the decoder must number each msgpack
// tag as reflection does (field order, which is also the order of an
// array-encoded struct).
func TestTwinCodecKnowsEveryField(t *testing.T) {
	for _, c := range []struct {
		typ    reflect.Type
		fields func([]byte) int
		n      int // what the decoder passes to structLen
	}{
		{reflect.TypeFor[Twin](), twinFields, 5},
		{reflect.TypeFor[Link](), linkFields, 6},
		{reflect.TypeFor[replica.Replica](), replicaFields, 3},
		{reflect.TypeFor[replica.Value](), valueFields, 8},
		{reflect.TypeFor[replica.User](), userFields, 3},
		{reflect.TypeFor[replica.Side](), sideFields, 4},
		{reflect.TypeFor[replica.Elem](), elemFields, 2},
		{reflect.TypeFor[replica.Clock](), clockFields, 3},
		{reflect.TypeFor[replica.Comment](), commentFields, 7},
		{reflect.TypeFor[replica.Attachment](), attachmentFields, 9},
	} {
		if c.typ.NumField() != c.n {
			t.Errorf("%s has %d fields, the codec knows %d", c.typ, c.typ.NumField(), c.n)
		}
		for i := range c.typ.NumField() {
			f := c.typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				t.Errorf("%s.%s: tag %q is not one the codec expects", c.typ, f.Name, f.Tag.Get("msgpack"))
			}
			if got := c.fields([]byte(name)); got != i {
				t.Errorf("%s.%s (%q): the codec numbers it %d, want %d", c.typ, f.Name, name, got, i)
			}
		}
	}
}

// fill sets every field of v (a pointer) to random values, recursively:
// maps and slices get one to three entries, so that a field the encoder
// forgets is noticed whatever its name.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(r, v.Elem(), depth)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(1<<40)-1<<39, r.Int64N(1e9))))
			return
		}
		for i := range v.NumField() {
			fill(r, v.Field(i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 1 + r.IntN(3) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(r, k, depth+1)
			fill(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Slice:
		n := 1 + r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d-%s", r.IntN(1000), strings.Repeat("é", r.IntN(40))))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int64, reflect.Int:
		v.SetInt(r.Int64() - r.Int64())
	case reflect.Uint64, reflect.Uint32:
		v.SetUint(r.Uint64() >> r.IntN(64))
		if v.OverflowUint(v.Uint()) {
			v.SetUint(v.Uint() & math.MaxUint32)
		}
	default:
		panic(fmt.Sprintf("fill: %s is not handled", v.Type()))
	}
}

func TestTwinCodecRandomTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		tw := &Twin{}
		fill(r, reflect.ValueOf(&tw).Elem(), 0)
		if back := reflectDecode(t, encodeTwin(tw)); !reflect.DeepEqual(back, tw) {
			t.Fatalf("twin %d: reflection decodes the codec's bytes as\n%#v\nwant %#v", i, back, tw)
		}
		got := &Twin{}
		if err := decodeTwin(raw(t, tw), got); err != nil || !reflect.DeepEqual(got, tw) {
			t.Fatalf("twin %d: the codec decodes reflection's bytes as\n%#v (%v)\nwant %#v", i, got, err, tw)
		}
	}
}
