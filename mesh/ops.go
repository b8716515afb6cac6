package mesh

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// The operator surface: network list, create, invite, join, leave, and
// what issue show and retry need of networks.

// Networks lists the networks with their members.
func (n *Mesh) Networks() ([]api.NetworkInfo, error) {
	var recs []*store.Network
	var stats map[string]*store.QueueStat
	err := n.store.View(func(tx *store.Tx) (err error) {
		if recs, err = tx.Networks(); err != nil {
			return err
		}
		stats, err = tx.QueueStats()
		return err
	})
	if err != nil {
		return nil, err
	}
	h := n.host()
	out := make([]api.NetworkInfo, 0, len(recs))
	for _, rec := range recs {
		out = append(out, n.netInfo(rec, h, stats))
	}
	return out, nil
}

func (n *Mesh) netInfo(rec *store.Network, h host.Host, stats map[string]*store.QueueStat) api.NetworkInfo {
	info := api.NetworkInfo{ID: rec.ID, Name: rec.Name, Created: rec.Created, Left: rec.Left, Running: n.netByID(rec.ID) != nil, Members: []api.NetMemberInfo{}}
	if st := stats[netLink(rec.ID)]; st != nil {
		info.Pending = st.Pending
	}
	for _, m := range rec.Members {
		mi := api.NetMemberInfo{ID: m.ID, Name: m.Name, Self: m.ID == n.self.String(), State: m.State.S, Addrs: m.Addrs}
		if id, err := peer.Decode(m.ID); err == nil && h != nil && !mi.Self {
			mi.Connected = p2p.IsConnected(h, id)
		}
		info.Members = append(info.Members, mi)
	}
	sort.Slice(info.Members, func(i, j int) bool {
		a, b := info.Members[i], info.Members[j]
		return a.Name+a.ID < b.Name+b.ID
	})
	return info
}

// networkByName finds a network this node has not left by its name.
func networkByName(tx *store.Tx, name string) (*store.Network, error) {
	recs, err := tx.Networks()
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.Name == name && !rec.Left {
			return rec, nil
		}
	}
	return nil, fmt.Errorf("%w: no network named %q (see network list)", store.ErrNotFound, name)
}

// Create creates a network with this node as its only member.
func (n *Mesh) Create(ctx context.Context, name string) (api.NetworkInfo, error) {
	if !pairing.ValidNetworkName(name) {
		return api.NetworkInfo{}, fmt.Errorf("%w: network name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", api.ErrBadRequest, name)
	}
	rec := &store.Network{ID: newID(), Name: name, Created: nowUTC()}
	self := &store.Member{ID: n.self.String(), Name: shortID(n.self), Addrs: n.ownAddrs()}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		if _, err := networkByName(tx, name); err == nil {
			return fmt.Errorf("%w: a network named %q exists already", api.ErrBadRequest, name)
		}
		rec.Members = nil
		ev := n.memberEvent(rec.ID, self, replica.MemberJoined)
		applyMember(rec, &ev)
		if _, err := n.Append(tx, netLink(rec.ID), nil, &ev); err != nil {
			return err
		}
		return tx.PutNetwork(rec)
	})
	if err != nil {
		return api.NetworkInfo{}, err
	}
	if err := n.startNet(rec); err != nil {
		return api.NetworkInfo{}, err
	}
	n.log.Info("network created", "network", name, "id", rec.ID)
	return n.netInfo(rec, n.host(), nil), nil
}

// ownAddrs is this node's addresses to tell others, without /p2p/.
func (n *Mesh) ownAddrs() []string {
	var out []string
	for _, s := range n.peers.Addrs() {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if t, _ := peer.SplitAddr(m); t != nil && len(out) < replica.MaxMemberAddrs {
			out = append(out, t.String())
		}
	}
	return out
}

// Invite issues a single-use invitation into the network with that
// name; the acceptor will be called member there (default: its short ID).
func (n *Mesh) Invite(ctx context.Context, name, member string, ttl time.Duration) (pairing.Issued, error) {
	var rec *store.Network
	if err := n.store.View(func(tx *store.Tx) (err error) { rec, err = networkByName(tx, name); return }); err != nil {
		return pairing.Issued{}, err
	}
	return n.pair.Issue(ctx, member, ttl, rec.ID, rec.Name)
}

