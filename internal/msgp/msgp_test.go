package msgp

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The writers give the shortest form, which the library reads back as the
// same value.
func TestAppendAgreesWithLibrary(t *testing.T) {
	for _, n := range []int64{0, 1, 0x7f, 0x80, 0xff, 0x100, math.MaxUint16, math.MaxUint16 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, math.MinInt8, math.MinInt8 - 1, math.MinInt16, math.MinInt16 - 1, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		b := AppendInt(nil, n)
		var got int64
		if err := msgpack.Unmarshal(b, &got); err != nil || got != n {
			t.Fatalf("AppendInt(%d) = %x, the library reads %d, %v", n, b, got, err)
		}
		r := NewReader(b)
		u, neg, err := r.Integer()
		if err != nil || int64(u) != n || neg != (n < 0) || r.Left() != 0 {
			t.Fatalf("Integer of %x = %d, %v, %v (left %d), want %d", b, int64(u), neg, err, r.Left(), n)
		}
	}
	for _, n := range []int{0, 15, 16, 31, 32, 255, 256, math.MaxUint16, math.MaxUint16 + 1} {
		s := strings.Repeat("x", n)
		b := AppendStr(nil, s)
		var got string
		if err := msgpack.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("AppendStr of %d bytes: the library reads %d bytes, %v", n, len(got), err)
		}
		r := NewReader(b)
		if p, err := r.RawStr(); err != nil || !bytes.Equal(p, []byte(s)) {
			t.Fatalf("RawStr of %d bytes: %d, %v", n, len(p), err)
		}
		for _, isMap := range []bool{true, false} {
			var h []byte
			if isMap {
				h = AppendMapLen(nil, n)
			} else {
				h = AppendArrayLen(nil, n)
			}
			r := NewReader(append(h, make([]byte, 2*n)...))
			if got, err := r.Container(isMap); err != nil || got != n {
				t.Fatalf("Container(map %v) of %d = %d, %v", isMap, n, got, err)
			}
		}
	}
}

func TestReaderRefuses(t *testing.T) {
	kind := errors.New("bad wire data")
	for _, tc := range []struct {
		name string
		b    []byte
		read func(*Reader) error
		want string
	}{
		{"empty", nil, func(r *Reader) error { _, err := r.Str(); return err }, "at byte 0: message ends where a value should start"},
		{"string past the end", []byte{0xa5, 'a'}, func(r *Reader) error { _, err := r.Str(); return err }, "at byte 1: value of 5 bytes runs past the end of the message"},
		{"string over MaxStr", []byte{0xa5, 'a', 'b', 'c', 'd', 'e'}, func(r *Reader) error { r.MaxStr = 4; _, err := r.Str(); return err }, "string of 5 bytes exceeds the 4-byte limit"},
		{"wrong type", []byte{0x05}, func(r *Reader) error { _, err := r.Str(); return err }, "at byte 0: expected a string, found an integer"},
		{"map that cannot fit", []byte{0x85, 0x01}, func(r *Reader) error { _, err := r.Container(true); return err }, "5 entries cannot fit in the 1 bytes left"},
		{"array over MaxLen", []byte{0x93, 1, 2, 3}, func(r *Reader) error { r.MaxLen = 2; _, err := r.Container(false); return err }, "3 entries exceed the 2-entry limit"},
		{"not a boolean", []byte{0xa0}, func(r *Reader) error { _, err := r.Bool(); return err }, "expected a boolean, found a string"},
		{"invalid byte in skip", []byte{0x91, 0xc1}, func(r *Reader) error { return r.Skip() }, "at byte 1: byte 0xc1 is not valid msgpack"},
		{"skip of a map that cannot fit", []byte{0xdf, 0, 0, 0, 9}, func(r *Reader) error { return r.Skip() }, "18 entries cannot fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.b)
			r.Malformed = kind
			err := tc.read(&r)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, kind) {
				t.Fatalf("got %v, want an error containing %q wrapping %v", err, tc.want, kind)
			}
		})
	}
}

// Skip passes over nested values and extensions exactly.
func TestSkip(t *testing.T) {
	v := map[string]any{"a": []any{1, "x", map[string]any{"b": true}}, "c": 1.5, "d": nil, "e": []byte{1, 2}}
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, 0xd6, 0xff, 1, 2, 3, 4) // a fixext4 after it
	r := NewReader(b)
	if err := r.Skip(); err != nil || r.Left() != 6 {
		t.Fatalf("Skip = %v, %d bytes left, want 6", err, r.Left())
	}
	if err := r.Skip(); err != nil || r.Left() != 0 {
		t.Fatalf("Skip of the extension = %v, %d bytes left, want 0", err, r.Left())
	}
}
