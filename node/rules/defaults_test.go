package rules

import (
	"reflect"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

func TestDefaultOutgoingMatchesNode(t *testing.T) {
	s := mustCompile(t, "", "", testOptions())
	for name, is := range testIssues() {
		t.Run(name, func(t *testing.T) {
			got, skip, err := s.Outgoing(is)
			if err != nil || skip {
				t.Fatalf("Outgoing: skip=%v err=%v", skip, err)
			}
			if want := oracleOutgoing(testSelf, is); !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
			}
		})
	}
}

func TestDefaultIncomingMatchesNode(t *testing.T) {
	s := mustCompile(t, "", "", testOptions())
	t.Run("create", func(t *testing.T) {
		for name, m := range map[string]replica.Replica{
			"full":      mergedReplica(),
			"empty":     {},
			"no labels": {Fields: map[string]replica.Value{"summary": str("x")}},
		} {
			t.Run(name, func(t *testing.T) {
				res, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m)})
				if err != nil || res.Skip || res.Create == nil {
					t.Fatalf("Incoming: %+v, %v", res, err)
				}
				want := oracleIncomingCreate(testSelf, testPeerName, m, "")
				if !reflect.DeepEqual(*res.Create, want) {
					t.Errorf("got\n%s\nwant\n%s", jsonOf(t, res.Create), jsonOf(t, want))
				}
			})
		}
	})
	for name, c := range incomingCases() {
		t.Run(name, func(t *testing.T) {
			cur := c.cur
			res, err := s.Incoming(Incoming{Replica: c.merged, Changed: c.ch, Issue: &cur, Previous: c.previous()})
			if err != nil || res.Skip || res.Create != nil {
				t.Fatalf("Incoming: %+v, %v", res, err)
			}
			want := oracleIncomingPatch(testSelf, testPeerName, c.cur, c.merged, *c.previous(), c.ch)
			if !reflect.DeepEqual(res.Patch, want) {
				t.Errorf("got\n%s\nwant\n%s", jsonOf(t, res.Patch), jsonOf(t, want))
			}
		})
	}
}

// The Starlark versions of the defaults behave as the built-in ones, with
// and without maps. Added comments may come in another order.
func TestDefaultScriptsMatchDefaults(t *testing.T) {
	for mname, maps := range map[string][2]map[string]string{
		"no maps": {},
		"maps": {
			{"Resolved": "Done", "Open": "To Do"},
			{"High": "P1", "Low": "P3"},
		},
	} {
		t.Run(mname, func(t *testing.T) {
			o := testOptions()
			o.StatusMap, o.PriorityMap = maps[0], maps[1]
			def := mustCompile(t, "", "", o)
			scr := mustCompile(t, DefaultOutgoingScript, DefaultIncomingScript, o)
			for name, is := range testIssues() {
				t.Run("outgoing "+name, func(t *testing.T) {
					want, _, err := def.Outgoing(is)
					if err != nil {
						t.Fatal(err)
					}
					got, skip, err := scr.Outgoing(is)
					if err != nil || skip {
						t.Fatalf("Outgoing: skip=%v err=%v", skip, err)
					}
					if !replica.SameValues(got, want) || !reflect.DeepEqual(got.Comments, want.Comments) {
						t.Errorf("got\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
					}
				})
			}
			m := mergedReplica()
			t.Run("create", func(t *testing.T) {
				want, err := def.Incoming(Incoming{Replica: m, Changed: allChanges(m)})
				if err != nil {
					t.Fatal(err)
				}
				got, err := scr.Incoming(Incoming{Replica: m, Changed: allChanges(m)})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
				}
			})
			for name, c := range incomingCases() {
				t.Run("patch "+name, func(t *testing.T) {
					cur := c.cur
					in := Incoming{Replica: c.merged, Changed: c.ch, Issue: &cur, Previous: c.previous()}
					want, err := def.Incoming(in)
					if err != nil {
						t.Fatal(err)
					}
					got, err := scr.Incoming(in)
					if err != nil {
						t.Fatal(err)
					}
					if g, w := normPatch(got.Patch), normPatch(want.Patch); !reflect.DeepEqual(g, w) {
						t.Errorf("got\n%s\nwant\n%s", jsonOf(t, g), jsonOf(t, w))
					}
				})
			}
		})
	}
}

func TestMaps(t *testing.T) {
	o := testOptions()
	o.StatusMap = map[string]string{"Resolved": "Done", "Open": "To Do"}
	o.PriorityMap = map[string]string{"High": "P1"}
	s := mustCompile(t, "", "", o)

	tests := []struct {
		name                   string
		localStatus, localPrio string
		sharedStatus, sharedP  string
	}{
		{"mapped", "Resolved", "High", "Done", "P1"},
		{"other mapped", "Open", "High", "To Do", "P1"},
		{"unmapped passes", "In Progress", "Low", "In Progress", "Low"},
		{"empty passes", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := s.Outgoing(adapters.Issue{Key: "K", Status: tt.localStatus, Priority: tt.localPrio})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := r.Str("status"); got != tt.sharedStatus {
				t.Errorf("outgoing status %q, want %q", got, tt.sharedStatus)
			}
			if got, _ := r.Str("priority"); got != tt.sharedP {
				t.Errorf("outgoing priority %q, want %q", got, tt.sharedP)
			}

			m := replica.Replica{Fields: map[string]replica.Value{"status": str(tt.sharedStatus), "priority": str(tt.sharedP)}}
			res, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Create.Status != tt.localStatus || res.Create.Priority != tt.localPrio {
				t.Errorf("create status %q priority %q, want %q %q", res.Create.Status, res.Create.Priority, tt.localStatus, tt.localPrio)
			}

			// The issue already has the mapped-back value: nothing to patch.
			cur := adapters.Issue{Key: "K", Status: tt.localStatus, Priority: tt.localPrio}
			res, err = s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Patch.Empty() {
				t.Errorf("patch of an issue that has the values: %s", jsonOf(t, res.Patch))
			}
			// It has another value: the mapped-back one is patched in.
			cur = adapters.Issue{Key: "K", Status: "Other", Priority: "Other"}
			res, err = s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur})
			if err != nil {
				t.Fatal(err)
			}
			if res.Patch.Status == nil || *res.Patch.Status != tt.localStatus || res.Patch.Priority == nil || *res.Patch.Priority != tt.localPrio {
				t.Errorf("patch %s, want status %q priority %q", jsonOf(t, res.Patch), tt.localStatus, tt.localPrio)
			}
		})
	}

	// The Set keeps its own copy of the maps.
	o.StatusMap["Resolved"] = "changed later"
	r, _, _ := s.Outgoing(adapters.Issue{Status: "Resolved"})
	if got, _ := r.Str("status"); got != "Done" {
		t.Errorf("after the caller changed its map: status %q, want Done", got)
	}
}

func TestMapNotInvertible(t *testing.T) {
	tests := []struct {
		name       string
		status, pr map[string]string
		want       string
	}{
		{"status", map[string]string{"Resolved": "Done", "Closed": "Done", "Open": "Open"}, nil,
			`status_map: "Closed" and "Resolved" both map to "Done", so a received "Done" could not be mapped back`},
		{"priority", nil, map[string]string{"P1": "High", "P0": "High"},
			`priority_map: "P0" and "P1" both map to "High"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions()
			o.StatusMap, o.PriorityMap = tt.status, tt.pr
			_, err := Compile(nil, nil, o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
