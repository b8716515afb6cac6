package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
)

// The shape rules test prints reads back to the same replica, clocks
// included; clocks read as people write them; unknown keys are named.
func TestReplicaJSONRoundTrip(t *testing.T) {
	c := replica.Clock{Wall: 1764787821123, Logical: 2, Peer: "12D3KooWPeer"}
	r := replica.Replica{
		Fields: map[string]replica.Value{
			"summary": {S: "Printer on fire", Clock: c},
			"labels":  {L: []string{"api"}, E: map[string]replica.Elem{"api": {Clock: c}, "db": {Del: true, Clock: c}}, Clock: c},
			"team":    {S: "ops", Clock: c},
			// the fields of issue 16: a person, a typed custom field
			replica.FieldAssignee:      {T: replica.KindUser, U: []replica.User{{Email: "ann@example.com", Name: "Ann"}}, Clock: c},
			replica.CustomField("Due"): {T: replica.KindDate, S: "2027-01-31", Clock: c},
		},
		Comments:    []replica.Comment{{ID: "12D3KooWPeer/7", Author: "Alice", Body: "Seen.", Created: 1764787821000, Clock: c}, {ID: "12D3KooWPeer/8", Body: "gone", Deleted: true, Clock: c}},
		Attachments: []replica.Attachment{{ID: "12D3KooWPeer/f1", Filename: "log.txt", Size: 3, Digest: strings.Repeat("a", 64), Clock: c}},
	}
	b, err := json.Marshal(ReplicaToJSON(r))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"clock":"2025-12-03T18:50:21.123Z+2@12D3KooWPeer"`) {
		t.Fatalf("clocks are not readable: %s", b)
	}
	got, err := ParseReplicaJSON(b, replica.Clock{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("read back:\n%+v\nwant\n%+v", got, r)
	}
	now := replica.Clock{Wall: 5, Peer: "p"}
	for in, want := range map[string]replica.Clock{
		`{"fields":{"s":{"value":"x"}}}`:                                      now,
		`{"fields":{"s":{"value":"x","clock":"2025-12-03T18:50:21Z"}}}`:       {Wall: 1764787821000},
		`{"fields":{"s":{"value":"x","clock":"2025-12-03T18:50:21.5Z+3@q"}}}`: {Wall: 1764787821500, Logical: 3, Peer: "q"},
	} {
		got, err := ParseReplicaJSON([]byte(in), now)
		if err != nil || got.Fields["s"].Clock != want {
			t.Errorf("%s: clock %v, %v; want %v", in, got.Fields["s"].Clock, err, want)
		}
	}
	for in, want := range map[string]string{
		`{"Fields":{}}`: `unknown key "Fields" in the replica`,
		`{"fields":{"s":{"value":"x","colck":"now"}}}`:     `unknown key "colck" in fields.s`,
		`{"comments":[{"id":"p/1","bdy":"x"}]}`:            `unknown key "bdy" in comments[0]`,
		`{"fields":{"l":{"elements":{"a":{"del":true}}}}}`: `unknown key "del" in fields.l.elements.a`,
		`{"fields":{"s":{"value":"x","clock":"today"}}}`:   `fields.s.clock: "today" is not a clock`,
		`{"fields":{"s":{"value":3}}}`:                     `fields.s.value`,
	} {
		if _, err := ParseReplicaJSON([]byte(in), now); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error with %q", in, err, want)
		}
	}
}
