package mesh

import (
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Verifying network events (DESIGN 5.6, 5.10). Every event of a network,
// gossiped or fetched by catch-up, passes verifyNetEvent before anything
// else looks at it: the envelope opens, the event decodes, its author's
// signature verifies (p2p.VerifyEvent against Event.Origin), it belongs to
// the network (checkNetEvent) and its clocks are within max_clock_skew.
// What differs per path is only what comes around it: gossip also needs
// the author to be the message's signed author and a current member (the
// topic validator); catch-up takes the events of former members too, for
// what they wrote while members (netIngest, memberAuthorOK).

// errForged is wrapped by verifyNetEvent for an event its author did not
// sign: whoever handed it over forged it (or passed on a forgery).
var errForged = errors.New("forged network event")

// verifyNetEvent is the one check of a network event's envelope env. An
// event refused for its clocks (replica.ErrClockAhead) comes back with the
// error, for refusedNet.
func (n *Mesh) verifyNetEvent(ns *netState, env []byte) (netItem, error) {
	frame, sig, err := p2p.OpenEvent(env)
	if err != nil {
		return netItem{}, fmt.Errorf("%w: %w", errForged, err)
	}
	ev, err := replica.UnmarshalEvent(frame)
	if err != nil {
		return netItem{}, err
	}
	author, err := peer.Decode(ev.Origin)
	if err != nil {
		return netItem{}, fmt.Errorf("event %s: author %q is not a peer ID: %w", ev.ID, ev.Origin, replica.ErrMalformed)
	}
	if err := p2p.VerifyEvent(author, frame, sig); err != nil {
		return netItem{}, fmt.Errorf("%w: event %s (seq %d of %s): %w", errForged, ev.ID, ev.Seq, author, err)
	}
	if err := checkNetEvent(ns.id, &ev); err != nil {
		return netItem{}, err
	}
	it := netItem{ev: ev, frame: frame, env: env}
	if err := n.eng.CheckClocks(&ev); err != nil {
		return it, fmt.Errorf("event %s (seq %d of %s): %w", ev.ID, ev.Seq, author, err)
	}
	return it, nil
}

// signNet wraps this node's event frame in its signed envelope.
func (n *Mesh) signNet(frame []byte) ([]byte, error) { return p2p.SignEvent(n.key, frame) }

// memberAuthorOK reports whether an event of a network may be taken from
// its author: a current member; or, by catch-up, a former member for what
// it wrote while a member (every clock of the event before its leave).
func memberAuthorOK(rec *store.Network, ev *replica.Event, catchUp bool) bool {
	m := rec.Member(ev.Origin)
	switch {
	case m.Joined():
		return true
	case !catchUp || m == nil:
		return false
	}
	left := m.State.Clock
	before := func(c replica.Clock) bool { return c.Less(left) }
	for _, v := range ev.Replica.Fields {
		if !before(v.Clock) {
			return false
		}
		for _, e := range v.E {
			if !before(e.Clock) {
				return false
			}
		}
	}
	for i := range ev.Replica.Comments {
		if !before(ev.Replica.Comments[i].Clock) {
			return false
		}
	}
	return true
}

// forgery records that member id answered a catch-up with a forged event:
// logged with its peer ID, scored down (p2p.ForgeryPenalty, which
// gossipsub counts too) and noted in errors.
func (n *Mesh) forgery(ns *netState, id peer.ID, err error) {
	n.nets.pen.Add(id, p2p.ForgeryPenalty)
	n.log.Warn("a member answered a catch-up with a forged event; its answer is refused and the member scored down",
		"network", ns.name, "peer", id, "score", n.nets.pen.Score(id), "err", err)
	n.eng.Refused(store.Blocked{Peer: id.String(), Error: fmt.Sprintf("catch-up answer of network %s from %s refused: %v", ns.name, id, err)})
}

// refusedNet notes a network event refused for its clocks, handed over
// by peer from, and keeps a report for its author, which the next catch-up
// request to the author carries (the network's equivalent of a failed ack).
func (n *Mesh) refusedNet(ns *netState, from peer.ID, ev *replica.Event, err error) {
	n.log.Warn("refused a network event with a clock too far ahead", "network", ns.name, "from", from, "author", ev.Origin, "err", err)
	n.eng.Refused(store.Blocked{Twin: ev.Twin, Peer: ns.link, Seq: ev.Seq, Error: fmt.Sprintf("from %s: %v", from, err)})
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	if n.nets.reports == nil {
		n.nets.reports = map[string][]netRefusal{}
	}
	key := ns.id + "/" + ev.Origin
	if r := n.nets.reports[key]; len(r) < maxRefusalReports && !slices.ContainsFunc(r, func(x netRefusal) bool { return x.Seq == ev.Seq }) {
		n.nets.reports[key] = append(r, netRefusal{Seq: ev.Seq, Twin: ev.Twin, Error: truncate(err.Error(), maxRefusalError)})
	}
}

// netRefusal tells an author that the asker refused one of its events.
type netRefusal struct {
	Seq   uint64 `msgpack:"seq"`
	Twin  string `msgpack:"twin"`
	Error string `msgpack:"err"`
}

const (
	// maxRefusalReports bounds the reports one catch-up request carries.
	maxRefusalReports = 16
	// maxRefusalError bounds a report's error text.
	maxRefusalError = 1024
)

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// takeReports hands over the refusal reports for author id in a network.
func (n *Mesh) takeReports(ns *netState, id peer.ID) []netRefusal {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	key := ns.id + "/" + id.String()
	r := n.nets.reports[key]
	delete(n.nets.reports, key)
	return r
}

// giveBackReports keeps reports a failed catch-up request did not deliver.
func (n *Mesh) giveBackReports(ns *netState, id peer.ID, r []netRefusal) {
	if len(r) == 0 {
		return
	}
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	if n.nets.reports == nil {
		n.nets.reports = map[string][]netRefusal{}
	}
	key := ns.id + "/" + id.String()
	n.nets.reports[key] = append(r, n.nets.reports[key]...)[:min(len(r)+len(n.nets.reports[key]), maxRefusalReports)]
}

// reportedRefusals records what member remote says it refused of this
// node's events: a notice in errors and a log line per report.
func (n *Mesh) reportedRefusals(netID string, remote peer.ID, rs []netRefusal) {
	if len(rs) > maxRefusalReports {
		rs = rs[:maxRefusalReports]
	}
	for _, r := range rs {
		msg := fmt.Sprintf("member %s refused this node's event %d: %s", remote, r.Seq, truncate(r.Error, maxRefusalError))
		n.log.Warn("a member refused an event of this node", "network", netID, "peer", remote, "seq", r.Seq, "twin", r.Twin, "err", r.Error)
		n.eng.Refused(store.Blocked{Twin: truncate(r.Twin, 128), Peer: netLink(netID), Seq: r.Seq, Error: msg})
	}
}

// checkOwnNet checks one of this node's events before it is published: one
// clocked too far ahead (this node's clock was stepped back since) would
// be refused by every member, and by this node's own topic validator, which
// would hold every later event behind it; it is dropped with a notice.
func (n *Mesh) checkOwnNet(ns *netState, frame []byte) error {
	ev, err := replica.UnmarshalEvent(frame)
	if err != nil {
		return nil // the validator says why
	}
	if err := n.eng.CheckClocks(&ev); err != nil {
		n.log.Error("not publishing an event of this node clocked too far ahead; the members would refuse it", "network", ns.name, "twin", ev.Twin, "seq", ev.Seq, "err", err)
		n.eng.Refused(store.Blocked{Twin: ev.Twin, LocalKey: ev.SourceKey, Peer: ns.link, Seq: ev.Seq, Error: "not published: " + err.Error()})
		return err
	}
	return nil
}
