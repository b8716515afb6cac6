package p2p

import (
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ForgeryPenalty is what a peer caught forging loses in this node's own
// score of it (Penalties): one forgery puts it well below
// GraylistThreshold, so gossipsub ignores it for about two minutes
// (decaying by InvalidDecay a second), and more forgeries add up.
const ForgeryPenalty = -10000

// Penalties is this node's own score of peers beside gossipsub's: what a
// peer loses for misbehaviour gossipsub cannot see, such as a catch-up
// answer carrying an event its author did not sign. Gossipsub reads it as
// the application-specific score (NewPubSubScored). A penalty decays by
// InvalidDecay every second. It is safe for concurrent use.
type Penalties struct {
	now func() time.Time

	mu sync.Mutex
	m  map[peer.ID]penalty
}

type penalty struct {
	score float64
	at    time.Time
}

// NewPenalties returns an empty score; a nil now means time.Now.
func NewPenalties(now func() time.Time) *Penalties {
	if now == nil {
		now = time.Now
	}
	return &Penalties{now: now, m: map[peer.ID]penalty{}}
}

// Add adds points (negative: a penalty) to id's score.
func (p *Penalties) Add(id peer.ID, points float64) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[id] = penalty{score: p.decayed(p.m[id], now) + points, at: now}
}

// Score is id's current score: 0 for a peer never penalised.
func (p *Penalties) Score(id peer.ID) float64 {
	if p == nil {
		return 0
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	pe, ok := p.m[id]
	if !ok {
		return 0
	}
	s := p.decayed(pe, now)
	if math.Abs(s) < 1 {
		delete(p.m, id)
		return 0
	}
	return s
}

func (p *Penalties) decayed(pe penalty, now time.Time) float64 {
	if pe.score == 0 {
		return 0
	}
	return pe.score * math.Pow(InvalidDecay, now.Sub(pe.at).Seconds())
}
