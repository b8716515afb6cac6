package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node/rules"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// scrape reads GET /metrics from the node's admin API and parses it with
// Prometheus's text parser.
func scrape(t *testing.T, n *Node) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return testutil.ParseMetrics(t, rec.Body)
}

// TestMetricsMove: a synced issue raises the shared counter on the sender
// and the applied counter on the receiver, with one sync-latency sample;
// an edit the receiver's incoming rule refuses shows as a blocked twin in
// on the receiver and at the peer on the sender. The exposition passes
// promlint.
func TestMetricsMove(t *testing.T) {
	ctx := context.Background()
	inA := filepath.Join(t.TempDir(), "in-a.star")
	writeRule(t, inA, "if replica.description == \"poison\":\n    fail(\"a sent poison\")\n"+rules.DefaultIncomingScript)
	a := startNode(t, "a", Options{})
	b := startRestartable(t, "b", Options{}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{"a": {Incoming: inA}}
	}).testNode
	b.label = "b"
	pairAs(t, a, "b", b, "a")
	aid, bid := a.self.String(), b.self.String()

	before := scrape(t, a.Node)
	if v := testutil.MetricValue(before, "issuemesh_events_shared_total", map[string]string{"peer": bid}); v != 0 {
		t.Fatalf("shared before any issue: %v", v)
	}
	testutil.WaitFor(t, 10*time.Second, "a shows b connected directly", func() bool {
		return testutil.MetricValue(scrape(t, a.Node), "issuemesh_peers_connected", map[string]string{"path": "direct"}) == 1
	})

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "M", Status: "Open", Description: "d0"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "a's issue is acked by b", func() bool {
		return testutil.MetricValue(scrape(t, a.Node), "issuemesh_events_shared_total", map[string]string{"peer": bid, "result": "applied"}) == 1
	})
	ma, mb := scrape(t, a.Node), scrape(t, b.Node)
	if v := testutil.MetricValue(ma, "issuemesh_sync_latency_seconds", map[string]string{"peer": bid}); v != 1 {
		t.Errorf("sync latency samples: %v, want 1", v)
	}
	if v := testutil.MetricValue(mb, "issuemesh_events_applied_total", map[string]string{"peer": aid, "result": "applied"}); v != 1 {
		t.Errorf("b applied from a: %v, want 1", v)
	}
	if v := testutil.MetricValue(mb, "issuemesh_twins", nil); v != 1 {
		t.Errorf("b's twins: %v, want 1", v)
	}
	if v := testutil.MetricValue(ma, "issuemesh_pending_events", map[string]string{"peer": bid}); v != 0 {
		t.Errorf("a's pending for b: %v, want 0", v)
	}
	if v := testutil.MetricValue(ma, "issuemesh_tracker_state", map[string]string{"state": "ok"}); v != 1 {
		t.Errorf("tracker state ok: %v, want 1", v)
	}

	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Description: ptr("poison")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "b shows the twin blocked for events from a", func() bool {
		return testutil.MetricValue(scrape(t, b.Node), "issuemesh_blocked_twins", map[string]string{"peer": aid, "direction": "in"}) == 1
	})
	testutil.WaitFor(t, 15*time.Second, "a shows the twin blocked at b", func() bool {
		ma := scrape(t, a.Node)
		return testutil.MetricValue(ma, "issuemesh_blocked_twins", map[string]string{"peer": bid, "direction": "peer"}) == 1 &&
			testutil.MetricValue(ma, "issuemesh_events_shared_total", map[string]string{"peer": bid, "result": "failed"}) == 1
	})

	gathered, err := a.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(gathered).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
