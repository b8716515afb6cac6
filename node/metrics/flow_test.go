package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics parses a scrape with Prometheus's text parser.
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

// TestTrackerTransportCounts: the transport every adapter's HTTP client
// goes through counts requests by method and status code, "error" when no
// answer came, and times them by method.
func TestTrackerTransportCounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, flow: newFlowMetrics(reg)}
	hc := &http.Client{Transport: m.TrackerTransport(nil)}
	do := func(method, url string) {
		req, _ := http.NewRequest(method, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	do(http.MethodGet, srv.URL)
	do(http.MethodGet, srv.URL)
	do(http.MethodPost, srv.URL)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	do(http.MethodPut, dead.URL)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	mfs := parseMetrics(t, rec.Body)
	for _, c := range []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"issuemesh_tracker_requests_total", map[string]string{"method": "get", "code": "200"}, 2},
		{"issuemesh_tracker_requests_total", map[string]string{"method": "post", "code": "404"}, 1},
		{"issuemesh_tracker_requests_total", map[string]string{"method": "put", "code": "error"}, 1},
		{"issuemesh_tracker_request_duration_seconds", map[string]string{"method": "get"}, 2},
		{"issuemesh_tracker_request_duration_seconds", map[string]string{"method": "post"}, 1},
	} {
		if got := metricValue(mfs, c.name, c.labels); got != c.v {
			t.Errorf("%s %v = %v, want %v", c.name, c.labels, got, c.v)
		}
	}
}
