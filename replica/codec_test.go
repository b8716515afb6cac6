package replica

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestEventRoundTrip(t *testing.T) {
	minimal := Event{V: Version, ID: "e", Twin: "t", Origin: "p"}
	unicode := minimal
	unicode.Replica = Replica{Fields: map[string]Value{
		"summary":  {S: "Überprüfung — 日本語 🚀", Clock: Clock{Wall: 1, Peer: "p"}},
		"custom.x": {S: "", Clock: Clock{Wall: -5, Logical: 1<<32 - 1, Peer: ""}},
	}}
	lists := minimal
	lists.Replica = Replica{Fields: map[string]Value{
		FieldLabels: {L: []string{"a", "", "c"}, Clock: Clock{Wall: 2, Peer: "q"}},
	}}
	comments := minimal
	comments.Seq = 1<<64 - 1
	comments.Sent = -1
	comments.Replica = Replica{Comments: []Comment{
		{ID: "p/1", Body: ""},
		{ID: "p/2", Author: "x", Body: "y", Created: 3, Internal: true, Clock: Clock{Wall: 9, Logical: 2, Peer: "p"}},
	}}
	sets := minimal
	sets.Replica = Replica{Fields: map[string]Value{
		FieldLabels: {L: []string{"a"}, E: map[string]Elem{"a": {Clock: Clock{Wall: 3, Peer: "q"}}, "b": {Del: true, Clock: Clock{Wall: 4, Logical: 1, Peer: "p"}}}, Clock: Clock{Wall: 4, Peer: "q"}},
	}}
	member := minimal
	member.Op, member.Net, member.Member, member.MemberName = OpMember, "n1", "p2", "bob"
	member.MemberAddrs = []string{"/ip4/10.0.0.2/tcp/4001", "/ip4/10.0.0.2/udp/4001/quic-v1"}
	member.Replica = Replica{Fields: map[string]Value{MemberState: {S: MemberJoined, Clock: Clock{Wall: 5, Peer: "p"}}}}
	tests := []struct {
		name string
		e    Event
	}{
		{"minimal", minimal},
		{"label set with a tombstone", sets},
		{"membership event", member},
		{"unicode and edge values", unicode},
		{"list field", lists},
		{"comments and extreme numbers", comments},
		{"typical 1 KiB event", sampleEvent()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustMarshalEvent(t, tt.e)
			got, err := UnmarshalEvent(b)
			if err != nil {
				t.Fatalf("UnmarshalEvent: %v", err)
			}
			if !reflect.DeepEqual(got, tt.e) {
				t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", got, tt.e)
			}
			again := mustMarshalEvent(t, got)
			if !bytes.Equal(again, b) {
				t.Fatalf("encoding is not deterministic:\n%x\n%x", b, again)
			}
		})
	}
}

// fill sets every field of v, recursively, to a distinct non-zero value,
// so that a field added to the message types but not to the codec shows.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n) * -1000003)
	case reflect.Uint8:
		v.SetUint(uint64(1 + *n%3)) // a valid Result
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n) * 1000003)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			fill(e, n)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	default:
		panic("fill: add a case for " + v.Kind().String())
	}
}

