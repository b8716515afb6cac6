package replica

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// mutations derives damaged variants of a valid message: cut short, one
// byte flipped, a byte dropped, a byte inserted, garbage appended.
func mutations(b []byte) [][]byte {
	var out [][]byte
	for _, n := range []int{0, 1, len(b) / 3, len(b) / 2, len(b) - 1} {
		out = append(out, bytes.Clone(b[:n]))
	}
	for _, i := range []int{0, 1, 5, len(b) / 2, len(b) - 1} {
		flipped := bytes.Clone(b)
		flipped[i] ^= 0xff
		out = append(out, flipped)
		out = append(out, append(bytes.Clone(b[:i]), b[i+1:]...))
		out = append(out, append(append(bytes.Clone(b[:i]), 0xdd), b[i:]...))
	}
	return append(out, append(bytes.Clone(b), 0xc0))
}

func eventSeeds(t testing.TB) [][]byte {
	small := Event{V: Version, ID: "e", Twin: "t", Origin: "p", Replica: Replica{
		Fields:      map[string]Value{FieldLabels: {L: []string{"a", "b"}, Clock: Clock{Wall: 1, Peer: "p"}}},
		Comments:    []Comment{{ID: "p/1", Body: "x", Clock: Clock{Wall: 1, Peer: "p"}}},
		Attachments: []Attachment{{ID: "p/2", Filename: "f", Size: 3, Digest: strings.Repeat("0", 64), Clock: Clock{Wall: 1, Peer: "p"}}},
	}}
	v2 := small
	v2.V = 2
	seeds := [][]byte{
		mustMarshalEvent(t, sampleEvent()),
		mustMarshalEvent(t, small),
		mustMarshalEvent(t, Event{V: Version, ID: "e", Twin: "t", Origin: "p", Replica: fullIssue()}),
		mustMarshalEvent(t, Event{V: Version, ID: "e", Twin: "t", Origin: "p"}),
		rawMarshal(t, v2),
		rawMarshal(t, map[string]any{"v": 1, "id": "e", "twin": "t", "o": "p", "x": []any{map[string]any{"y": []byte{1}}}}),
		versioned(2, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff),
		append(versioned(2, 0xa1, 'x'), bytes.Repeat([]byte{0x91}, 40)...),
	}
	for _, b := range seeds[:3] {
		seeds = append(seeds, mutations(b)...)
	}
	return seeds
}

func FuzzUnmarshalEvent(f *testing.F) {
	for _, b := range eventSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The decoder must hold on its own, without the pre-scan in front.
		var raw Event
		r := newReader(b)
		_ = decodeEvent(&r, &raw)

		e, err := UnmarshalEvent(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrVersion: %v", err)
			}
			return
		}
		// The msgpack library must read what was accepted the same way.
		var lib Event
		if err := msgpack.Unmarshal(b, &lib); err != nil || !reflect.DeepEqual(lib, e) {
			t.Fatalf("msgpack reads the accepted event differently (%v):\nlib  %+v\nours %+v", err, lib, e)
		}
		// What was accepted must encode, and its encoding must decode to
		// the same values and encode again to the same bytes.
		b1, err := MarshalEvent(&e)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		e1, err := UnmarshalEvent(b1)
		if err != nil {
			t.Fatalf("re-encoded event is refused: %v", err)
		}
		if e.V != e1.V || e.ID != e1.ID || e.Twin != e1.Twin || e.Origin != e1.Origin || e.Seq != e1.Seq ||
			e.SourceKey != e1.SourceKey || e.Sent != e1.Sent || !SameValues(e.Replica, e1.Replica) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, e1)
		}
		if b2 := mustMarshalEvent(t, e1); !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", b1, b2)
		}
	})
}

