package p2p

import (
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Allowlist is the concurrency-safe set of peers this node talks to. The
// zero value is not usable; create one with NewAllowlist.
type Allowlist struct {
	mu  sync.RWMutex
	ids map[peer.ID]struct{}
}

// NewAllowlist returns an allowlist holding ids. Empty IDs are ignored.
func NewAllowlist(ids ...peer.ID) *Allowlist {
	a := &Allowlist{ids: make(map[peer.ID]struct{}, len(ids))}
	for _, id := range ids {
		a.Add(id)
	}
	return a
}

// Add allowlists id. Adding an empty ID does nothing.
func (a *Allowlist) Add(id peer.ID) {
	if id == "" {
		return
	}
	a.mu.Lock()
	a.ids[id] = struct{}{}
	a.mu.Unlock()
}

// Remove takes id off the allowlist.
func (a *Allowlist) Remove(id peer.ID) {
	a.mu.Lock()
	delete(a.ids, id)
	a.mu.Unlock()
}

// Has reports whether id is allowlisted.
func (a *Allowlist) Has(id peer.ID) bool {
	a.mu.RLock()
	_, ok := a.ids[id]
	a.mu.RUnlock()
	return ok
}

// List returns the allowlisted peers, sorted.
func (a *Allowlist) List() []peer.ID {
	a.mu.RLock()
	out := make([]peer.ID, 0, len(a.ids))
	for id := range a.ids {
		out = append(out, id)
	}
	a.mu.RUnlock()
	slices.Sort(out)
	return out
}
