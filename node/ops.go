package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/store"
)

// Operator commands: the queue, blocked twins and their retry, pausing a
// peer, and the history of an issue.

// QueueEntry is the pending outgoing work for one peer.
type QueueEntry struct {
	Peer     string    `json:"peer"`
	PeerName string    `json:"peer_name,omitempty"`
	Pending  int       `json:"pending"`
	Oldest   time.Time `json:"oldest,omitzero"`
	Age      string    `json:"age,omitempty"`
	Paused   bool      `json:"paused"`
	Incoming int       `json:"incoming"` // received from the peer, waiting to be applied
	// Blocked counts the peer's blocked records (see errors): twins whose
	// events from it wait here, not sent to it, or failed there.
	Blocked int `json:"blocked,omitempty"`
}

// RetryInput is the body of retry: one issue key (or twin ID, for a twin
// that could not be created here), or all.
type RetryInput struct {
	Key string `json:"key,omitempty"`
	All bool   `json:"all,omitempty"`
}

// RetryResult says which twins were released.
type RetryResult struct {
	Retried []store.Blocked `json:"retried"`
}

// HistoryView is the history of one issue.
type HistoryView struct {
	Key     string         `json:"key"`
	Twin    string         `json:"twin"`
	Records []store.Record `json:"records"`
}

func (n *Node) registerOps(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/queue", n.apiQueue)
	mux.HandleFunc("GET /v1/errors", n.apiErrors)
	mux.HandleFunc("POST /v1/retry", n.apiRetry)
	mux.HandleFunc("POST /v1/peers/{peer}/pause", func(w http.ResponseWriter, r *http.Request) { n.apiPause(w, r, true) })
	mux.HandleFunc("POST /v1/peers/{peer}/resume", func(w http.ResponseWriter, r *http.Request) { n.apiPause(w, r, false) })
	mux.HandleFunc("GET /v1/history/{key}", n.apiHistory)
}

func (n *Node) apiQueue(w http.ResponseWriter, r *http.Request) {
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
		writeErr(w, err)
		return
	}
	out := make([]QueueEntry, 0, len(peers))
	now := time.Now()
	for _, p := range peers {
		q := QueueEntry{Peer: p.ID, PeerName: p.Name, Paused: p.Paused, Incoming: incoming[p.ID], Blocked: blocked[p.ID]}
		if st := stats[p.ID]; st != nil {
			q.Pending, q.Oldest = st.Pending, st.Oldest
			if !st.Oldest.IsZero() {
				q.Age = now.Sub(st.Oldest).Round(time.Millisecond).String()
			}
		}
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PeerName+out[i].Peer < out[j].PeerName+out[j].Peer })
	writeJSON(w, 200, out)
}

func (n *Node) apiErrors(w http.ResponseWriter, r *http.Request) {
	var bs []store.Blocked
	if err := n.store.View(func(tx *store.Tx) (err error) { bs, err = engine.BlockedAll(tx); return }); err != nil {
		writeErr(w, err)
		return
	}
	bs = append(bs, n.refused.notices()...) // refusals.go
	if bs == nil {
		bs = []store.Blocked{}
	}
	for _, re := range n.rulesErrors() {
		bs = append(bs, store.Blocked{Peer: re.Link, Dir: DirRules, Error: re.Error, Since: re.Since})
	}
	bs = append(bs, n.diskErrors()...)
	name := n.peerNamer()
	for i := range bs {
		bs[i].PeerName = name(bs[i].Peer)
	}
	writeJSON(w, 200, bs)
}

// DirRules marks an entry of errors that is no twin but a link whose rules
// or trigger do not load (Peer names it; Twin is empty).
const DirRules store.BlockDir = "rules"

func (n *Node) apiRetry(w http.ResponseWriter, r *http.Request) {
	var in RetryInput
	if err := readJSON(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	res, err := n.Retry(r.Context(), in)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, res)
}

