package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Membership: statements about members (replica.OpMember), who is a member
// here, and the allowlist and addresses that follow from it.

// memberEvent is this node's membership statement about member m.
func (n *Mesh) memberEvent(netID string, m *store.Member, state string) replica.Event {
	ev := replica.Event{
		V: replica.Version, ID: newID(), Twin: MemberTwin + m.ID, Origin: n.self.String(),
		Sent: time.Now().UnixNano(), Op: replica.OpMember, Net: netID,
		Member: m.ID, MemberName: m.Name, MemberAddrs: m.Addrs,
	}
	if len(ev.MemberAddrs) > replica.MaxMemberAddrs {
		ev.MemberAddrs = ev.MemberAddrs[:replica.MaxMemberAddrs]
	}
	ev.Replica.Set(replica.MemberState, replica.Value{S: state, Clock: n.hlc.Now()})
	return ev
}

// applyMember folds a membership event into the network record and
// reports whether anything changed. The newest statement about a member
// wins; its name and addresses are kept.
func applyMember(rec *store.Network, ev *replica.Event) bool {
	st, ok := ev.Replica.Fields[replica.MemberState]
	if !ok {
		return false
	}
	if rec.Members == nil {
		rec.Members = map[string]*store.Member{}
	}
	m := rec.Members[ev.Member]
	if m == nil {
		m = &store.Member{ID: ev.Member}
		rec.Members[ev.Member] = m
	}
	cur := replica.Replica{}
	if !m.State.Clock.IsZero() || m.State.S != "" {
		cur.Set(replica.MemberState, m.State)
	}
	merged, ch := replica.Merge(cur, replica.Replica{Fields: map[string]replica.Value{replica.MemberState: st}})
	m.State = merged.Fields[replica.MemberState]
	changed := !ch.Empty()
	if m.State.Clock == st.Clock {
		if ev.MemberName != "" && ev.MemberName != m.Name {
			m.Name, changed = ev.MemberName, true
		}
		for _, a := range ev.MemberAddrs {
			if !slices.Contains(m.Addrs, a) {
				m.Addrs, changed = append([]string{a}, m.Addrs...), true
			}
		}
		if len(m.Addrs) > maxStoredAddrs {
			m.Addrs = m.Addrs[:maxStoredAddrs]
		}
	}
	return changed
}

// checkNetEvent checks what a network's validator checks beyond the codec:
// the event belongs to the network, the operation is one a network carries
// and a membership event is consistent.
func checkNetEvent(netID string, ev *replica.Event) error {
	if ev.Net != netID {
		return fmt.Errorf("event of network %q on the topic of network %s", ev.Net, netID)
	}
	if ev.Seq == 0 {
		return errors.New("event without a sequence number")
	}
	switch ev.Op {
	case "":
	case replica.OpMember:
		if ev.Twin != MemberTwin+ev.Member {
			return fmt.Errorf("membership event about %s names twin %q", ev.Member, ev.Twin)
		}
		if _, err := peer.Decode(ev.Member); err != nil {
			return fmt.Errorf("membership event about %q: not a peer ID: %w", ev.Member, err)
		}
		if st, _ := ev.Replica.Str(replica.MemberState); st == replica.MemberLeft && ev.Member != ev.Origin {
			return fmt.Errorf("%s says %s left; only a member itself can leave", ev.Origin, ev.Member)
		}
	default:
		return fmt.Errorf("operation %q does not travel in networks", ev.Op)
	}
	return nil
}

// setMembersLocked takes a network's members from its record: the
// validator's view, the allowlist and the peerstore. n.nets.mu is held.
func (n *Mesh) setMembersLocked(ns *netState, rec *store.Network) {
	joined := map[peer.ID]bool{}
	for _, m := range rec.Members {
		id, err := peer.Decode(m.ID)
		if err != nil || !m.Joined() {
			continue
		}
		joined[id] = true
		if id == n.self || n.nets.h == nil {
			continue
		}
		for _, a := range m.Addrs {
			if addr, err := ma.NewMultiaddr(a); err == nil {
				n.nets.h.Peerstore().AddAddr(id, addr, peerstore.PermanentAddrTTL)
			}
		}
	}
	ns.mu.Lock()
	ns.joined = joined
	ns.mu.Unlock()
	n.refreshNetAllowLocked()
}

