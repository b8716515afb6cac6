package e2e

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

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
	return testutil.ParseMetrics(t, bytes.NewReader(out))
}

// adminMetrics scrapes /metrics on the node's admin socket (it works
// whatever network namespace the node runs in) and parses it.
func (p *proc) adminMetrics() map[string]*dto.MetricFamily {
	p.t.Helper()
	out, err := exec.Command("curl", "-sf", "--max-time", "5", "--unix-socket", filepath.Join(p.home, "admin.sock"), "http://node/metrics").Output()
	if err != nil {
		p.t.Fatalf("scraping %s's metrics on its admin socket: %v", p.name, err)
	}
	return testutil.ParseMetrics(p.t, bytes.NewReader(out))
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
	if mfs["issuemesh_tracker_state"] == nil {
		t.Fatalf("no issuemesh_tracker_state in a's metrics")
	}
	pair(a, b)
	a.mustCLI("issue", "create", "--summary", "counted")
	bid := b.peerID()
	testutil.WaitFor(t, 20*time.Second, "a's metrics count the issue acked by b", func() bool {
		mfs = curlMetrics(t, addr)
		return testutil.MetricValue(mfs, "issuemesh_events_shared_total", map[string]string{"peer": bid, "result": "applied"}) == 1
	})
	if v := testutil.MetricValue(mfs, "issuemesh_pending_events", map[string]string{"peer": bid}); v != 0 {
		t.Errorf("a's pending events for b: %v, want 0", v)
	}
}
