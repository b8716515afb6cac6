package node

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Refused events (DESIGN 5.10). An event whose clocks are further ahead of
// this node's clock than max_clock_skew, or a network event whose author's
// signature does not verify (a forgery), is refused: never logged for
// applying, never applied. Each refusal is logged and kept as a notice,
// the newest maxRefusals, shown by `errors` (direction "refused") and
// counted by `status` (refused). Notices live in memory: the twin's history
// keeps a "refused" line where the twin is known, and a sender learns of a
// refusal of its event to a peer by the failed ack (its own `errors` then
// shows the twin blocked at that peer).

// maxRefusals bounds the notices kept.
const maxRefusals = 200

// refusals holds the newest refusal notices.
type refusals struct {
	mu    sync.Mutex
	list  []store.Blocked
	total int64
	// byLink counts the refusals per link, for metrics.
	byLink map[string]int64
}

// add keeps a notice, dropping the oldest past maxRefusals.
func (r *refusals) add(b store.Blocked) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b.Dir, b.Since, b.Attempts = DirRefused, time.Now().UTC(), 1
	r.total++
	if r.byLink == nil {
		r.byLink = map[string]int64{}
	}
	r.byLink[b.Peer]++
	r.list = append(r.list, b)
	if len(r.list) > maxRefusals {
		r.list = slices.Delete(r.list, 0, len(r.list)-maxRefusals)
	}
}

// notices lists the notices, oldest first.
func (r *refusals) notices() []store.Blocked {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// count is how many events were refused since the node started.
func (r *refusals) count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// countByLink is how many events were refused per link since the node
// started.
func (r *refusals) countByLink() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.byLink)
}

// maxSkew is the configured max_clock_skew.
func maxSkew(cfg *config.Config) time.Duration {
	if cfg != nil && cfg.MaxClockSkew > 0 {
		return cfg.MaxClockSkew
	}
	return replica.DefaultMaxSkew
}

// clockChecker refuses an event with a clock too far ahead of this node's.
func clockChecker(cfg *config.Config) func(ev *replica.Event) error {
	return func(ev *replica.Event) error {
		return replica.CheckSkew(&ev.Replica, time.Now(), maxSkew(cfg))
	}
}
