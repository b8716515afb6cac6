package p2p

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// PairTimeout is how long a peer that is not on the allowlist, admitted
// because an invitation is open, may stay connected without pairing: a real
// acceptor proves its invitation within one round trip of connecting.
const PairTimeout = 10 * time.Second

// Admission limits for strangers (peers not on the allowlist):
const (
	// maxStrangers bounds the strangers connected at once, and
	// maxPerSource those from one source (an IPv4 /24, an IPv6 /48; a
	// relayed peer counts as its relay's address).
	maxStrangers = 32
	maxPerSource = 8
	// maxFailures failed attempts within failWindow keep that peer ID out
	// until they age out. An admission fails when a pair stream ends
	// without the peer on the allowlist, when PairTimeout passes without
	// pairing, or when the stranger's place goes to a newcomer; each
	// admission counts once.
	maxFailures = 3
	failWindow  = 10 * time.Minute
	// maxTracked bounds the peer IDs whose failures are remembered.
	maxTracked = 4096
)

// Pairing decides when peers that are not on the allowlist may connect, for
// the pair protocol only (DESIGN 7: invitations):
//
//   - While at least one invitation is open (SetOpenUntil), the gater admits
//     inbound connections from peers that are not allowlisted. Such a peer
//     can use only the pair protocol (see [HandlePair]; [Handle] resets its
//     other streams) and is disconnected after PairTimeout unless it got on
//     the allowlist meanwhile.
//   - Strangers cannot hold the door shut: when maxStrangers are connected,
//     or maxPerSource from the newcomer's source, the newcomer takes the
//     place of another, which is disconnected: repeat offenders first,
//     then one without a pair stream in progress, then the longest
//     waiting. A valid invitee is therefore always admitted, and as it has
//     no failures and opens its pair stream at once it is the last to go.
//   - A peer ID with maxFailures failed attempts within failWindow is
//     refused until they age out.
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
	admitted  map[peer.ID]*stranger
	failed    map[peer.ID][]time.Time // recent failed attempts, oldest first
	refused   *seenSet                // peers refused for failures, to log once
	allow     *Allowlist
	h         host.Host
	log       *slog.Logger
	closed    bool
}

// stranger is an admitted peer that has not paired yet.
type stranger struct {
	source  string
	since   time.Time
	proving int  // pair streams being served (at most one)
	failed  bool // an attempt already counted as failed
	timer   *time.Timer
}