// compactMarshal encodes v with the msgpack library as this package does:
// shortest integers and map keys sorted (a Value's set elements; field
// names too, but the library's key order for a struct is its field order).
// With at most one map entry in a Replica the bytes must then be equal to
// ours.
func compactMarshal(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCodecMatchesMsgpackLibrary: the hand-written codec writes and reads
// what github.com/vmihailenco/msgpack/v5 writes and reads for the tagged
// structs, for every field they have.
func TestCodecMatchesMsgpackLibrary(t *testing.T) {
	var full Event
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	full.V = Version
	full.Op = OpLink // the one string with a fixed set of values
	for i := range full.Replica.Attachments {
		// A size is not negative and a digest is a SHA-256.
		a := &full.Replica.Attachments[i]
		a.Size = -a.Size * 1000
		a.Digest = strings.Repeat(fmt.Sprintf("%x", i+10), 64)
	}
	oneField := full
	v := full.Replica.Fields[slices.Collect(maps.Keys(full.Replica.Fields))[0]]
	// The library writes map keys in Go's random map order for maps of
	// structs, even with SetSortMapKeys: keep one element too, so that the
	// bytes can be compared.
	first := slices.Sorted(maps.Keys(v.E))[0]
	v.E = map[string]Elem{first: v.E[first]}
	oneField.Replica.Fields = map[string]Value{"summary": v}
	events := []Event{
		full, oneField, sampleEvent(),
		{V: Version, ID: "e", Twin: "t", Origin: "p"},
		{V: Version, ID: "e", Twin: "t", Origin: "p", Sent: -40, Changed: -41, Replica: Replica{Comments: []Comment{{ID: "c", Created: -70000, Clock: Clock{Wall: -1 << 40}}}}},
	}
	for i, e := range events {
		ours := mustMarshalEvent(t, e)
		var viaLib Event
		if err := msgpack.Unmarshal(ours, &viaLib); err != nil || !reflect.DeepEqual(viaLib, e) {
			t.Errorf("event %d: msgpack reads our bytes as %+v (%v), want %+v", i, viaLib, err, e)
		}
		got, err := UnmarshalEvent(rawMarshal(t, e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("event %d: we read msgpack's bytes as %+v (%v), want %+v", i, got, err, e)
		}
		if len(e.Replica.Fields) <= 1 {
			if lib := compactMarshal(t, e); !bytes.Equal(ours, lib) {
				t.Errorf("event %d: we write\n%x\nmsgpack writes\n%x", i, ours, lib)
			}
		}
	}

	var acks Acks
	n = 0
	fill(reflect.ValueOf(&acks).Elem(), &n)
	acks.V = Version
	for i, a := range []Acks{acks, {V: Version}, {V: Version, Items: []Ack{}}} {
		ours, err := MarshalAcks(&a)
		if err != nil {
			t.Fatal(err)
		}
		if lib := compactMarshal(t, a); !bytes.Equal(ours, lib) {
			t.Errorf("acks %d: we write\n%x\nmsgpack writes\n%x", i, ours, lib)
		}
		got, err := UnmarshalAcks(rawMarshal(t, a))
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("acks %d: we read msgpack's bytes as %+v (%v), want %+v", i, got, err, a)
		}
	}
}

func TestSampleEventSize(t *testing.T) {
	b := mustMarshalEvent(t, sampleEvent())
	t.Logf("sample event: %d bytes", len(b))
	if len(b) < 900 || len(b) > 1200 {
		t.Fatalf("sample event encodes to %d bytes, want 900 to 1200 (about 1 KiB) for the benchmarks", len(b))
	}
}

func TestAcksRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		a    Acks
	}{
		{"empty", Acks{V: Version}},
		{"one of each", Acks{V: Version, Items: []Ack{
			{Seq: 1, EventID: "e1", Twin: "t1", Result: ResultApplied, LocalKey: "RM-123"},
			{Seq: 2, EventID: "e2", Twin: "t1", Result: ResultSkipped},
			{Seq: 1<<64 - 1, EventID: "e3", Twin: "t2", Result: ResultFailed, Error: "redmine: 422 status is invalid"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := MarshalAcks(&tt.a)
			if err != nil {
				t.Fatalf("MarshalAcks: %v", err)
			}
			got, err := UnmarshalAcks(b)
			if err != nil {
				t.Fatalf("UnmarshalAcks: %v", err)
			}
			if !reflect.DeepEqual(got, tt.a) {
				t.Fatalf("round trip changed the acks:\n got %+v\nwant %+v", got, tt.a)
			}
		})
	}
}

func TestVersionRefused(t *testing.T) {
	// A future version 2 may change the shape of everything but "v".
	type futureEvent struct {
		V       int            `msgpack:"v"`
		Replica string         `msgpack:"r"`
		Extra   map[string]int `msgpack:"x"`
	}
	type noVersion struct {
		ID string `msgpack:"id"`
	}
	tests := []struct {
		name    string
		msg     any
		wantErr error
		wantMsg string
	}{
		{"version 2", Event{V: 2, ID: "e", Twin: "t", Origin: "p"}, ErrVersion, "message version 2, this node speaks 1"},
		{"version 2 with another shape", futureEvent{V: 2, Replica: "new", Extra: map[string]int{"a": 1}}, ErrVersion, "message version 2, this node speaks 1"},
		{"version 300", Event{V: 300, ID: "e", Twin: "t", Origin: "p"}, ErrVersion, "message version 300"},
		{"negative version", Event{V: -1, ID: "e", Twin: "t", Origin: "p"}, ErrVersion, "message version -1"},
		{"huge version", map[string]uint64{"v": 1 << 63}, ErrVersion, "out of range"},
		{"version 0", Event{ID: "e", Twin: "t", Origin: "p"}, ErrMalformed, "version 0"},
		{"no version", noVersion{ID: "e"}, ErrMalformed, "no version"},
		{"version is a string", map[string]string{"v": "1"}, ErrMalformed, "no version"},
		{"not a map", []int{1, 2}, ErrMalformed, "no version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rawMarshal(t, tt.msg)
			_, err := UnmarshalEvent(b)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("UnmarshalEvent: %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
			_, err = UnmarshalAcks(b)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("UnmarshalAcks: %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

func TestUnknownFieldsIgnored(t *testing.T) {
	// What a later minor revision might send: extra fields at every level,
	// including nested structures the decoder has to skip.
	type clockPlus struct {
		Wall    int64  `msgpack:"w"`
		Logical uint32 `msgpack:"l"`
		Peer    string `msgpack:"p"`
		Zone    string `msgpack:"z"`
	}
	type valuePlus struct {
		S     string    `msgpack:"s,omitempty"`
		Clock clockPlus `msgpack:"c"`
		Kind  int       `msgpack:"k"`
	}
	type commentPlus struct {
		ID      string           `msgpack:"id"`
		Body    string           `msgpack:"b"`
		Clock   clockPlus        `msgpack:"c"`
		Mention []map[string]any `msgpack:"mention"`
	}
	type replicaPlus struct {
		Fields      map[string]valuePlus `msgpack:"f"`
		Comments    []commentPlus        `msgpack:"m"`
		Attachments []map[string]any     `msgpack:"att"`
	}
	type eventPlus struct {
		V        int         `msgpack:"v"`
		ID       string      `msgpack:"id"`
		Twin     string      `msgpack:"twin"`
		Origin   string      `msgpack:"o"`
		Seq      uint64      `msgpack:"seq"`
		Replica  replicaPlus `msgpack:"r"`
		Priority float64     `msgpack:"prio"`
		Trace    []byte      `msgpack:"trace"`
		When     time.Time   `msgpack:"when"`
		Nested   any         `msgpack:"nested"`
	}
	clk := clockPlus{Wall: 5, Logical: 1, Peer: "p", Zone: "UTC"}
	in := eventPlus{
		V: Version, ID: "e", Twin: "t", Origin: "p", Seq: 9,
		Replica: replicaPlus{
			Fields:      map[string]valuePlus{"summary": {S: "hello", Clock: clk, Kind: 3}},
			Comments:    []commentPlus{{ID: "p/1", Body: "hi", Clock: clk, Mention: []map[string]any{{"who": "bob", "at": []int{1, 2}}}}},
			Attachments: []map[string]any{{"name": "log.txt", "size": 12, "data": []byte{1, 2, 3}}},
		},
		Priority: 0.5,
		Trace:    []byte("abc"),
		When:     time.Unix(1_700_000_000, 5),
		Nested:   map[string]any{"a": []any{map[string]any{"b": []any{1, "two", nil, true}}}},
	}
	got, err := UnmarshalEvent(rawMarshal(t, in))
	if err != nil {
		t.Fatalf("UnmarshalEvent: %v", err)
	}
	want := Event{
		V: Version, ID: "e", Twin: "t", Origin: "p", Seq: 9,
		Replica: Replica{
			Fields:   map[string]Value{"summary": {S: "hello", Clock: Clock{Wall: 5, Logical: 1, Peer: "p"}}},
			Comments: []Comment{{ID: "p/1", Body: "hi", Clock: Clock{Wall: 5, Logical: 1, Peer: "p"}}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	type ackPlus struct {
		EventID string `msgpack:"id"`
		Twin    string `msgpack:"twin"`
		Result  Result `msgpack:"res"`
		Retry   int    `msgpack:"retry"`
	}
	type acksPlus struct {
		V     int       `msgpack:"v"`
		Items []ackPlus `msgpack:"a"`
		Node  string    `msgpack:"node"`
	}
	acks, err := UnmarshalAcks(rawMarshal(t, acksPlus{V: Version, Items: []ackPlus{{EventID: "e", Twin: "t", Result: ResultSkipped, Retry: 2}}, Node: "n"}))
	if err != nil {
		t.Fatalf("UnmarshalAcks: %v", err)
	}
	if wantAcks := (Acks{V: Version, Items: []Ack{{EventID: "e", Twin: "t", Result: ResultSkipped}}}); !reflect.DeepEqual(acks, wantAcks) {
		t.Fatalf("got %+v\nwant %+v", acks, wantAcks)
	}
}

func TestEventValidation(t *testing.T) {
	valid := func(edit func(*Event)) Event {
		e := Event{V: Version, ID: "e", Twin: "t", Origin: "p"}
		edit(&e)
		return e
	}
	manyFields := make(map[string]Value, MaxFields+1)
	for i := range MaxFields + 1 {
		manyFields[strings.Repeat("f", i+1)[:min(i+1, 200)]+string(rune('a'+i%26))+string(rune('a'+i/26))] = Value{}
	}
	tests := []struct {
		name    string
		e       Event
		wantMsg string
	}{
		{"empty event ID", valid(func(e *Event) { e.ID = "" }), "event ID is empty"},
		{"long event ID", valid(func(e *Event) { e.ID = strings.Repeat("x", MaxIDLen+1) }), "event ID of 257 bytes exceeds the 256-byte limit"},
		{"empty twin", valid(func(e *Event) { e.Twin = "" }), "twin ID is empty"},
		{"long twin", valid(func(e *Event) { e.Twin = strings.Repeat("x", MaxIDLen+1) }), "twin ID of 257 bytes"},
		{"empty origin", valid(func(e *Event) { e.Origin = "" }), "origin peer ID is empty"},
		{"long origin", valid(func(e *Event) { e.Origin = strings.Repeat("x", MaxIDLen+1) }), "origin peer ID of 257 bytes"},
		{"too many fields", valid(func(e *Event) { e.Replica.Fields = manyFields }), "257 fields, the limit is 256"},
		{"empty field name", valid(func(e *Event) { e.Replica.Set("", Value{S: "x"}) }), "field name is empty"},
		{"long field name", valid(func(e *Event) { e.Replica.Set(strings.Repeat("n", MaxIDLen+1), Value{}) }), "field name of 257 bytes"},
		{"comment without ID", valid(func(e *Event) { e.Replica.Comments = []Comment{{ID: "p/1"}, {Body: "x"}} }), "comment 2 of 2 has no ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UnmarshalEvent(rawMarshal(t, tt.e))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("UnmarshalEvent: %v, want ErrMalformed mentioning %q", err, tt.wantMsg)
			}
			if _, err := MarshalEvent(&tt.e); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("MarshalEvent: %v, want ErrMalformed mentioning %q", err, tt.wantMsg)
			}
		})
	}
}

func TestMarshalRefusesWhatPeersWouldRefuse(t *testing.T) {
	base := Event{V: Version, ID: "e", Twin: "t", Origin: "p"}
	tests := []struct {
		name    string
		edit    func(*Event)
		wantErr error
	}{
		{"version not set", func(e *Event) { e.V = 0 }, ErrMalformed},
		{"other version", func(e *Event) { e.V = 2 }, ErrVersion},
		{"string over the limit", func(e *Event) { e.Replica.Set("description", Value{S: strings.Repeat("x", MaxStringLen+1)}) }, ErrMalformed},
		{"list over the limit", func(e *Event) { e.Replica.Set("labels", Value{L: make([]string, MaxListLen+1)}) }, ErrMalformed},
		{"too many comments", func(e *Event) {
			e.Replica.Comments = make([]Comment, MaxListLen+1)
			for i := range e.Replica.Comments {
				e.Replica.Comments[i].ID = "c"
			}
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.edit(&e)
			if _, err := MarshalEvent(&e); !errors.Is(err, tt.wantErr) {
				t.Fatalf("MarshalEvent: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestAcksValidation(t *testing.T) {
	tests := []struct {
		name    string
		item    Ack
		wantMsg string
	}{
		{"result 0", Ack{EventID: "e", Twin: "t"}, "has result 0, want 1 (applied), 2 (skipped) or 3 (failed)"},
		{"result 4", Ack{EventID: "e", Twin: "t", Result: 4}, "has result 4"},
		{"no twin", Ack{EventID: "e", Result: ResultApplied}, "has no twin ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Acks{V: Version, Items: []Ack{{EventID: "ok", Twin: "t", Result: ResultApplied}, tt.item}}
			_, err := UnmarshalAcks(rawMarshal(t, a))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "item 2") || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("UnmarshalAcks: %v, want ErrMalformed about item 2 mentioning %q", err, tt.wantMsg)
			}
			if _, err := MarshalAcks(&a); !errors.Is(err, ErrMalformed) {
				t.Errorf("MarshalAcks: %v, want ErrMalformed", err)
			}
		})
	}
}

// header returns an event map header with the given number of entries,
// followed by a valid version entry, so that malformed input tests reach the
// part they are about.
func versioned(entries byte, rest ...byte) []byte {
	return append([]byte{0x80 | entries, 0xa1, 'v', 0x01}, rest...)
}

func TestMalformedInputRefusedFast(t *testing.T) {
	valid := mustMarshalEvent(t, sampleEvent())
	deep := func(n int, open byte) []byte {
		b := versioned(2, 0xa1, 'x')
		for range n {
			b = append(b, open)
			if open == 0x81 {
				b = append(b, 0xa1, 'k')
			}
		}
		return append(b, 0xc0)
	}
	bigString := versioned(2, 0xa1, 'x', 0xdb, 0x00, 0x10, 0x00, 0x01) // str32 of 1 MiB + 1
	bigString = append(bigString, make([]byte, MaxStringLen+1)...)
	tests := []struct {
		name    string
		b       []byte
		wantMsg string
	}{
		{"empty", nil, "message ends where a value should start"},
		{"reserved byte", versioned(2, 0xa1, 'x', 0xc1), "byte 0xc1 is not valid msgpack"},
		{"deep arrays, 100k levels", deep(100_000, 0x91), "nesting deeper than 16 levels"},
		{"deep maps, 100k levels", deep(100_000, 0x81), "nesting deeper than 16 levels"},
		{"17 levels in an unknown field", deep(16, 0x91), "nesting deeper than 16 levels"},
		{"str32 declaring 4 GiB", versioned(2, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff), "value of 4294967295 bytes exceeds the 1048576-byte limit"},
		{"bin32 declaring 4 GiB", versioned(2, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xff), "exceeds the 1048576-byte limit"},
		{"ext32 declaring 4 GiB", versioned(2, 0xa1, 'x', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x05), "exceeds the 1048576-byte limit"},
		{"string over the limit, all bytes present", bigString, "value of 1048577 bytes exceeds"},
		{"string past the end", versioned(2, 0xa1, 'x', 0xd9, 0x20, 'a'), "value of 32 bytes runs past the end"},
		{"array32 declaring 4G entries", versioned(2, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff), "array of 4294967295 entries exceeds the 10000-entry limit"},
		{"map32 declaring 4G entries", versioned(2, 0xa1, 'x', 0xdf, 0xff, 0xff, 0xff, 0xff), "map of 4294967295 entries exceeds the 10000-entry limit"},
		{"array longer than the bytes left", versioned(2, 0xa1, 'x', 0xdc, 0x27, 0x10, 0x01, 0x02), "array of 10000 entries cannot fit in the 2 bytes left"},
		{"map longer than the bytes left", versioned(2, 0xa1, 'x', 0x85, 0xa1, 'a', 0x01), "map of 5 entries cannot fit in the 3 bytes left"},
		{"cut inside a length field", versioned(2, 0xa1, 'x', 0xda, 0x01), "message ends inside a length field"},
		{"cut inside a number", versioned(2, 0xa1, 'x', 0xcf, 0x01), "value of 8 bytes runs past the end"},
		{"trailing byte", append(bytes.Clone(valid), 0x00), "1 unexpected bytes after the message"},
		{"two messages", append(bytes.Clone(valid), valid...), "unexpected bytes after the message"},
		{"truncated valid event", valid[:len(valid)-1], "runs past the end"},
		{"map with a missing value", versioned(2, 0xa1, 'x'), "message ends where a value should start"},
		{"wrong type for a field", versioned(3, 0xa2, 'i', 'd', 0x05, 0xa1, 'a', 0x05), `"id": at byte 7: expected a string, found an integer`},
		{"non-string map key", versioned(2, 0x05, 0x05), "key: at byte 4: expected a string, found an integer"},
		{"known key twice", versioned(3, 0xa1, 'o', 0xa1, 'p', 0xa1, 'o', 0xa1, 'p'), `event key "o" appears twice`},
		{"nested wrong type", versioned(2, 0xa1, 'r', 0x81, 0xa1, 'f', 0x81, 0xa1, 's', 0x81, 0xa1, 'c', 0x81, 0xa1, 'w', 0xa1, 'x'),
			`"r": "f": field "s": "c": "w": at byte 18: expected an integer, found a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := UnmarshalEvent(tt.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("UnmarshalEvent: %v, want ErrMalformed mentioning %q", err, tt.wantMsg)
			}
			// Structural faults are refused whatever the message kind.
			if _, err := UnmarshalAcks(tt.b); !errors.Is(err, ErrMalformed) && !strings.Contains(tt.name, "key") && !strings.Contains(tt.name, "type") {
				t.Errorf("UnmarshalAcks: %v, want ErrMalformed", err)
			}
			if d := time.Since(start); d > 10*time.Second { // not a speed check: a hang or a huge allocation
				t.Errorf("refusing took %v", d)
			}
		})
	}
}

func TestMalformedErrorNamesTheOffset(t *testing.T) {
	b := versioned(2, 0xa1, 'x', 0xc1)
	_, err := UnmarshalEvent(b)
	if want := "event: at byte 6: byte 0xc1 is not valid msgpack: malformed message"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestPrescanAcceptsWhatMsgpackWrites(t *testing.T) {
	values := []any{
		nil, true, false, 0, 1, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, 1 << 32, -1 << 40, uint64(1<<64 - 1),
		float32(1.5), 2.25, "", "a", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 255),
		strings.Repeat("s", 256), strings.Repeat("s", 65536), []byte{}, []byte{1}, bytes.Repeat([]byte{7}, 300),
		bytes.Repeat([]byte{7}, 70000), []int{}, make([]int, 15), make([]int, 16), make([]int, 70000/8),
		map[string]int{}, map[string]int{"a": 1}, time.Unix(1, 0), time.Unix(1<<33, 1), time.Unix(1, 1),
		map[string]any{"deep": []any{[]any{[]any{map[string]any{"x": []byte("y")}}}}},
	}
	for _, v := range values {
		b := rawMarshal(t, map[string]any{"v": 1, "x": v})
		if _, err := prescan(b); err != nil {
			t.Errorf("prescan refused msgpack's encoding of %T %.40v: %v", v, v, err)
		}
	}
	for depth := 1; depth <= MaxDepth; depth++ {
		b := bytes.Repeat([]byte{0x91}, depth)
		b = append(b, 0xc0)
		if _, err := prescan(b); err != nil {
			t.Errorf("depth %d: %v", depth, err)
		}
	}
}

func TestVersionFoundAmongOtherKeys(t *testing.T) {
	// "v" is found whatever its position, its integer encoding or the
	// nesting of what precedes it; a nested "v" is not the version.
	tests := []struct {
		name string
		msg  any
		want version
	}{
		{"first", map[string]any{"v": 1}, version{found: true, n: 1}},
		{"after nested v", map[string]any{"a": map[string]int{"v": 9}, "v": int64(1)}, version{found: true, n: 1}},
		{"uint16", map[string]any{"v": uint16(300)}, version{found: true, n: 300}},
		{"int32 negative", map[string]any{"v": int32(-70000)}, version{found: true, n: -70000}},
		{"nested only", map[string]any{"a": map[string]int{"v": 9}}, version{}},
		{"value equals v", map[string]any{"a": "v", "b": 1}, version{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := msgpack.GetEncoder()
			var buf bytes.Buffer
			enc.Reset(&buf)
			enc.SetSortMapKeys(true)
			if err := enc.Encode(tt.msg); err != nil {
				t.Fatal(err)
			}
			msgpack.PutEncoder(enc)
			got, err := prescan(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
