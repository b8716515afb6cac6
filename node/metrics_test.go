package node

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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
	return parseMetrics(t, rec.Body)
}

// parseMetrics parses an exposition with Prometheus's text parser.
func parseMetrics(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// metricValue is the value of the sample of family name whose labels
// include want (a counter, a gauge, or a histogram's count); 0 if none.
func metricValue(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			if labels[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
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
	if v := metricValue(before, "issuemesh_events_shared_total", map[string]string{"peer": bid}); v != 0 {
		t.Fatalf("shared before any issue: %v", v)
	}
	testutil.WaitFor(t, 10*time.Second, "a shows b connected directly", func() bool {
		return metricValue(scrape(t, a.Node), "issuemesh_peers_connected", map[string]string{"path": "direct"}) == 1
	})

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "M", Status: "Open", Description: "d0"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "a's issue is acked by b", func() bool {
		return metricValue(scrape(t, a.Node), "issuemesh_events_shared_total", map[string]string{"peer": bid, "result": "applied"}) == 1
	})
	ma, mb := scrape(t, a.Node), scrape(t, b.Node)
	if v := metricValue(ma, "issuemesh_sync_latency_seconds", map[string]string{"peer": bid}); v != 1 {
		t.Errorf("sync latency samples: %v, want 1", v)
	}
	if v := metricValue(mb, "issuemesh_events_applied_total", map[string]string{"peer": aid, "result": "applied"}); v != 1 {
		t.Errorf("b applied from a: %v, want 1", v)
	}
	if v := metricValue(mb, "issuemesh_twins", nil); v != 1 {
		t.Errorf("b's twins: %v, want 1", v)
	}
	if v := metricValue(ma, "issuemesh_pending_events", map[string]string{"peer": bid}); v != 0 {
		t.Errorf("a's pending for b: %v, want 0", v)
	}
	if v := metricValue(ma, "issuemesh_tracker_state", map[string]string{"state": "ok"}); v != 1 {
		t.Errorf("tracker state ok: %v, want 1", v)
	}

	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Description: ptr("poison")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "b shows the twin blocked for events from a", func() bool {
		return metricValue(scrape(t, b.Node), "issuemesh_blocked_twins", map[string]string{"peer": aid, "direction": "in"}) == 1
	})
	testutil.WaitFor(t, 15*time.Second, "a shows the twin blocked at b", func() bool {
		ma := scrape(t, a.Node)
		return metricValue(ma, "issuemesh_blocked_twins", map[string]string{"peer": bid, "direction": "peer"}) == 1 &&
			metricValue(ma, "issuemesh_events_shared_total", map[string]string{"peer": bid, "result": "failed"}) == 1
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