func FuzzUnmarshalAcks(f *testing.F) {
	valid := []Acks{
		{V: Version},
		{V: Version, Items: []Ack{
			{Seq: 1, EventID: "e1", Twin: "t", Result: ResultApplied, LocalKey: "RM-1"},
			{Seq: 2, EventID: "e2", Twin: "t", Result: ResultFailed, Error: "tracker down"},
		}},
	}
	for _, a := range valid {
		b, err := MarshalAcks(&a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, m := range mutations(b) {
			f.Add(m)
		}
	}
	f.Add(rawMarshal(f, Acks{V: 2}))
	f.Add(rawMarshal(f, Acks{V: Version, Items: []Ack{{Twin: "t", Result: 9}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw Acks
		r := newReader(b)
		_ = decodeAcks(&r, &raw)

		a, err := UnmarshalAcks(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrVersion: %v", err)
			}
			return
		}
		var lib Acks
		if err := msgpack.Unmarshal(b, &lib); err != nil || !reflect.DeepEqual(lib, a) {
			t.Fatalf("msgpack reads the accepted acks differently (%v):\nlib  %+v\nours %+v", err, lib, a)
		}
		b1, err := MarshalAcks(&a)
		if err != nil {
			t.Fatalf("accepted acks do not encode: %v", err)
		}
		a1, err := UnmarshalAcks(b1)
		if err != nil {
			t.Fatalf("re-encoded acks are refused: %v", err)
		}
		if !reflect.DeepEqual(a, a1) {
			t.Fatalf("round trip changed the acks:\n%+v\n%+v", a, a1)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var stream bytes.Buffer
	for _, msg := range [][]byte{nil, []byte("a"), bytes.Repeat([]byte("b"), 200), mustMarshalEvent(f, sampleEvent())} {
		if err := WriteFrame(&stream, msg); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(stream.Bytes(), uint16(2048))
	for _, m := range mutations(stream.Bytes()) {
		f.Add(m, uint16(2048))
	}
	f.Add(stream.Bytes(), uint16(100))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint16(0))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, uint16(10))
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		limit := int(max)
		if limit == 0 {
			limit = 1 // keep 0 (the 4 MiB default) from letting the fuzzer allocate large frames
		}
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			msg, err := ReadFrame(r, limit)
			if err != nil {
				switch {
				case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF),
					errors.Is(err, ErrMalformed), errors.Is(err, ErrFrameTooLarge):
					return
				}
				t.Fatalf("unexpected error: %v", err)
			}
			if len(msg) > limit {
				t.Fatalf("frame of %d bytes passed a %d-byte limit", len(msg), limit)
			}
			var w bytes.Buffer
			if err := WriteFrame(&w, msg); err != nil {
				t.Fatal(err)
			}
			again, err := ReadFrame(bufio.NewReader(&w), limit)
			if err != nil || !bytes.Equal(again, msg) {
				t.Fatalf("frame does not round-trip: %v", err)
			}
		}
	})
}

// FuzzAttachMessages feeds the same bytes to both messages of the
// attachment protocol: an error wraps ErrMalformed or ErrVersion; what is
// accepted reads the same through the msgpack library and round-trips.
func FuzzAttachMessages(f *testing.F) {
	q := AttachRequest{V: Version, Twin: "t", ID: "p/2", Digest: strings.Repeat("0", 64)}
	qb, err := MarshalAttachRequest(&q)
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{qb, rawMarshal(f, AttachReply{V: Version, Size: 3}), rawMarshal(f, AttachReply{V: Version, Error: "gone"}),
		rawMarshal(f, AttachRequest{V: 2, Twin: "t"}), append(versioned(2, 0xa1, 'x'), bytes.Repeat([]byte{0x91}, 40)...)}
	for _, b := range seeds[:3] {
		seeds = append(seeds, mutations(b)...)
	}
	for _, b := range seeds {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzAttach(t, b, UnmarshalAttachRequest, MarshalAttachRequest)
		fuzzAttach(t, b, UnmarshalAttachReply, MarshalAttachReply)
	})
}

// fuzzAttach checks one attachment message type on b: an error wraps
// ErrMalformed or ErrVersion; what is accepted reads the same through the
// msgpack library, encodes, and decodes again to the same value.
func fuzzAttach[T comparable](t *testing.T, b []byte, dec func([]byte) (T, error), enc func(*T) ([]byte, error)) {
	m, err := dec(b)
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
			t.Fatalf("%T: error wraps neither ErrMalformed nor ErrVersion: %v", m, err)
		}
		return
	}
	var lib T
	if err := msgpack.Unmarshal(b, &lib); err != nil || lib != m {
		t.Fatalf("msgpack reads the accepted %T differently (%v): %+v, ours %+v", m, err, lib, m)
	}
	b1, err := enc(&m)
	if err != nil {
		t.Fatalf("accepted %T does not encode: %v", m, err)
	}
	if m1, err := dec(b1); err != nil || m1 != m {
		t.Fatalf("round trip changed the %T (%v): %+v, %+v", m, err, m, m1)
	}
}

// FuzzUnmarshal: the bounded decoder for reflection-decoded messages never
// panics, refuses with ErrMalformed, and accepts only what the pre-scan
// accepts.
func FuzzUnmarshal(f *testing.F) {
	for _, b := range eventSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		err := Unmarshal(b, &v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if _, err := prescan(b); err != nil {
			t.Fatalf("accepted what the pre-scan refuses: %v", err)
		}
	})
}
