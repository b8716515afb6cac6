package p2p

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PairTimeout is how long a peer that is not on the allowlist, admitted
// because an invitation is open, may stay connected without pairing.
const PairTimeout = 30 * time.Second

// maxStrangers bounds how many not-yet-paired peers are admitted at once;
// more are refused until earlier ones pair or time out.
const maxStrangers = 32

// Pairing decides when peers that are not on the allowlist may connect, for
// the pair protocol only (DESIGN 7: invitations):
//
//   - While at least one invitation is open (SetOpenUntil), the gater admits
//     inbound connections from peers that are not allowlisted. Such a peer
//     can use only the pair protocol (see [HandlePair]; [Handle] resets its
//     other streams) and is disconnected after PairTimeout unless it got on
//     the allowlist meanwhile. At most maxStrangers are admitted at a time.
//   - While a node accepts an invitation, AllowDial lets it dial the inviter,
//     which it does not allowlist until the inviter said yes.
//
// With no open invitation and no dial allowance, the gater behaves as if
// there were no Pairing. Create one with NewPairing; use it with one host.
type Pairing struct {
	// Timeout replaces PairTimeout when set (tests).
	Timeout time.Duration

	mu        sync.Mutex
	openUntil time.Time
	dialing   map[peer.ID]int
	admitted  map[peer.ID]*time.Timer
	allow     *Allowlist
	h         host.Host
	log       *slog.Logger
	closed    bool
}

// NewPairing returns a Pairing with no open invitation.
func NewPairing() *Pairing {
	return &Pairing{dialing: map[peer.ID]int{}, admitted: map[peer.ID]*time.Timer{}}
}

// bind is called by NewHost before the host starts.
func (p *Pairing) bind(allow *Allowlist, log *slog.Logger) {
	p.mu.Lock()
	p.allow, p.log = allow, log
	p.mu.Unlock()
}

// attach is called by NewHost once the host runs.
func (p *Pairing) attach(h host.Host) {
	p.mu.Lock()
	p.h = h
	p.mu.Unlock()
}

// SetOpenUntil admits strangers for pairing until t (the latest expiry of
// the open invitations); the zero time closes admission.
func (p *Pairing) SetOpenUntil(t time.Time) {
	p.mu.Lock()
	p.openUntil = t
	p.mu.Unlock()
}

// Open reports whether an invitation is open now.
func (p *Pairing) Open() bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Now().Before(p.openUntil)
}

// AllowDial lets the host connect to id (in both gater checks) although id
// is not allowlisted, until the returned function is called.
func (p *Pairing) AllowDial(id peer.ID) (release func()) {
	p.mu.Lock()
	p.dialing[id]++
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			if p.dialing[id]--; p.dialing[id] <= 0 {
				delete(p.dialing, id)
			}
			p.mu.Unlock()
		})
	}
}

func (p *Pairing) dialAllowed(id peer.ID) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dialing[id] > 0
}

// admit decides on an inbound connection from id, a peer not on the
// allowlist: yes while an invitation is open and fewer than maxStrangers are
// waiting. The first admission of a peer starts its pairing timer.
func (p *Pairing) admit(id peer.ID) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !time.Now().Before(p.openUntil) {
		return false
	}
	if _, ok := p.admitted[id]; ok {
		return true
	}
	if len(p.admitted) >= maxStrangers {
		if p.log != nil {
			p.log.Warn("refused a peer that wants to pair: too many unpaired peers connected", "peer", id, "limit", maxStrangers)
		}
		return false
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = PairTimeout
	}
	p.admitted[id] = time.AfterFunc(timeout, func() { p.expire(id) })
	return true
}

// expire disconnects id if it has not paired (got on the allowlist).
func (p *Pairing) expire(id peer.ID) {
	p.mu.Lock()
	delete(p.admitted, id)
	h, allow, log, closed := p.h, p.allow, p.log, p.closed
	p.mu.Unlock()
	if closed || h == nil || (allow != nil && allow.Has(id)) {
		return
	}
	if h.Network().Connectedness(id) == network.NotConnected {
		return
	}
	if log != nil {
		log.Info("disconnecting a peer that did not pair in time", "peer", id)
	}
	_ = h.Network().ClosePeer(id)
}

// Close stops the pairing timers and admits nobody any more.
func (p *Pairing) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, t := range p.admitted {
		t.Stop()
		delete(p.admitted, id)
	}
}
