package replica

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type boundedMsg struct {
	V     int               `msgpack:"v"`
	Names []string          `msgpack:"names"`
	Marks map[string]uint64 `msgpack:"marks"`
}

// TestUnmarshalBounds: the bounded decoder reads what msgpack writes and
// refuses nesting past MaxDepth, declared lengths the bytes cannot hold,
// trailing bytes, and messages that would allocate far more than their size.
func TestUnmarshalBounds(t *testing.T) {
	want := boundedMsg{V: 1, Names: []string{"a", "b"}, Marks: map[string]uint64{"p": 7}}
	var got boundedMsg
	if err := Unmarshal(rawMarshal(t, want), &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	nils := append([]byte{0x81, 0xa5, 'n', 'a', 'm', 'e', 's', 0xdd, 0, 0, 0x27, 0x10}, bytes.Repeat([]byte{0xc0}, 10000)...)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"nested", append(append([]byte{0x81, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 1<<16)...), 0xc0), "nesting deeper than 16 levels"},
		{"array longer than the bytes", []byte{0x81, 0xa1, 'x', 0xdd, 0, 0, 0x27, 0x10, 0xc0}, "cannot fit"},
		{"string over the limit", []byte{0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff}, "exceeds the"},
		{"trailing bytes", append(rawMarshal(t, want), 0xc0), "unexpected bytes"},
		{"allocation budget", nils, "budget"},
		{"wrong type", rawMarshal(t, map[string]any{"v": "one"}), "msgpack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m boundedMsg
			err := Unmarshal(tt.b, &m)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrMalformed with %q", err, tt.want)
			}
		})
	}
}
