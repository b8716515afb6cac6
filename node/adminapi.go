package node

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/p2p/syncproto"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/store"
)

// The node's side of the admin API: adminBackend is the api.Backend of a
// node. It answers from the node's store and services, and calls the
// node's operations (Retry, Sync, RemovePeer, the networks, ...).

// Handler returns the admin API of the node.
func (n *Node) Handler() http.Handler { return api.NewServer(adminBackend{n}) }

// Backend is the node as the admin API serves it (in-process callers:
// bench).
func (n *Node) Backend() api.Backend { return adminBackend{n} }

// adminBackend is the node as the admin API sees it.
type adminBackend struct{ n *Node }

var _ api.Backend = adminBackend{}

func (b adminBackend) ID() api.IDInfo {
	return api.IDInfo{PeerID: b.n.self.String(), Addrs: b.n.Addrs()}
}

func (b adminBackend) Status(ctx context.Context) (api.Status, error) {
	n := b.n
	st := api.Status{PeerID: n.self.String(), Addrs: n.Addrs(), Running: n.hostOrNil() != nil}
	peers, err := b.peerInfos()
	if err != nil {
		return st, err
	}
	st.Peers = peers
	st.NAT = b.natStatus()
	st.Refused = n.refused.count()
	st.CatchUps = n.mesh.CatchUps()
	err = n.store.View(func(tx *store.Tx) error {
		var err error
		if st.Pending, err = tx.Count("o/"); err != nil {
			return err
		}
		if st.Incoming, err = tx.Count("i/"); err != nil {
			return err
		}
		if st.Blocked, st.BlockedRecords, err = engine.BlockedCounts(tx); err != nil {
			return err
		}
		if st.Held, err = heldConflicts(tx); err != nil {
			return err
		}
		st.Twins, err = tx.Count("t/")
		return err
	})
	if err != nil {
		return st, err
	}
	if len(st.Held) > 0 {
		name := peerNamer(n.store)
		for i := range st.Held {
			st.Held[i].LinkName = name(st.Held[i].Link)
		}
	}
	st.RulesErrors = n.rules.Errors()
	st.Tracker, st.Config = n.TrackerHealth(), n.live.State()
	st.Disk = n.space.Status()
	lifeStatus(&st, n.life, n.gc)
	return st, nil
}

func (b adminBackend) TrackerHealth() api.TrackerHealth { return b.n.TrackerHealth() }

func (b adminBackend) Backup(ctx context.Context, dir string) (api.BackupInfo, error) {
	return b.n.Backup(ctx, dir)
}

func (b adminBackend) Metrics() http.Handler { return b.n.metrics.handler() }

func (b adminBackend) Tracker() adapters.Tracker { return b.n.tracker }

func (b adminBackend) EachIssue(ctx context.Context, fn func([]adapters.Issue) error) error {
	return b.n.eng.EachIssue(ctx, fn)
}

func (b adminBackend) Twins(ctx context.Context, key string) (string, []api.TwinRef, error) {
	n := b.n
	var twin string
	var refs []api.TwinRef
	err := n.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		twin = tw.ID
		peers, err := tx.Peers()
		if err != nil {
			return err
		}
		names := make(map[string]string, len(peers))
		for _, p := range peers {
			names[p.ID] = p.Name
		}
		for pid, l := range tw.Links {
			if isNetLink(pid) {
				refs = append(refs, netTwinRefs(n.mesh, tx, pid, l)...)
				continue
			}
			refs = append(refs, api.TwinRef{Peer: pid, PeerName: names[pid], Key: l.RemoteKey, Synced: !l.Unsynced})
		}
		return nil
	})
	return twin, refs, err
}

func (b adminBackend) History(ctx context.Context, key string) (api.HistoryView, error) {
	v := api.HistoryView{Key: key}
	err := b.n.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		v.Twin = tw.ID
		v.Records, err = tx.History(tw.ID)
		return err
	})
	if err != nil {
		return v, err
	}
	name := peerNamer(b.n.store)
	for i := range v.Records {
		v.Records[i].PeerName = name(v.Records[i].Peer)
	}
	return v, nil
}

func (b adminBackend) Peers(ctx context.Context) ([]api.PeerInfo, error) { return b.peerInfos() }

func (b adminBackend) AddPeer(ctx context.Context, addr, name string) (store.Peer, error) {
	return b.n.AddPeer(ctx, addr, name)
}

func (b adminBackend) RemovePeer(ctx context.Context, who string) (api.RemoveResult, error) {
	id, err := b.n.resolvePeer(who)
	if err != nil {
		return api.RemoveResult{}, err
	}
	return b.n.RemovePeer(ctx, id)
}

