package replica

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

const (
	peerA = "12D3KooWA1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZaBcDeFgH"
	peerB = "12D3KooWB1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZaBcDeFgH"
)

// sampleEvent is a typical event of about 1 KiB on the wire: the default
// fields, a few labels and two comments.
func sampleEvent() Event {
	clk := func(ms int64, l uint32) Clock { return Clock{Wall: 1_750_000_000_000 + ms, Logical: l, Peer: peerA} }
	return Event{
		V:         Version,
		ID:        "01JD8X5K3M9V7Q2W4E6R8T0Y1U",
		Twin:      "01JD8X5K3M9V7Q2W4E6R8T0Y1V",
		Origin:    peerA,
		Seq:       4711,
		SourceKey: "LOCAL-7",
		Sent:      1_750_000_000_123_456_789,
		Replica: Replica{
			Fields: map[string]Value{
				FieldSummary:     {S: "Login page returns 500 after password reset", Clock: clk(1, 0)},
				FieldDescription: {S: "Steps: reset the password, log in, see the error.", Clock: clk(2, 0)},
				FieldStatus:      {S: "In Progress", Clock: clk(3, 0)},
				FieldPriority:    {S: "High", Clock: clk(3, 1)},
				FieldLabels:      {L: []string{"bug", "auth", "regression"}, Clock: clk(4, 0)},
			},
			Comments: []Comment{
				{ID: peerA + "/1001", Author: "alice", Body: "Reproduced on staging.", Created: 1_750_000_000_010, Clock: clk(10, 0)},
				{ID: peerB + "/88", Author: "bob", Body: "Trace points at the session store.", Created: 1_750_000_000_020, Internal: true, Clock: Clock{Wall: 1_750_000_000_020, Peer: peerB}},
			},
		},
	}
}

// rawMarshal encodes v with plain msgpack, bypassing MarshalEvent's checks,
// to build messages a buggy or hostile peer could send.
func rawMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatalf("msgpack.Marshal: %v", err)
	}
	return b
}

// mustMarshalEvent is MarshalEvent that fails the test on error.
func mustMarshalEvent(t testing.TB, e Event) []byte {
	t.Helper()
	b, err := MarshalEvent(&e)
	if err != nil {
		t.Fatalf("MarshalEvent: %v", err)
	}
	return b
}