func snapshotOf(rec *store.Network) *pairing.Snapshot {
	s := &pairing.Snapshot{ID: rec.ID, Name: rec.Name}
	for _, m := range rec.Members {
		c := *m
		if len(c.Addrs) > maxSnapshotAddrs {
			c.Addrs = c.Addrs[:maxSnapshotAddrs]
		}
		s.Members = append(s.Members, &c)
	}
	return s
}

// AdmitMember records remote's join of the network of the invitation that
// claim returns, as a membership event (published to the network), in the
// write that claims the invitation, and returns the network's members.
func (n *Mesh) AdmitMember(ctx context.Context, remote peer.ID, told []string, over ma.Multiaddr, claim func(*store.Tx) (store.Invite, error)) (string, *pairing.Snapshot, error) {
	var addrs []ma.Multiaddr
	for _, s := range told {
		if a, err := ma.NewMultiaddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	if h := n.host(); h != nil {
		addrs = append(addrs, h.Peerstore().Addrs(remote)...)
	}
	if over != nil {
		addrs = append(addrs, over)
	}
	m := &store.Member{ID: remote.String(), Name: shortID(remote)}
	for _, a := range p2p.UsableAddrs(addrs, over, n.self, replica.MaxMemberAddrs) {
		m.Addrs = append(m.Addrs, a.String())
	}
	var rec *store.Network
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		inv, err := claim(tx)
		if err != nil {
			return err
		}
		cur, err := tx.GetNetwork(inv.Network)
		if err != nil {
			return err
		}
		if cur.Left {
			return pairing.Refusal{Reason: fmt.Sprintf("the inviter has left the network %s", cur.Name)}
		}
		if inv.Name != "" {
			m.Name = inv.Name
		}
		rec, err = n.addMember(tx, inv.Network, m)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	n.membersChanged(rec)
	n.Wake(netLink(rec.ID))
	n.log.Info("a new member joined the network by invitation", "network", rec.Name, "peer", remote, "name", m.Name)
	return m.Name, snapshotOf(rec), nil
}

// Join accepts a network invitation: it proves the code's secret to
// the inviter over the pair protocol, takes the network's members from the
// answer, joins the topic, catches up from the inviter and shares this
// node's issues with the network (by its trigger). The node must be
// running.
func (n *Mesh) Join(ctx context.Context, inv pairing.Invitation) (api.JoinResult, error) {
	h := n.host()
	if h == nil {
		return api.JoinResult{}, fmt.Errorf("%w: the node is not running; start it with 'issuemesh run', then accept the invitation", api.ErrBadRequest)
	}
	err := n.store.View(func(tx *store.Tx) error {
		rec, err := networkByName(tx, inv.NetName)
		if err == nil && rec.ID != inv.Network {
			return fmt.Errorf("%w: this node is in another network named %q already; leave it first", api.ErrBadRequest, inv.NetName)
		}
		if err == nil {
			return fmt.Errorf("%w: this node is a member of network %q already", api.ErrBadRequest, inv.NetName)
		}
		return nil
	})
	if err != nil {
		return api.JoinResult{}, err
	}
	var rec *store.Network
	err = n.pair.Dial(ctx, h, inv, n.ownAddrs(), "join network "+inv.NetName, func(resp pairing.Response) error {
		rec = &store.Network{ID: resp.Net.ID, Name: resp.Net.Name, Created: nowUTC(), Members: map[string]*store.Member{}}
		for _, m := range resp.Net.Members {
			if m == nil || m.ID == "" {
				continue
			}
			if _, err := peer.Decode(m.ID); err != nil {
				continue
			}
			rec.Members[m.ID] = m
			n.hlc.Observe(m.State.Clock)
		}
		if !rec.Member(inv.Peer.String()).Joined() || !rec.Member(n.self.String()).Joined() {
			return fmt.Errorf("the inviter's member list of network %s lacks the inviter or this node", rec.Name)
		}
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			if old, err := tx.GetNetwork(rec.ID); err == nil { // joining again after leaving
				for id, m := range old.Members {
					if _, ok := rec.Members[id]; !ok {
						rec.Members[id] = m
					}
				}
				rec.Created = old.Created
			}
			return tx.PutNetwork(rec)
		})
		if err != nil {
			return err
		}
		return n.startNet(rec)
	})
	if err != nil {
		return api.JoinResult{}, err
	}
	n.log.Info("joined a network", "network", rec.Name, "id", rec.ID, "inviter", inv.Peer, "members", len(rec.Members))
	if ns := n.netByID(rec.ID); ns != nil {
		if err := n.catchUp(ctx, ns, inv.Peer); err != nil {
			n.log.Warn("first catch-up from the inviter failed; other members are asked too", "network", rec.Name, "err", err)
		}
	}
	res := api.JoinResult{ID: inv.Peer.String(), Network: rec.Name, NetworkID: rec.ID, Members: len(rec.Members)}
	if err := n.eng.ShareAll(ctx, []string{netLink(rec.ID)}); err != nil {
		return res, fmt.Errorf("joined, but sharing existing issues failed (they are shared on their next change): %w", err)
	}
	return res, nil
}