func (b adminBackend) PausePeer(ctx context.Context, who string, pause bool) (api.PeerInfo, error) {
	id, err := b.n.resolvePeer(who)
	if err != nil {
		return api.PeerInfo{}, err
	}
	if err := b.setPaused(ctx, id, pause); err != nil {
		return api.PeerInfo{}, err
	}
	infos, err := b.peerInfos()
	if err != nil {
		return api.PeerInfo{}, err
	}
	for _, pi := range infos {
		if pi.ID == id.String() {
			return pi, nil
		}
	}
	return api.PeerInfo{}, errors.New("peer vanished")
}

func (b adminBackend) Invite(ctx context.Context, name string, ttl time.Duration) (api.InviteResult, error) {
	return b.n.Invite(ctx, name, ttl)
}

func (b adminBackend) Invites(ctx context.Context) ([]store.Invite, error) { return b.n.pair.Open() }

// Accept pairs with the inviter of a peer's code, or joins the network of
// a network's code.
func (b adminBackend) Accept(ctx context.Context, in api.AcceptInput) (api.AcceptResult, error) {
	if inv, err := pairing.Decode(in.Code); err == nil && inv.Network != "" {
		res, err := b.n.mesh.Join(ctx, inv)
		if err != nil {
			return api.AcceptResult{}, badInvitation(err)
		}
		return api.AcceptResult{Join: &res}, nil
	}
	p, err := b.n.Accept(ctx, in.Code, in.Name)
	if err != nil {
		return api.AcceptResult{}, err
	}
	return api.AcceptResult{Peer: &p}, nil
}

func (b adminBackend) Queue(ctx context.Context) ([]api.QueueEntry, error) {
	n := b.n
	var peers []store.Peer
	var stats map[string]*store.QueueStat
	incoming, blocked := map[string]int{}, map[string]int{}
	err := n.store.View(func(tx *store.Tx) error {
		var err error
		if peers, err = tx.Peers(); err != nil {
			return err
		}
		if stats, err = tx.QueueStats(); err != nil {
			return err
		}
		for _, p := range peers {
			if incoming[p.ID], err = tx.Count("i/" + p.ID + "/"); err != nil {
				return err
			}
		}
		bs, err := engine.BlockedAll(tx)
		for _, b := range bs {
			blocked[b.Peer]++
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]api.QueueEntry, 0, len(peers))
	now := time.Now()
	for _, p := range peers {
		q := api.QueueEntry{Peer: p.ID, PeerName: p.Name, Paused: p.Paused, Incoming: incoming[p.ID], Blocked: blocked[p.ID]}
		if st := stats[p.ID]; st != nil {
			q.Pending, q.Oldest = st.Pending, st.Oldest
			if !st.Oldest.IsZero() {
				q.Age = now.Sub(st.Oldest).Round(time.Millisecond).String()
			}
		}
		q.FilesOut, q.FilesIn = n.filesMoving(p.ID, syncproto.Sending), n.filesMoving(p.ID, syncproto.Receiving)
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b api.QueueEntry) int { return strings.Compare(a.PeerName+a.Peer, b.PeerName+b.Peer) })
	return out, nil
}

func (b adminBackend) Errors(ctx context.Context) ([]store.Blocked, error) {
	n := b.n
	var bs []store.Blocked
	if err := n.store.View(func(tx *store.Tx) (err error) { bs, err = engine.BlockedAll(tx); return }); err != nil {
		return nil, err
	}
	if err := n.store.View(func(tx *store.Tx) error { peerSides(tx, bs); return nil }); err != nil {
		return nil, err
	}
	bs = append(bs, n.refused.notices()...) // refusals.go
	for _, re := range n.rules.Errors() {
		bs = append(bs, store.Blocked{Peer: re.Link, Dir: api.DirRules, Error: re.Error, Since: re.Since})
	}
	bs = append(bs, diskErrors(n.space)...)
	name := peerNamer(n.store)
	for i := range bs {
		bs[i].PeerName = name(bs[i].Peer)
	}
	return bs, nil
}

func (b adminBackend) TestRules(ctx context.Context, in api.RulesTestInput) (api.RulesTestResult, error) {
	return b.n.rules.Test(ctx, in)
}

func (b adminBackend) Networks(ctx context.Context) ([]api.NetworkInfo, error) {
	return b.n.mesh.Networks()
}

func (b adminBackend) CreateNetwork(ctx context.Context, name string) (api.NetworkInfo, error) {
	return b.n.mesh.Create(ctx, name)
}

// InviteNetwork issues a single-use invitation into the network with that
// name; the acceptor will be called member there (default: its short ID).
func (b adminBackend) InviteNetwork(ctx context.Context, name, member string, ttl time.Duration) (api.InviteResult, error) {
	res, err := b.n.mesh.Invite(ctx, name, member, ttl)
	return api.InviteResult(res), badInvitation(err)
}

func (b adminBackend) LeaveNetwork(ctx context.Context, name string) (api.NetworkInfo, error) {
	return b.n.mesh.Leave(ctx, name)
}
