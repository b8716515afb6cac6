package rules

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

const (
	testSelf     = "12D3Self"
	testPeer     = "12D3Peer"
	testPeerName = "partner"
)

func testOptions() Options {
	return Options{Self: testSelf, PeerName: testPeerName, PeerID: testPeer}
}

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// fullIssue has a bit of everything.
func fullIssue() adapters.Issue {
	return adapters.Issue{
		Key:         "LOCAL-7",
		Summary:     "Printer on fire",
		Description: "It smokes.\nSecond line.",
		Status:      "Resolved",
		Priority:    "High",
		Labels:      []string{"sync", "hardware", "b"},
		Extra:       map[string]string{"project": "OPS", "team": "infra"},
		Comments: []adapters.Comment{
			{ID: "1", Author: "alice", Body: "First!", Created: t0, Updated: t0},
			{ID: "2", SyncID: testPeer + "/9", Author: "bob (partner)", Body: "From the peer", Created: t0.Add(time.Minute)},
			{ID: "3", Author: "alice", Body: "internal note", Created: t0.Add(2 * time.Minute), Internal: true},
			{ID: "4", Author: "", Body: "no time"},
		},
		Created: t0,
		Updated: t0.Add(time.Hour),
	}
}

// testIssues is the table the defaults are compared on.
func testIssues() map[string]adapters.Issue {
	full := fullIssue()
	emptyLabels := fullIssue()
	emptyLabels.Labels = []string{}
	emptyLabels.Comments = nil
	unicode := adapters.Issue{Key: "LOCAL-9", Summary: "Ünïcödé ☃", Status: "Open", Labels: []string{"é", "a"},
		Comments: []adapters.Comment{{ID: "x", Author: "日本", Body: "こんにちは", Created: t0}}}
	return map[string]adapters.Issue{
		"empty":        {Key: "LOCAL-1"},
		"full":         full,
		"empty labels": emptyLabels,
		"unicode":      unicode,
		"only internal": {Key: "LOCAL-2", Summary: "s", Comments: []adapters.Comment{
			{ID: "1", Body: "secret", Internal: true, Created: t0},
		}},
	}
}

func clk(ms int64) replica.Clock { return replica.Clock{Wall: ms, Peer: testPeer} }

func str(s string) replica.Value { return replica.Value{S: s, Clock: clk(1)} }

func list(l ...string) replica.Value { return replica.Value{L: l, Clock: clk(1)} }

// mergedReplica is a received replica of fullIssue's twin.
func mergedReplica() replica.Replica {
	return replica.Replica{
		Fields: map[string]replica.Value{
			"summary":     str("Printer on fire!"),
			"description": str("It smokes.\nSecond line."),
			"status":      str("Done"),
			"priority":    str("High"),
			"labels":      list("b", "hardware", "sync"),
			"customer":    str("ACME"),
		},
		Comments: []replica.Comment{
			{ID: testSelf + "/1", Author: "alice", Body: "First!", Created: t0.UnixMilli(), Clock: clk(1)},
			{ID: testPeer + "/9", Author: "bob", Body: "From the peer, edited", Created: t0.Add(time.Minute).UnixMilli(), Clock: clk(2)},
			{ID: testPeer + "/10", Author: "carol", Body: "New one", Created: t0.Add(3 * time.Minute).UnixMilli(), Clock: clk(3)},
			{ID: testPeer + "/11", Author: "", Body: "Anonymous", Created: 0, Clock: clk(4)},
			{ID: testSelf + "/3", Author: "alice", Body: "internal note, edited there", Created: t0.Add(2 * time.Minute).UnixMilli(), Clock: clk(5)},
		},
	}
}

func allChanges(r replica.Replica) replica.Changes {
	var ch replica.Changes
	for f := range r.Fields {
		ch.Fields = append(ch.Fields, f)
	}
	slices.Sort(ch.Fields)
	for _, c := range r.Comments {
		ch.Comments = append(ch.Comments, c.ID)
	}
	slices.Sort(ch.Comments)
	for _, a := range r.Attachments {
		ch.Attachments = append(ch.Attachments, a.ID)
	}
	return ch
}

// incomingCase is a received change of an existing issue. The previous
// replica (Incoming.Previous) holds the issue's labels unless prev says
// otherwise.
type incomingCase struct {
	cur    adapters.Issue
	merged replica.Replica
	ch     replica.Changes
	prev   []string
}

// previous is the replica agreed before the case's change.
func (c incomingCase) previous() *replica.Replica {
	l := c.prev
	if l == nil {
		l = c.cur.Labels
	}
	var r replica.Replica
	r.Set(replica.FieldLabels, replica.Value{L: slices.Clone(l)})
	return &r
}

func incomingCases() map[string]incomingCase {
	m := mergedReplica()
	withLabel := fullIssue()
	withLabel.Labels = append(withLabel.Labels, "local")
	return map[string]incomingCase{
		"label of the issue's own kept": {withLabel, func() replica.Replica {
			r := m.Clone()
			r.Set("labels", list("sync", "new"))
			return r
		}(), replica.Changes{Fields: []string{"labels"}}, fullIssue().Labels},
		"everything changed": {fullIssue(), m, allChanges(m), nil},
		"nothing changed":    {fullIssue(), m, replica.Changes{}, nil},
		"summary only":       {fullIssue(), m, replica.Changes{Fields: []string{"summary"}}, nil},
		"equal values": {fullIssue(), m, replica.Changes{
			Fields: []string{"description", "labels", "priority"}, Comments: []string{testSelf + "/1"}}, nil},
		"labels differ": {fullIssue(), func() replica.Replica {
			r := m.Clone()
			r.Set("labels", list("a", "z"))
			return r
		}(), replica.Changes{Fields: []string{"labels"}}, nil},
		"labels cleared": {fullIssue(), func() replica.Replica {
			r := m.Clone()
			r.Set("labels", replica.Value{Clock: clk(9)})
			return r
		}(), replica.Changes{Fields: []string{"labels"}}, nil},
		"custom field only": {fullIssue(), m, replica.Changes{Fields: []string{"customer"}}, nil},
		"comments only": {fullIssue(), m, replica.Changes{Comments: []string{
			testPeer + "/10", testPeer + "/11", testPeer + "/9", testSelf + "/3"}}, nil},
		"changed comment not in replica": {fullIssue(), m, replica.Changes{Comments: []string{"gone/1"}}, nil},
		"empty issue":                    {adapters.Issue{Key: "LOCAL-1"}, m, allChanges(m), nil},
	}
}

// normPatch makes patches comparable whatever the order of added comments.
func normPatch(p adapters.Patch) adapters.Patch {
	p.AddComments = slices.Clone(p.AddComments)
	slices.SortFunc(p.AddComments, func(a, b adapters.Comment) int { return strings.Compare(a.SyncID, b.SyncID) })
	return p
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustCompile(t testing.TB, out, in string, o Options) *Set {
	t.Helper()
	var os, is *Source
	if out != "" {
		os = &Source{Name: "out.star", Text: []byte(out)}
	}
	if in != "" {
		is = &Source{Name: "in.star", Text: []byte(in)}
	}
	s, err := Compile(os, is, o)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantRuleError checks that err is a rule error whose message holds every
// part.
func wantRuleError(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one with %q", parts)
	}
	if !errors.Is(err, ErrRule) {
		t.Errorf("error %q does not wrap ErrRule", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func ptr[T any](v T) *T { return &v }