// NewPairing returns a Pairing with no open invitation.
func NewPairing() *Pairing {
	return &Pairing{dialing: map[peer.ID]int{}, admitted: map[peer.ID]*stranger{}, failed: map[peer.ID][]time.Time{}, refused: newSeenSet(seenCapacity)}
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
// allowlist, coming from addr: yes while an invitation is open and id has
// not failed too often, taking the place of another stranger if the limits
// are reached. The first admission of a peer starts its pairing timer.
func (p *Pairing) admit(id peer.ID, addr ma.Multiaddr) bool {
	if p == nil {
		return false
	}
	now := time.Now()
	p.mu.Lock()
	if p.closed || !now.Before(p.openUntil) {
		p.mu.Unlock()
		return false
	}
	if _, ok := p.admitted[id]; ok {
		p.mu.Unlock()
		return true
	}
	p.forgetPaired()
	if n := p.recentFailures(id, now); n >= maxFailures {
		log, first := p.log, p.refused.first(id)
		p.mu.Unlock()
		if log != nil {
			level := slog.LevelDebug
			if first {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "refused a peer that wants to pair: too many failed attempts",
				"peer", id, "addr", addr, "failures", n, "window", failWindow)
		}
		return false
	}
	src := sourceOf(addr)
	var victim peer.ID
	switch {
	case p.count(src) >= maxPerSource:
		victim = p.victim(src)
	case len(p.admitted) >= maxStrangers:
		victim = p.victim("")
	}
	var waited time.Duration
	if victim != "" {
		v := p.admitted[victim]
		v.timer.Stop()
		delete(p.admitted, victim)
		waited = now.Sub(v.since)
		if !v.failed {
			p.fail(victim, now)
		}
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = PairTimeout
	}
	st := &stranger{source: src, since: now}
	st.timer = time.AfterFunc(timeout, func() { p.expire(id, st) })
	p.admitted[id] = st
	h, log := p.h, p.log
	p.mu.Unlock()
	if victim != "" {
		if log != nil {
			log.Debug("disconnecting a peer that waited to pair, to admit another", "peer", victim, "waited", waited.Round(time.Millisecond), "for", id, "source", src)
		}
		if h != nil {
			go p.disconnect(h, victim)
		}
	}
	return true
}

// forgetPaired frees the places of strangers that got on the allowlist.
// p.mu is held.
func (p *Pairing) forgetPaired() {
	if p.allow == nil {
		return
	}
	for id, s := range p.admitted {
		if p.allow.Has(id) {
			s.timer.Stop()
			delete(p.admitted, id)
		}
	}
}

// count is how many strangers from src are admitted. p.mu is held.
func (p *Pairing) count(src string) int {
	n := 0
	for _, s := range p.admitted {
		if s.source == src {
			n++
		}
	}
	return n
}

// victim picks the stranger (from src, or from anywhere if src is empty)
// whose place goes to a newcomer: more failed attempts first, then one
// without a pair stream in progress, then the longest waiting.
// p.mu is held.
func (p *Pairing) victim(src string) peer.ID {
	now := time.Now()
	var best peer.ID
	var bs *stranger
	var bf int
	for id, s := range p.admitted {
		if src != "" && s.source != src {
			continue
		}
		f := p.recentFailures(id, now)
		if bs == nil || before(s, f, bs, bf) {
			best, bs, bf = id, s, f
		}
	}
	return best
}

// before reports whether a (with fa failures) is evicted before b.
func before(a *stranger, fa int, b *stranger, fb int) bool {
	if fa != fb {
		return fa > fb
	}
	if (a.proving > 0) != (b.proving > 0) {
		return a.proving == 0
	}
	return a.since.Before(b.since)
}

// recentFailures counts id's failed attempts within failWindow, forgetting
// older ones. p.mu is held.
func (p *Pairing) recentFailures(id peer.ID, now time.Time) int {
	ts := p.failed[id]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > failWindow {
		i++
	}
	if i == len(ts) {
		delete(p.failed, id)
		return 0
	}
	p.failed[id] = ts[i:]
	return len(ts) - i
}

// fail records a failed attempt of id. p.mu is held.
func (p *Pairing) fail(id peer.ID, now time.Time) {
	if _, ok := p.failed[id]; !ok && len(p.failed) >= maxTracked {
		for old := range p.failed {
			p.recentFailures(old, now) // forgets what aged out
		}
		for old := range p.failed {
			if len(p.failed) < maxTracked {
				break
			}
			delete(p.failed, old)
		}
	}
	p.failed[id] = append(p.failed[id], now)
}

// beginProof is called when a stranger's pair stream starts, endProof when
// it ends: paired says whether the stranger got on the allowlist. A stream
// that did not pair it is a failed attempt. beginProof refuses a second
// stream while one runs (false), so that a stranger holds at most one
// request frame in memory; endProof must not be called then.
func (p *Pairing) beginProof(id peer.ID) bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.admitted[id]
	if s == nil {
		return true // admitted before a restart of the pairing state, or evicted meanwhile
	}
	if s.proving > 0 {
		return false
	}
	s.proving++
	return true
}

func (p *Pairing) endProof(id peer.ID, paired bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.admitted[id]
	if s != nil {
		s.proving--
	}
	switch {
	case paired && s != nil:
		s.timer.Stop()
		delete(p.admitted, id)
	case !paired && (s == nil || !s.failed):
		if s != nil {
			s.failed = true
		}
		p.fail(id, time.Now())
	}
}

// expire disconnects id if it has not paired (got on the allowlist) while
// admitted as st.
func (p *Pairing) expire(id peer.ID, st *stranger) {
	p.mu.Lock()
	if p.admitted[id] != st {
		p.mu.Unlock()
		return // evicted, or paired and admitted again since
	}
	delete(p.admitted, id)
	h, allow, log, closed := p.h, p.allow, p.log, p.closed
	paired := allow != nil && allow.Has(id)
	if !paired && !st.failed {
		p.fail(id, time.Now())
	}
	p.mu.Unlock()
	if closed || h == nil || paired {
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

// disconnect closes the connections of an evicted stranger unless it got on
// the allowlist meanwhile.
func (p *Pairing) disconnect(h host.Host, id peer.ID) {
	p.mu.Lock()
	allow, readmitted := p.allow, p.admitted[id] != nil
	p.mu.Unlock()
	if readmitted || (allow != nil && allow.Has(id)) {
		return
	}
	_ = h.Network().ClosePeer(id)
}

// sourceOf names the network a connection comes from: the IPv4 /24 or the
// IPv6 /48 of its first IP address (for a relayed connection, the relay's).
func sourceOf(addr ma.Multiaddr) string {
	for _, c := range addr {
		switch c.Protocol().Code {
		case ma.P_IP4:
			ip := net.IP(c.RawValue()).Mask(net.CIDRMask(24, 32))
			return ip.String() + "/24"
		case ma.P_IP6:
			ip := net.IP(c.RawValue()).Mask(net.CIDRMask(48, 128))
			return ip.String() + "/48"
		}
	}
	return "other"
}

// Close stops the pairing timers and admits nobody any more.
func (p *Pairing) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, s := range p.admitted {
		s.timer.Stop()
		delete(p.admitted, id)
	}
}
