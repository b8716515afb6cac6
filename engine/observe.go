package engine

import "time"

// FlowObserver is an Observer that is also told of the event flow, for
// the node's metrics: each event queued for a link (step 3) and how long
// each received event took to apply (step 6). Optional: an Observer that
// is not one is told only what Observer names.
type FlowObserver interface {
	// Queued: an event was appended to link's outgoing log.
	Queued(link LinkKey)
	// ApplyTook: applying one event from src (merge, incoming rules, the
	// tracker's write) took d.
	ApplyTook(src SourceKey, d time.Duration)
}

func (e *Engine) flow() FlowObserver {
	f, _ := e.cfg.Observe.(FlowObserver)
	return f
}

// observeQueued tells the flow observer of a committed share pass's
// events; queued maps twin and link to the link, so that a pass the store
// ran again counts once.
func (e *Engine) observeQueued(queued map[string]LinkKey) {
	if f := e.flow(); f != nil {
		for _, l := range queued {
			f.Queued(l)
		}
	}
}

// observeApply tells the flow observer how long an apply from src took
// since start.
func (e *Engine) observeApply(src SourceKey, start time.Time) {
	if f := e.flow(); f != nil {
		f.ApplyTook(src, time.Since(start))
	}
}
