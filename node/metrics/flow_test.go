package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/issuemesh/issuemesh/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
)

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
	mfs := testutil.ParseMetrics(t, rec.Body)
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
		if got := testutil.MetricValue(mfs, c.name, c.labels); got != c.v {
			t.Errorf("%s %v = %v, want %v", c.name, c.labels, got, c.v)
		}
	}
}