// membersChanged updates a running network after its record changed.
func (n *Mesh) membersChanged(rec *store.Network) {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	if ns := n.nets.running[rec.ID]; ns != nil {
		n.setMembersLocked(ns, rec)
	}
}

func (n *Mesh) refreshNetAllow() {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	n.refreshNetAllowLocked()
}

// refreshNetAllowLocked allowlists the members of every running network and
// takes off the allowlist those that are members no more (unless they are
// peers). n.nets.mu is held.
func (n *Mesh) refreshNetAllowLocked() {
	want := map[peer.ID]bool{}
	for _, ns := range n.nets.running {
		ns.mu.Lock()
		for id := range ns.joined {
			if id != n.self {
				want[id] = true
			}
		}
		ns.mu.Unlock()
	}
	for id := range want {
		if !n.nets.allowed[id] {
			n.allow.Add(id)
			n.nets.allowed[id] = true
			n.peers.Admitted(id)
		}
	}
	for id := range n.nets.allowed {
		if want[id] {
			continue
		}
		delete(n.nets.allowed, id)
		if !n.peers.IsPeer(id) {
			n.allow.Remove(id)
		}
	}
	n.peers.Kick()
}

// learnMemberAddrs remembers the addresses a network member announced of
// itself (identify) in each network it is a member of.
func (n *Mesh) learnMemberAddrs(ctx context.Context, id peer.ID, announced []ma.Multiaddr, over ma.Multiaddr) {
	fresh := p2p.UsableAddrs(announced, over, n.self, maxStoredAddrs)
	if len(fresh) == 0 {
		return
	}
	n.nets.mu.Lock()
	var ids []string
	for _, ns := range n.nets.running {
		if ns.isJoined(id) {
			ids = append(ids, ns.id)
		}
	}
	n.nets.mu.Unlock()
	for _, netID := range ids {
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			rec, err := tx.GetNetwork(netID)
			if err != nil {
				return err
			}
			m := rec.Member(id.String())
			if m == nil {
				return nil
			}
			var merged []string
			changed := false
			for _, a := range fresh {
				s := a.String()
				changed = changed || !slices.Contains(m.Addrs, s)
				merged = append(merged, s)
			}
			if !changed {
				return nil
			}
			for _, s := range m.Addrs {
				if len(merged) < maxStoredAddrs && !slices.Contains(merged, s) {
					merged = append(merged, s)
				}
			}
			m.Addrs = merged
			return tx.PutNetwork(rec)
		})
		if err != nil {
			n.log.Debug("could not remember a member's addresses", "peer", id, "err", err)
		}
	}
}

// AddMember records this node's statement that m joined a network, signed
// and published like any event, and applies it here (allowlist, addresses).
func (n *Mesh) AddMember(ctx context.Context, netID string, m *store.Member) error {
	var rec *store.Network
	err := n.store.Update(ctx, func(tx *store.Tx) (err error) {
		rec, err = n.addMember(tx, netID, m)
		return err
	})
	if err != nil {
		return err
	}
	n.membersChanged(rec)
	n.Wake(netLink(rec.ID))
	return nil
}

// addMember records m's join of network netID in tx.
func (n *Mesh) addMember(tx *store.Tx, netID string, m *store.Member) (*store.Network, error) {
	rec, err := tx.GetNetwork(netID)
	if err != nil {
		return nil, err
	}
	ev := n.memberEvent(rec.ID, m, replica.MemberJoined)
	applyMember(rec, &ev)
	if _, err := n.Append(tx, netLink(rec.ID), nil, &ev); err != nil {
		return nil, err
	}
	return rec, tx.PutNetwork(rec)
}