// Retry releases blocked twins: one issue's (by local key, or twin ID for a
// twin that could not be created here), or all; every record of the twin
// (one per link and direction) is retried for what it held:
//   - blocked here (store.BlockIn): the held events of that link are
//     applied again from the oldest, in order;
//   - refused here (store.BlockOut): the twin is shared with that link
//     again; only what changed since the link's baseline gets a clock, so
//     an old value never comes back with a fresh one;
//   - failed at the peer (store.BlockAtPeer): the link's agreed state is
//     sent again with its original clocks, and any local change since.
//
// The rule files are reloaded first, so that a fix counts at once.
func (n *Node) Retry(ctx context.Context, in RetryInput) (RetryResult, error) {
	if in.Key == "" && !in.All {
		return RetryResult{}, fmt.Errorf("%w: name an issue key or ask for all", errBadRequest)
	}
	n.reloadConfig(ctx, false) // an edited map applies to this retry
	n.reloadRules()
	var res RetryResult
	var wake []string
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		res.Retried, wake = res.Retried[:0], wake[:0]
		bs, err := engine.BlockedAll(tx)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, b := range bs {
			if !in.All && b.LocalKey != in.Key && b.Twin != in.Key {
				continue
			}
			engine.Unblock(tx, b.Twin, b.Dir, b.Peer)
			res.Retried = append(res.Retried, b)
			if b.Dir != store.BlockAtPeer || isNetLink(b.Peer) {
				continue
			}
			tw, err := tx.GetTwin(b.Twin)
			if err != nil {
				continue
			}
			if l := tw.Links[b.Peer]; l != nil && !l.Unsynced {
				if err := n.queueEvent(tx, tw, b.Peer, l, nil, now); err != nil {
					return err
				}
				if err := tx.PutTwin(tw); err != nil {
					return err
				}
				wake = append(wake, b.Peer)
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if !in.All && len(res.Retried) == 0 {
		return res, fmt.Errorf("%w: issue %s is not blocked", store.ErrNotFound, in.Key)
	}
	for _, l := range wake {
		n.wakeLink(l)
	}
	for _, b := range res.Retried {
		if isNet, err := n.retryNet(ctx, b); isNet {
			if err != nil {
				return res, err
			}
			continue
		}
		id, err := peer.Decode(b.Peer)
		if err != nil {
			continue
		}
		if b.Dir != store.BlockIn {
			if b.LocalKey == "" {
				continue
			}
			if err := n.share(ctx, []string{b.LocalKey}, []peer.ID{id}); err != nil {
				return res, err
			}
		} else if ps := n.peer(id); ps != nil {
			ps.kick(ps.wakeApply)
		}
	}
	if res.Retried == nil {
		res.Retried = []store.Blocked{}
	}
	return res, nil
}

// resolvePeer finds a peer by ID or name.
func (n *Node) resolvePeer(s string) (peer.ID, error) {
	if id, err := peer.Decode(s); err == nil {
		if n.peer(id) != nil {
			return id, nil
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var found []peer.ID
	for id, ps := range n.peers {
		ps.mu.Lock()
		name := ps.info.Name
		ps.mu.Unlock()
		if name == s {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("%w: no peer with ID or name %q", store.ErrNotFound, s)
	default:
		return "", fmt.Errorf("%w: %d peers are named %q; use the peer ID", errBadRequest, len(found), s)
	}
}

func (n *Node) apiPause(w http.ResponseWriter, r *http.Request, pause bool) {
	id, err := n.resolvePeer(r.PathValue("peer"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := n.SetPaused(r.Context(), id, pause); err != nil {
		writeErr(w, err)
		return
	}
	infos, err := n.peerInfos()
	if err != nil {
		writeErr(w, err)
		return
	}
	for _, pi := range infos {
		if pi.ID == id.String() {
			writeJSON(w, 200, pi)
			return
		}
	}
	writeErr(w, errors.New("peer vanished"))
}

// SetPaused pauses or resumes sending to a peer. While paused, changes keep
// queueing; on resume they all go out in order.
func (n *Node) SetPaused(ctx context.Context, id peer.ID, pause bool) error {
	var p store.Peer
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = tx.GetPeer(id.String()); err != nil {
			return err
		}
		p.Paused = pause
		return tx.PutPeer(p)
	})
	if err != nil {
		return err
	}
	if ps := n.peer(id); ps != nil {
		ps.mu.Lock()
		ps.info = p
		ps.mu.Unlock()
		ps.kick(ps.wakeSend)
	}
	n.log.Info("peer paused state changed", "peer", id, "paused", pause)
	return nil
}

func (n *Node) apiHistory(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	var v HistoryView
	err := n.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		v.Key, v.Twin = key, tw.ID
		v.Records, err = tx.History(tw.ID)
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	if v.Records == nil {
		v.Records = []store.Record{}
	}
	name := n.peerNamer()
	for i := range v.Records {
		v.Records[i].PeerName = name(v.Records[i].Peer)
	}
	writeJSON(w, 200, v)
}

// receivedKeep is how many finished received markers are kept per peer
// for deduplication of retransmissions.
const receivedKeep = 100_000

// runMaintenance bounds the sync log's bookkeeping once an hour.
func (n *Node) runMaintenance(ctx context.Context) error {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, id := range n.peerIDs() {
			for {
				var dropped int
				err := n.store.Update(ctx, func(tx *store.Tx) (err error) {
					dropped, err = tx.PruneReceived(id.String(), receivedKeep, 10_000)
					return err
				})
				if err != nil {
					n.log.Warn("pruning the received set failed", "peer", id, "err", err)
					break
				}
				if dropped == 0 {
					break
				}
				n.log.Debug("pruned the received set", "peer", id, "dropped", dropped)
			}
		}
		n.kickGC()
	}
}
