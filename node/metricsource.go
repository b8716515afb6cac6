package node

import (
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/node/metrics"
	"github.com/issuemesh/issuemesh/store"
)

// nodeMetrics is the node's registry (package metrics), with the calls the
// node's files make on it.
type nodeMetrics struct{ *metrics.Metrics }

func newNodeMetrics(n *Node) *nodeMetrics { return &nodeMetrics{metrics.New(metricSource{n})} }

func (m *nodeMetrics) queued(link string)             { m.Queued(link) }
func (m *nodeMetrics) sentEvents(peer string, k int)  { m.SentEvents(peer, k) }
func (m *nodeMetrics) receivedEvents(p string, k int) { m.ReceivedEvents(p, k) }
func (m *nodeMetrics) gossiped(network, result string) {
	m.Gossiped(network, result)
}
func (m *nodeMetrics) applyTook(link string, d time.Duration) { m.ApplyTook(link, d) }
func (m *nodeMetrics) recorded(peer, result string)           { m.Recorded(peer, result) }
func (m *nodeMetrics) handler() http.Handler                  { return m.Handler() }
func (m *nodeMetrics) ackedBatch(peer string, acks []engine.Acked, now time.Time) {
	m.AckedBatch(peer, acks, now)
}
func (m *nodeMetrics) trackerTransport(base http.RoundTripper) http.RoundTripper {
	return m.TrackerTransport(base)
}

// metricSource is the node's state as the metrics collectors read it.
type metricSource struct{ n *Node }

func (s metricSource) View(fn func(*store.Tx) error) error { return s.n.store.View(fn) }
func (s metricSource) Log() *slog.Logger                   { return s.n.log }
func (s metricSource) Host() host.Host                     { return s.n.hostOrNil() }
func (s metricSource) SyncLogDir() string                  { return filepath.Join(s.n.home, StoreDir) }
func (s metricSource) RefusedByLink() map[string]int64     { return s.n.refused.countByLink() }

func (s metricSource) Peers() (total, direct, relayed int, err error) {
	peers, err := adminBackend(s).peerInfos()
	for _, p := range peers {
		switch {
		case p.Relayed:
			relayed++
		case p.Connected:
			direct++
		}
	}
	return len(peers), direct, relayed, err
}

func (s metricSource) Tracker() (state, errClass string, lastPoll time.Time) {
	th := s.n.TrackerHealth()
	if th.Error != nil {
		errClass = string(th.Error.Class)
	}
	return th.State, errClass, th.LastPoll
}

func (s metricSource) Disk() (free int64, low, ok bool) {
	if s.n.space == nil {
		return 0, false, false
	}
	ds := s.n.space.Status()
	return ds.Free, ds.Low, true
}

func (s metricSource) Home() (bytes int64, lastGC time.Time, restarts map[string]int) {
	var st Status
	lifeStatus(&st, s.n.life, s.n.gc)
	if st.Home.LastGC != nil {
		lastGC = st.Home.LastGC.Start
	}
	restarts = map[string]int{}
	for _, r := range st.Restarts {
		restarts[r.Service] = r.Restarts
	}
	return st.Home.HomeBytes, lastGC, restarts
}
