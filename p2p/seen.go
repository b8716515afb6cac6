package p2p

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// seenCapacity bounds how many refused peers are remembered for
// log-once purposes. A peer evicted from the set is logged again.
const seenCapacity = 1024

// seenSet remembers up to a fixed number of peer IDs, evicting the oldest
// first. It lets refusals be logged once per peer with bounded memory.
type seenSet struct {
	mu    sync.Mutex
	set   map[peer.ID]struct{}
	order []peer.ID // ring buffer of the IDs in set, oldest at next
	next  int
}

func newSeenSet(capacity int) *seenSet {
	capacity = max(capacity, 1)
	return &seenSet{
		set:   make(map[peer.ID]struct{}, capacity),
		order: make([]peer.ID, 0, capacity),
	}
}

// first records id and reports whether it was not yet in the set.
func (s *seenSet) first(id peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return false
	}
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, id)
	} else {
		delete(s.set, s.order[s.next])
		s.order[s.next] = id
		s.next = (s.next + 1) % len(s.order)
	}
	s.set[id] = struct{}{}
	return true
}
