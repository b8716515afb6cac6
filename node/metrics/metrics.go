// Package metrics is a node's Prometheus registry: GET /metrics on the
// admin API and, with metrics.listen in config.yaml, on a TCP address of
// its own (both served by package api). Each node has its own registry (no
// global default registry). The gauges are read at scrape time, through
// Source, from the same state `status` shows, so the two never disagree;
// only what status has no record of is counted here as it happens: the
// events' flow through each step of the sync path (flow.go), events acked
// by peers, events applied here, the queue-to-ack latency and the
// tracker's HTTP requests. Refusals are counted by the node's refusals
// list.
package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Source is what the collectors read from the node at scrape time.
type Source interface {
	// View reads the sync log in one transaction.
	View(fn func(*store.Tx) error) error
	// Log is where a failed read is logged.
	Log() *slog.Logger
	// Peers counts the peers added, and those connected directly and
	// through a relay; an error leaves the peer gauges out.
	Peers() (total, direct, relayed int, err error)
	// RefusedByLink counts the received events refused, by link.
	RefusedByLink() map[string]int64
	// Tracker is the tracker's health: its state (ok, failing, stopped,
	// unknown), the class of its error ("" when none) and the last
	// successful read of its change feed.
	Tracker() (state, errClass string, lastPoll time.Time)
	// Disk is the free space on the home's filesystem and whether it is
	// below the reserve; ok false when the space is not watched.
	Disk() (free int64, low, ok bool)
	// Home is the home's size, the start of the sync log's last garbage
	// collection (zero: none) and the restarts of each supervised service.
	Home() (bytes int64, lastGC time.Time, restarts map[string]int)
	// Host is the node's libp2p host, nil while it is not online.
	Host() host.Host
	// SyncLogDir is the sync log's directory.
	SyncLogDir() string
}

// Metrics is a node's registry and the counters the engine moves.
type Metrics struct {
	reg *prometheus.Registry
	// shared counts the events sent to a peer that it acked, by the
	// result at the peer (applied, skipped, failed).
	shared *prometheus.CounterVec
	// applied counts the events received from a peer and recorded here,
	// by result (applied, skipped, unsynced).
	applied *prometheus.CounterVec
	// latency is the time from an event's queueing (the trigger saw the
	// change) to its ack arriving.
	latency *prometheus.HistogramVec
	// changeToAck is the time from the tracker's change (its updated
	// time) to the peer's ack: what a user waits, poll interval included.
	changeToAck *prometheus.HistogramVec
	// flow counts the events' way through the sync path (flow.go).
	flow *flowMetrics
}

// New makes a node's registry, its gauges read from src at scrape time.
func New(src Source) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		shared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuemesh_events_shared_total",
			Help: "Events sent to a peer and acked by it since the node started, by the result at the peer.",
		}, []string{"peer", "result"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuemesh_events_applied_total",
			Help: "Events received from a peer and recorded here since the node started, by result.",
		}, []string{"peer", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "issuemesh_sync_latency_seconds",
			Help:    "Time from the trigger queueing a change for a peer to the peer's ack arriving.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"peer"}),
		changeToAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "issuemesh_change_to_ack_seconds",
			Help:    "Time from the tracker's change (the issue's updated time, as the tracker gives it) to the peer's ack arriving; a polled tracker's wait is included. Changes whose time the tracker does not give are not counted.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"peer"}),
	}
	m.reg.MustRegister(m.shared, m.applied, m.latency, m.changeToAck, nodeCollector{src}, flowCollector{src})
	m.flow = newFlowMetrics(m.reg)
	return m
}

// Acked counts an ack of an event queued at sent that carried a tracker
// change made at changed (Unix nanoseconds, 0: unknown). A change time
// after now (the tracker's clock ahead of this node's) counts as 0.
func (m *Metrics) Acked(peer, result string, sent, changed int64, now time.Time) {
	m.shared.WithLabelValues(peer, result).Inc()
	if sent > 0 {
		m.latency.WithLabelValues(peer).Observe(now.Sub(time.Unix(0, sent)).Seconds())
	}
	if changed > 0 {
		m.changeToAck.WithLabelValues(peer).Observe(max(0, now.Sub(time.Unix(0, changed)).Seconds()))
	}
}

// AckedBatch counts a committed batch of acks from peer.
func (m *Metrics) AckedBatch(peer string, acks []engine.Acked, now time.Time) {
	for _, a := range acks {
		m.Acked(peer, resultLabel(a.Result), a.Sent, a.Changed, now)
	}
}

// resultLabel names an ack's result for a label.
func resultLabel(r replica.Result) string {
	switch r {
	case replica.ResultApplied:
		return "applied"
	case replica.ResultSkipped:
		return "skipped"
	default:
		return "failed"
	}
}

