package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// Nodes that reach each other by more than one path (every change arrives
// by several) edit the same issue at once, round after round: summary,
// status and labels. When all is delivered, every node shows the same
// values (DESIGN 5.5), one of the last edits, with every node's last label,
// and nothing is pending anywhere. A node passing a change on keeps the
// change's clock, and a node that holds a newer value than an incoming one
// keeps it and tells the sender. Topologies: three nodes each peered with
// both others; a network of three with a fourth node peered with one
// member (which passes changes between its peer and the network).
func TestMeshConverges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nodes   int
		connect func(t *testing.T, nodes []*testNode)
	}{
		{"full mesh of peers", 3, func(t *testing.T, nodes []*testNode) {
			pairNodes(t, nodes[0], nodes[1])
			pairNodes(t, nodes[1], nodes[2])
			pairNodes(t, nodes[0], nodes[2])
		}},
		{"network and a peer", 4, func(t *testing.T, nodes []*testNode) {
			newNetwork(t, "team", nodes[1], nodes[2], nodes[3])
			pairNodes(t, nodes[0], nodes[1])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []*testNode
			for i := range tc.nodes {
				nodes = append(nodes, startNode(t, string(rune('a'+i)), Options{}))
			}
			tc.connect(t, nodes)
			editEverywhere(t, nodes)
		})
	}
}

// editEverywhere creates an issue on the first node, edits it on all of
// them at once and checks that they converge.
func editEverywhere(t *testing.T, nodes []*testNode) {
	ctx := context.Background()
	if _, err := nodes[0].tracker.Create(ctx, adapters.Issue{Summary: "mesh", Status: "Open", Labels: []string{"start"}}); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(nodes))
	testutil.WaitFor(t, 15*time.Second, "every node has the issue", func() bool {
		for i, tn := range nodes {
			is, ok := tn.issueBySummary(t, "mesh")
			if !ok {
				return false
			}
			keys[i] = is.Key
		}
		return true
	})

	twins := make([]string, len(nodes))
	for i, tn := range nodes {
		testutil.WaitFor(t, 10*time.Second, "the issue is linked", func() bool {
			return tn.store.View(func(tx *store.Tx) error {
				tw, err := tx.TwinByKey(keys[i])
				if err == nil {
					twins[i] = tw.ID
				}
				return err
			}) == nil
		})
	}

	const rounds = 12
	statuses := []string{"Open", "In Progress", "Done"}
	var wg sync.WaitGroup
	for i, tn := range nodes {
		wg.Go(func() {
			for r := 1; r <= rounds; r++ {
				sum, st := fmt.Sprintf("%s r%d", tn.label, r), statuses[(i+r)%len(statuses)]
				p := adapters.Patch{Summary: &sum, Status: &st}
				// A user's edit of the label list: read and write with no
				// sync change in between (one that came in between would
				// be a label the user removed).
				unlock := tn.eng.Lock(twins[i])
				if cur, err := tn.tracker.Get(ctx, keys[i]); err == nil {
					labels := slices.DeleteFunc(slices.Clone(cur.Labels), func(l string) bool { return l == fmt.Sprintf("%s-%d", tn.label, r-1) })
					labels = append(labels, fmt.Sprintf("%s-%d", tn.label, r))
					p.Labels = &labels
				}
				_, err := tn.tracker.Update(ctx, keys[i], p)
				unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	var last []adapters.Issue
	defer func() {
		if t.Failed() {
			for i, tn := range nodes {
				var tw *store.Twin
				_ = tn.store.View(func(tx *store.Tx) (err error) { tw, err = tx.GetTwin(twins[i]); return })
				t.Logf("%s: %+v", tn.label, last)
				for p, l := range tw.Links {
					t.Logf("  link %s: agreed %v / baseline %v", p[len(p)-6:], l.Agreed.Fields, l.Baseline.Fields)
				}
			}
		}
	}()
	testutil.WaitFor(t, 20*time.Second, "every node shows the same values with nothing pending", func() bool {
		last = last[:0]
		for i, tn := range nodes {
			if !tn.settled(t) || tn.count(t, "o/") != 0 || tn.count(t, "i/") != 0 {
				return false
			}
			is, err := tn.tracker.Get(ctx, keys[i])
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(is.Labels)
			last = append(last, is)
		}
		for _, is := range last[1:] {
			if is.Summary != last[0].Summary || is.Status != last[0].Status || !slices.Equal(is.Labels, last[0].Labels) {
				return false
			}
		}
		return true
	})
	// The value left is one of the last edits: a value passed on by a node
	// keeps its clock, so an older one never comes back as new.
	if !strings.HasSuffix(last[0].Summary, fmt.Sprintf(" r%d", rounds)) {
		t.Errorf("summary %q is not one of the last edits", last[0].Summary)
	}
	// Each node's last label edit survives (labels are a set).
	for _, tn := range nodes {
		if want := fmt.Sprintf("%s-%d", tn.label, rounds); !slices.Contains(last[0].Labels, want) {
			t.Errorf("label %s lost: %v", want, last[0].Labels)
		}
	}
	for i, tn := range nodes {
		if got := tn.count(t, "t/"); got != 1 {
			t.Errorf("node %d has %d twins", i, got)
		}
	}
}
