package replica

import (
	"cmp"
	"fmt"
	"math"
	"sync"
	"time"
)

// MaxClockSkew is how far ahead of the local wall clock an observed Clock
// may be. HLC.Observe ignores clocks further in the future, so that one peer
// with a wrong clock (or a hostile one) cannot drag every node's clock, and
// every later edit, days ahead. Such a clock still orders the edit it stamps:
// Merge compares clocks as they are; a node refuses received events with
// clocks further ahead than its max_clock_skew (CheckSkew, DefaultMaxSkew)
// before they reach Merge or Observe.
const MaxClockSkew = 24 * time.Hour

// Compare orders clocks by Wall, then Logical, then Peer. It returns -1, 0
// or +1.
func (c Clock) Compare(o Clock) int {
	if r := cmp.Compare(c.Wall, o.Wall); r != 0 {
		return r
	}
	if r := cmp.Compare(c.Logical, o.Logical); r != 0 {
		return r
	}
	return cmp.Compare(c.Peer, o.Peer)
}

// Less reports whether c is ordered before o.
func (c Clock) Less(o Clock) bool { return c.Compare(o) < 0 }

// IsZero reports whether c is the zero Clock, which orders before every
// clock an HLC hands out.
func (c Clock) IsZero() bool { return c == Clock{} }

// String formats c as wall time (UTC, milliseconds), logical counter and
// peer, for logs and `issuemesh history`: 2025-01-02T03:04:05.678Z+2@12D3Koo...
func (c Clock) String() string {
	if c.IsZero() {
		return "zero"
	}
	return fmt.Sprintf("%s+%d@%s", time.UnixMilli(c.Wall).UTC().Format("2006-01-02T15:04:05.000Z"), c.Logical, c.Peer)
}

// HLC is a hybrid logical clock (Kulkarni et al., 2014) for one peer. The
// clocks it hands out are strictly increasing, stay within a few
// milliseconds of the wall clock while wall clocks roughly agree, and order
// after every clock observed from other peers. It is safe for concurrent use.
//
// The state lives in memory only. A node that restarts should Observe the
// greatest clock it has persisted (its last sent or logged event) before
// the first Now, so that a wall clock stepped back across the restart cannot
// make it reuse a clock it already handed out.
type HLC struct {
	peer string
	now  func() time.Time

	mu      sync.Mutex
	wall    int64  // greatest wall reading handed out or observed, ms
	logical uint32 // counter within wall
}

// NewHLC returns a clock for peer that reads wall time from now; a nil now
// means time.Now.
func NewHLC(peer string, now func() time.Time) *HLC {
	if now == nil {
		now = time.Now
	}
	return &HLC{peer: peer, now: now}
}

// Now returns a clock greater than every clock this HLC returned before and
// every clock it observed. Its wall part is the wall time in milliseconds
// when that is ahead of the state; otherwise the logical counter is bumped.
func (h *HLC) Now() Clock {
	pt := h.now().UnixMilli()
	h.mu.Lock()
	defer h.mu.Unlock()
	if pt > h.wall {
		h.wall, h.logical = pt, 0
	} else {
		h.bump()
	}
	return Clock{Wall: h.wall, Logical: h.logical, Peer: h.peer}
}

// Observe folds in a clock received from another peer (the HLC receive
// rule), so that the next Now is greater than c. A clock more than
// MaxClockSkew ahead of this node's wall time is ignored.
func (h *HLC) Observe(c Clock) {
	pt := h.now().UnixMilli()
	if c.Wall > pt && uint64(c.Wall)-uint64(pt) > uint64(MaxClockSkew.Milliseconds()) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch wall := max(h.wall, c.Wall, pt); {
	case wall == h.wall && wall == c.Wall:
		h.logical = max(h.logical, c.Logical)
		h.bump()
	case wall == h.wall:
		h.bump()
	case wall == c.Wall:
		h.wall, h.logical = c.Wall, c.Logical
		h.bump()
	default:
		h.wall, h.logical = pt, 0
	}
}

// bump advances the state by one logical step. Should the counter run out
// (2^32 events in one millisecond), the wall part moves one millisecond
// ahead instead.
func (h *HLC) bump() {
	if h.logical == math.MaxUint32 {
		h.wall, h.logical = h.wall+1, 0
		return
	}
	h.logical++
}