// Recorded counts an event from peer recorded here with result.
func (m *Metrics) Recorded(peer, result string) {
	m.applied.WithLabelValues(peer, result).Inc()
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// nodeCollector reads the node's state at scrape time.
type nodeCollector struct{ src Source }

var (
	descPending     = prometheus.NewDesc("issuemesh_pending_events", "Events queued for a peer and not acked yet.", []string{"peer"}, nil)
	descOldest      = prometheus.NewDesc("issuemesh_pending_oldest_age_seconds", "Age of the oldest event queued for a peer and not acked yet (0: none).", []string{"peer"}, nil)
	descBlocked     = prometheus.NewDesc("issuemesh_blocked_twins", "Blocked records (one per twin, link and direction) as errors lists them.", []string{"peer", "direction"}, nil)
	descTwins       = prometheus.NewDesc("issuemesh_twins", "Twins (synced issues) known to this node.", nil, nil)
	descPeers       = prometheus.NewDesc("issuemesh_peers", "Peers added to this node.", nil, nil)
	descConnected   = prometheus.NewDesc("issuemesh_peers_connected", "Peers connected now, by path (direct or relayed).", []string{"path"}, nil)
	descRefused     = prometheus.NewDesc("issuemesh_events_refused_total", "Received events refused since the node started (clocks too far ahead, forged), by link.", []string{"peer"}, nil)
	descTracker     = prometheus.NewDesc("issuemesh_tracker_state", "The tracker's health: 1 for the current state (ok, failing, stopped, unknown).", []string{"state"}, nil)
	descTrackerErr  = prometheus.NewDesc("issuemesh_tracker_error", "1 while the tracker's calls fail, labelled with the error's class.", []string{"class"}, nil)
	descLastPoll    = prometheus.NewDesc("issuemesh_tracker_last_poll_timestamp_seconds", "Unix time of the last successful read of the tracker's change feed (0: none).", nil, nil)
	descDiskFree    = prometheus.NewDesc("issuemesh_disk_free_bytes", "Free space on the home's filesystem.", nil, nil)
	descDiskLow     = prometheus.NewDesc("issuemesh_disk_low", "1 while free space is below the reserve and writes are refused.", nil, nil)
	descHome        = prometheus.NewDesc("issuemesh_home_bytes", "Size of the node's home on disk.", nil, nil)
	descLastGC      = prometheus.NewDesc("issuemesh_last_gc_timestamp_seconds", "Unix time the sync log's last garbage collection started (0: none).", nil, nil)
	descRestarts    = prometheus.NewDesc("issuemesh_service_restarts_total", "Restarts of a supervised service after it failed.", []string{"service"}, nil)
	trackerStates   = []string{"ok", "failing", "stopped", "unknown"}
	connectionPaths = []string{"direct", "relayed"}
)

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descOldest, descBlocked, descTwins, descPeers, descConnected, descRefused, descTracker, descTrackerErr, descLastPoll, descDiskFree, descDiskLow, descHome, descLastGC, descRestarts} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src
	now := time.Now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if err := c.collectStore(gauge, now); err != nil {
		src.Log().Warn("metrics: reading the sync log failed", "err", err)
		ch <- prometheus.NewInvalidMetric(descTwins, err)
	}
	if total, direct, relayed, err := src.Peers(); err == nil {
		conn := map[string]int{"direct": direct, "relayed": relayed}
		gauge(descPeers, float64(total))
		for _, path := range connectionPaths {
			gauge(descConnected, float64(conn[path]), path)
		}
	}
	for peer, count := range src.RefusedByLink() {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(count), peer)
	}
	state, class, lastPoll := src.Tracker()
	for _, s := range trackerStates {
		v := 0.0
		if state == s {
			v = 1
		}
		gauge(descTracker, v, s)
	}
	if class != "" {
		gauge(descTrackerErr, 1, class)
	}
	gauge(descLastPoll, unixSeconds(lastPoll))
	if free, low, ok := src.Disk(); ok {
		gauge(descDiskFree, float64(free))
		gauge(descDiskLow, boolFloat(low))
	}
	homeBytes, gc, restarts := src.Home()
	gauge(descHome, float64(homeBytes))
	gauge(descLastGC, unixSeconds(gc))
	for service, count := range restarts {
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(count), service)
	}
}

// collectStore reports what the sync log holds: queues, blocked records
// and twins, read in one transaction.
func (c nodeCollector) collectStore(gauge func(*prometheus.Desc, float64, ...string), now time.Time) error {
	return c.src.View(func(tx *store.Tx) error {
		stats, err := tx.QueueStats()
		if err != nil {
			return err
		}
		peers, err := tx.Peers()
		if err != nil {
			return err
		}
		for _, p := range peers { // every peer, so that an empty queue shows 0
			if stats[p.ID] == nil {
				stats[p.ID] = &store.QueueStat{Peer: p.ID}
			}
		}
		for peer, st := range stats {
			gauge(descPending, float64(st.Pending), peer)
			age := 0.0
			if !st.Oldest.IsZero() {
				age = max(now.Sub(st.Oldest).Seconds(), 0)
			}
			gauge(descOldest, age, peer)
		}
		bs, err := tx.BlockedTwins()
		if err != nil {
			return err
		}
		type key struct{ peer, dir string }
		blocked := map[key]int{}
		for _, b := range bs {
			blocked[key{b.Peer, string(b.Dir)}]++
		}
		for k, v := range blocked {
			gauge(descBlocked, float64(v), k.peer, k.dir)
		}
		twins, err := tx.Count("t/")
		if err != nil {
			return err
		}
		gauge(descTwins, float64(twins))
		return nil
	})
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Gather returns the registry's metric families, as a scrape sees them.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) { return m.reg.Gather() }
