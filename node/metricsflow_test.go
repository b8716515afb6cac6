package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/internal/testutil"
	"github.com/issuemesh/issuemesh/node/rules"
)

// TestMetricsFlow: after a real sync between two nodes, /metrics (parsed
// with Prometheus's text parser) shows each event once at every step:
// queued and sent on a, received and applied on b with one apply-latency
// sample; an edit refused by b's incoming rule counts as failed on b; the
// sync log's size is reported.
func TestMetricsFlow(t *testing.T) {
	ctx := context.Background()
	inB := filepath.Join(t.TempDir(), "in-b.star")
	writeRule(t, inB, "if replica.description == \"poison\":\n    fail(\"a sent poison\")\n"+rules.DefaultIncomingScript)
	a := startNode(t, "a", Options{})
	b := startRestartable(t, "b", Options{}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{"a": {Incoming: inB}}
	}).testNode
	b.label = "b"
	pairAs(t, a, "b", b, "a")
	aid, bid := a.self.String(), b.self.String()
	onA, onB := map[string]string{"peer": bid}, map[string]string{"peer": aid}

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "M", Status: "Open", Description: "d0"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "a's issue is acked by b", func() bool {
		return testutil.MetricValue(scrape(t, a.Node), "issuemesh_events_shared_total", map[string]string{"peer": bid, "result": "applied"}) == 1
	})
	ma, mb := scrape(t, a.Node), scrape(t, b.Node)
	want := []struct {
		on     string
		name   string
		labels map[string]string
		v      float64
	}{
		{"a", "issuemesh_events_queued_total", onA, 1},
		{"a", "issuemesh_events_sent_total", onA, 1},
		{"b", "issuemesh_events_received_total", onB, 1},
		{"b", "issuemesh_events_applied_total", map[string]string{"peer": aid, "result": "applied"}, 1},
		{"b", "issuemesh_apply_duration_seconds", onB, 1},
		{"a", "issuemesh_sync_latency_seconds", onA, 1},
		{"a", "issuemesh_change_to_ack_seconds", onA, 1}, // the local tracker gives its change time
		{"b", "issuemesh_events_queued_total", onB, 0},   // no echo
	}
	check := func(step string) {
		t.Helper()
		for _, w := range want {
			m := ma
			if w.on == "b" {
				m = mb
			}
			if got := testutil.MetricValue(m, w.name, w.labels); got != w.v {
				t.Errorf("%s: %s on %s %v = %v, want %v", step, w.name, w.on, w.labels, got, w.v)
			}
		}
	}
	check("after the first sync")
	if v := testutil.MetricValue(ma, "issuemesh_sync_log_bytes", nil); v <= 0 {
		t.Errorf("sync log bytes on a: %v", v)
	}

	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Description: ptr("poison")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "b records the poisoned edit as failed", func() bool {
		return testutil.MetricValue(scrape(t, b.Node), "issuemesh_events_applied_total", map[string]string{"peer": aid, "result": "failed"}) == 1
	})
	testutil.WaitFor(t, 15*time.Second, "a sees b's failure ack", func() bool {
		return testutil.MetricValue(scrape(t, a.Node), "issuemesh_events_shared_total", map[string]string{"peer": bid, "result": "failed"}) == 1
	})
	ma, mb = scrape(t, a.Node), scrape(t, b.Node)
	want = want[:5]
	for i := range want[:3] {
		want[i].v = 2
	}
	want[4].v = 2 // the failed apply took time too
	check("after the refused edit")
}
