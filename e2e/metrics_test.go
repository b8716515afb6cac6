package e2e

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// freeTCPAddr is a loopback address with a port free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// curlMetrics fetches a metrics endpoint with curl and parses it with
// Prometheus's text parser; nil while it does not answer.
func curlMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	out, err := exec.Command("curl", "-sf", "--max-time", "5", "http://"+addr+"/metrics").Output()
	if err != nil {
		return nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("parsing the metrics of %s: %v\n%s", addr, err, out)
	}
	return mfs
}

// sample is the value of the counter or gauge name with the label
// peer=peerID (any peer if empty) and result (if not empty); -1 if none.
func sample(mfs map[string]*dto.MetricFamily, name, peerID, result string) float64 {
	for _, m := range mfs[name].GetMetric() {
		ok := true
		for _, l := range m.GetLabel() {
			if (l.GetName() == "peer" && peerID != "" && l.GetValue() != peerID) || (l.GetName() == "result" && result != "" && l.GetValue() != result) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	return -1
}

// TestMetricsListen: `issuemesh run` with metrics.listen in config.yaml
// serves /metrics on that TCP address; after an issue syncs, the sender's
// counter of events its peer applied is 1 and its queue for the peer is
// empty.
func TestMetricsListen(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	addr := freeTCPAddr(t)
	a.writeHome("config.yaml", readFile(t, filepath.Join(a.home, "config.yaml"))+"metrics:\n    listen: "+addr+"\n")
	a.start()
	b.start()
	var mfs map[string]*dto.MetricFamily
	testutil.WaitFor(t, 15*time.Second, "a serves metrics on "+addr, func() bool {
		mfs = curlMetrics(t, addr)
		return mfs != nil
	})
	if v := sample(mfs, "issuemesh_tracker_state", "", ""); v < 0 {
		t.Fatalf("no issuemesh_tracker_state in a's metrics")
	}
	pair(a, b)
	a.mustCLI("issue", "create", "--summary", "counted")
	bid := b.peerID()
	testutil.WaitFor(t, 20*time.Second, "a's metrics count the issue acked by b", func() bool {
		mfs = curlMetrics(t, addr)
		return sample(mfs, "issuemesh_events_shared_total", bid, "applied") == 1
	})
	if v := sample(mfs, "issuemesh_pending_events", bid, ""); v != 0 {
		t.Errorf("a's pending events for b: %v, want 0", v)
	}
}
