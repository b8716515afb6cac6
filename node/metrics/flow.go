package metrics

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/store"
)

// The flow of events through the sync path (DESIGN section 2), counted as
// it happens, and the tracker's HTTP requests. The "peer" label of these
// families is the link: a peer ID, or "net:<network ID>" for a network.
// Its values are bounded by the peers and networks configured; "network"
// labels carry the network's name, "method" the HTTP method and "code"
// the HTTP status code (or "error" when no answer came).

// flowMetrics are the counters and histograms of the event flow.
type flowMetrics struct {
	queued    *prometheus.CounterVec   // step 3: appended to a link's outgoing log
	sent      *prometheus.CounterVec   // step 4: written to a peer's replica stream
	received  *prometheus.CounterVec   // step 5: new events logged from a peer
	applyTime *prometheus.HistogramVec // step 6: incoming rules and the tracker write
	gossip    *prometheus.CounterVec   // networks: gossipsub messages published / rejected
	trackReqs *prometheus.CounterVec
	trackTime *prometheus.HistogramVec
}

// latencyBuckets span a tracker call or an apply (ms) to a slow tracker
// (a minute).
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

func newFlowMetrics(reg prometheus.Registerer) *flowMetrics {
	f := &flowMetrics{
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuemesh_events_queued_total",
			Help: "Events appended to a link's outgoing log (a peer's queue or a network's author log) since the node started.",
		}, []string{"peer"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuemesh_events_sent_total",
			Help: "Events written to a peer's replica stream since the node started (an event sent again after a reconnect counts again).",
		}, []string{"peer"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuemesh_events_received_total",
			Help: "New events received from a peer over its replica stream and logged here since the node started (duplicates not counted).",
		}, []string{"peer"}),
		applyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "issuemesh_apply_duration_seconds",
			Help:    "Time to apply one received event: merge, incoming rules and the tracker's create or update.",
			Buckets: latencyBuckets,
		}, []string{"peer"}),
		gossip: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuemesh_gossipsub_messages_total",
			Help: "Network events published on a network's gossipsub topic by this node (published), or refused by its validator (rejected: malformed or forged; ignored: author not a member here, clock ahead).",
		}, []string{"network", "result"}),
		trackReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuemesh_tracker_requests_total",
			Help: "HTTP requests to the tracker, by method and status code (\"error\": no answer).",
		}, []string{"method", "code"}),
		trackTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "issuemesh_tracker_request_duration_seconds",
			Help:    "Latency of HTTP requests to the tracker, until the answer's headers.",
			Buckets: latencyBuckets,
		}, []string{"method"}),
	}
	reg.MustRegister(f.queued, f.sent, f.received, f.applyTime, f.gossip, f.trackReqs, f.trackTime)
	return f
}

// Queued counts an event queued for link.
func (m *Metrics) Queued(link string) {
	m.flow.queued.WithLabelValues(link).Inc()
}

// SentEvents counts n events written to peer's stream.
func (m *Metrics) SentEvents(peer string, n int) {
	m.flow.sent.WithLabelValues(peer).Add(float64(n))
}

// ReceivedEvents counts n new events logged from peer.
func (m *Metrics) ReceivedEvents(peer string, n int) {
	m.flow.received.WithLabelValues(peer).Add(float64(n))
}

// ApplyTook records one apply of an event from link.
func (m *Metrics) ApplyTook(link string, d time.Duration) {
	m.flow.applyTime.WithLabelValues(link).Observe(d.Seconds())
}

// Gossiped counts a network message published or refused.
func (m *Metrics) Gossiped(network, result string) {
	m.flow.gossip.WithLabelValues(network, result).Inc()
}

// TrackerTransport is the RoundTripper every tracker adapter's HTTP client
// goes through (node/trackers.go): it counts each request by method and
// status code and times it. base nil: http.DefaultTransport.
func (m *Metrics) TrackerTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	timed := promhttp.InstrumentRoundTripperDuration(m.flow.trackTime, base)
	counted := promhttp.InstrumentRoundTripperCounter(m.flow.trackReqs, timed)
	return promhttp.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := counted.RoundTrip(r)
		if err != nil && !errors.Is(err, r.Context().Err()) {
			// promhttp counts answers only: a request with none counts here.
			m.flow.trackReqs.WithLabelValues(methodLabel(r.Method), "error").Inc()
		}
		return resp, err
	})
}

// methodLabel is promhttp's bounded method label: the standard methods,
// lower case, others as "unknown" (what promhttp's own labels hold).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return strings.ToLower(m)
	}
	return "unknown"
}

var (
	descReservations = prometheus.NewDesc("issuemesh_relay_reservations", "Relay reservations this node holds on peers (it is reachable through them).", nil, nil)
	descRelaying     = prometheus.NewDesc("issuemesh_relay_reservations_served", "Reservations peers hold on this node's relay service.", nil, nil)
	descSyncLog      = prometheus.NewDesc("issuemesh_sync_log_bytes", "Size of the sync log (the Badger directory synclog/ in the home) on disk.", nil, nil)
)

// flowCollector reads at scrape time what the node does not count: relay
// reservations and the sync log's size.
type flowCollector struct{ src Source }

func (c flowCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReservations
	ch <- descRelaying
	ch <- descSyncLog
}

func (c flowCollector) Collect(ch chan<- prometheus.Metric) {
	if h := c.src.Host(); h != nil {
		ch <- prometheus.MustNewConstMetric(descReservations, prometheus.GaugeValue, float64(len(p2p.Reservations(h))))
		ch <- prometheus.MustNewConstMetric(descRelaying, prometheus.GaugeValue, float64(len(p2p.Relaying(h))))
	}
	if size, err := store.DirSize(c.src.SyncLogDir()); err == nil {
		ch <- prometheus.MustNewConstMetric(descSyncLog, prometheus.GaugeValue, float64(size))
	}
}