// Leave leaves the network with that name: this node publishes what
// it has not yet published and a membership event saying it left, then
// stops syncing with the network. Its twins keep their links; members that
// are nothing else to this node leave its allowlist.
func (n *Mesh) Leave(ctx context.Context, name string) (api.NetworkInfo, error) {
	var rec *store.Network
	if err := n.store.View(func(tx *store.Tx) (err error) { rec, err = networkByName(tx, name); return }); err != nil {
		return api.NetworkInfo{}, err
	}
	ns := n.netByID(rec.ID)
	if ns == nil {
		return api.NetworkInfo{}, fmt.Errorf("%w: the node is not running; start it with 'issuemesh run' so that the other members learn that it leaves", api.ErrBadRequest)
	}
	self := &store.Member{ID: n.self.String()}
	if m := rec.Member(self.ID); m != nil {
		self.Name, self.Addrs = m.Name, m.Addrs
	}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetNetwork(rec.ID)
		if err != nil {
			return err
		}
		ev := n.memberEvent(rec.ID, self, replica.MemberLeft)
		applyMember(cur, &ev)
		if _, err := n.Append(tx, netLink(rec.ID), nil, &ev); err != nil {
			return err
		}
		rec = cur
		return tx.PutNetwork(cur)
	})
	if err != nil {
		return api.NetworkInfo{}, err
	}
	for {
		more, err := n.publishPending(ctx, ns)
		if err != nil {
			n.log.Warn("publishing before leaving failed; the other members may learn it later", "network", name, "err", err)
			break
		}
		if !more {
			break
		}
	}
	n.stopNet(rec.ID)
	err = n.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetNetwork(rec.ID)
		if err != nil {
			return err
		}
		cur.Left = true
		rec = cur
		return tx.PutNetwork(cur)
	})
	if err != nil {
		return api.NetworkInfo{}, err
	}
	n.log.Info("left the network", "network", name, "id", rec.ID)
	return n.netInfo(rec, n.host(), nil), nil
}

// MemberKey is a twin's key at one member of a network.
type MemberKey struct {
	Peer, PeerName, Key string
	// Synced is false once the twin was unsynced from the network or this
	// node left it.
	Synced  bool
	Network string
}

// TwinKeys lists, for issue show, the twin's key at each member of the
// network of link l (link key lk).
func (n *Mesh) TwinKeys(tx *store.Tx, lk string, l *store.Link) []MemberKey {
	rec, err := tx.GetNetwork(engine.LinkKey(lk).Net())
	if err != nil {
		return nil
	}
	var out []MemberKey
	for id, key := range l.Keys {
		ref := MemberKey{Peer: id, Key: key, Synced: !l.Unsynced && !rec.Left, Network: rec.Name}
		if m := rec.Member(id); m != nil {
			ref.PeerName = m.Name
		}
		out = append(out, ref)
	}
	return out
}

// Retry releases a network's blocked twin (the node's retry): an outgoing
// one is shared again, an incoming one's applier woken. It reports whether
// b was a network's.
func (n *Mesh) Retry(ctx context.Context, b store.Blocked) (bool, error) {
	link := engine.SourceKey(b.Peer).Link()
	if !link.IsNet() {
		return false, nil
	}
	if b.Dir != store.BlockIn {
		return true, n.eng.Share(ctx, []string{b.LocalKey}, []string{link.String()})
	}
	n.WakeApply(link.String())
	return true, nil
}
