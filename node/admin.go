package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/store"
)

// The admin API: HTTP+JSON on a unix socket in the node's home. The command
// line uses it while the node runs; while it does not, the command line
// serves the same handler in-process over the opened home (see Dial).

// IDInfo is the node's identity.
type IDInfo struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

// PeerInfo is one peer as the node sees it.
type PeerInfo struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Addrs     []string `json:"addrs,omitempty"`
	Connected bool     `json:"connected"`
	Relayed   bool     `json:"relayed"`              // connected through a relay only
	Via       string   `json:"via,omitempty"`        // remote address of the connection
	LatencyMS float64  `json:"latency_ms,omitempty"` // peerstore LatencyEWMA
	Paused    bool     `json:"paused"`
	Pending   int      `json:"pending"`
}

// Status is the node's state.
type Status struct {
	PeerID   string     `json:"peer_id"`
	Addrs    []string   `json:"addrs"`
	Running  bool       `json:"running"`
	Peers    []PeerInfo `json:"peers"`
	Pending  int        `json:"pending"`
	Incoming int        `json:"incoming"`
	Blocked  int        `json:"blocked"` // twins with at least one blocked record
	// BlockedRecords counts the blocked records: one per twin, link and
	// direction (see errors).
	BlockedRecords int `json:"blocked_records"`
	// Refused counts the received events refused since the node started:
	// clocks too far ahead, or forged (see errors).
	Refused int64 `json:"refused,omitempty"`

	// RulesErrors lists the links whose rules or trigger do not load, or
	// whose rule files on disk were refused, until fixed.
	RulesErrors []RulesError `json:"rules_errors,omitempty"`
	Twins       int          `json:"twins"`
	NAT         NATStatus    `json:"nat"`
	// Tracker is the tracker's health (health.go), Config what the last
	// reload of config.yaml did (liveconfig.go).
	Tracker TrackerHealth `json:"tracker"`
	Config  *ConfigState  `json:"config,omitempty"`
	// Disk is the free space of the home; Low while writes are refused.
	Disk diskspace.Status `json:"disk"`
	// Home is the home's size and the sync log's last GC; Restarts lists
	// the services that failed and were restarted (life.go).
	Home     HomeStatus       `json:"home"`
	Restarts []ServiceRestart `json:"restarts,omitempty"`
}

// TwinRef says which peer holds a synced issue under which key. A
// network's twins are listed one per member whose key is known, with the
// network's name.
type TwinRef struct {
	Peer     string `json:"peer"`
	PeerName string `json:"peer_name,omitempty"`
	Key      string `json:"key,omitempty"` // empty until the peer acked
	Synced   bool   `json:"synced"`
	Network  string `json:"network,omitempty"`
}

// IssueView is an issue with its twins.
type IssueView struct {
	adapters.Issue
	Twin  string    `json:"twin,omitempty"`
	Twins []TwinRef `json:"twins"`
}

// IssueInput is the body of issue create and edit; nil fields are left
// alone on edit.
type IssueInput struct {
	Summary     *string   `json:"summary,omitempty"`
	Description *string   `json:"description,omitempty"`
	Status      *string   `json:"status,omitempty"`
	Priority    *string   `json:"priority,omitempty"`
	Labels      *[]string `json:"labels,omitempty"`
}

// CommentInput is the body of issue comment.
type CommentInput struct {
	Body     string `json:"body"`
	Author   string `json:"author,omitempty"`
	Internal bool   `json:"internal,omitempty"`
}

// PeerInput is the body of peer add.
type PeerInput struct {
	Addr string `json:"addr"`
	Name string `json:"name,omitempty"`
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

// Handler returns the admin API.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/id", n.apiID)
	mux.HandleFunc("GET /v1/status", n.apiStatus)
	mux.HandleFunc("GET /v1/peers", n.apiPeers)
	mux.HandleFunc("POST /v1/peers", n.apiPeerAdd)
	mux.HandleFunc("GET /v1/issues", n.apiIssues)
	mux.HandleFunc("POST /v1/issues", n.apiIssueCreate)
	mux.HandleFunc("GET /v1/issues/{key}", n.apiIssue)
	mux.HandleFunc("PATCH /v1/issues/{key}", n.apiIssueEdit)
	mux.HandleFunc("POST /v1/issues/{key}/comments", n.apiIssueComment)
	n.registerOps(mux)
	n.registerPeering(mux)
	n.registerManual(mux)
	n.registerRules(mux)
	n.registerNetworks(mux)
	n.registerAttachments(mux)
	n.registerHealth(mux)
	n.registerBackup(mux)
	n.registerMetrics(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, adapters.ErrNotFound), errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, adapters.ErrRejected), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, adapters.ErrUnavailable):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, apiError{err.Error()})
}

var errBadRequest = errors.New("bad request")

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", errBadRequest, err)
	}
	return nil
}

// Addrs returns the node's full multiaddrs: the live ones while it runs,
// otherwise the configured listen addresses with unspecified IPs resolved
// to the machine's interfaces.
func (n *Node) Addrs() []string {
	if h := n.hostOrNil(); h != nil {
		return p2p.FullAddrs(h)
	}
	return ConfiguredAddrs(n.cfg.Listen, n.self)
}

// ConfiguredAddrs turns listen addresses into dialable full multiaddrs.
func ConfiguredAddrs(listen []string, id peer.ID) []string {
	var ms []ma.Multiaddr
	for _, a := range listen {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		ms = append(ms, m)
	}
	if resolved, err := manet.ResolveUnspecifiedAddresses(ms, nil); err == nil {
		ms = resolved
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.String()+"/p2p/"+id.String())
	}
	return out
}

func (n *Node) apiID(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, IDInfo{PeerID: n.self.String(), Addrs: n.Addrs()})
}

func (n *Node) apiStatus(w http.ResponseWriter, r *http.Request) {
	st := Status{PeerID: n.self.String(), Addrs: n.Addrs(), Running: n.hostOrNil() != nil}
	peers, err := n.peerInfos()
	if err != nil {
		writeErr(w, err)
		return
	}
	st.Peers = peers
	st.NAT = n.natStatus()
	st.Refused = n.refused.count()
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
		st.Twins, err = tx.Count("t/")
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	st.RulesErrors = n.rulesErrors()
	st.Tracker, st.Config = n.TrackerHealth(), n.configState()
	st.Disk = n.space.Status()
	n.lifeStatus(&st)
	writeJSON(w, 200, st)
}

func (n *Node) peerInfos() ([]PeerInfo, error) {
	var stored []store.Peer
	var stats map[string]*store.QueueStat
	err := n.store.View(func(tx *store.Tx) error {
		var err error
		if stored, err = tx.Peers(); err != nil {
			return err
		}
		stats, err = tx.QueueStats()
		return err
	})
	if err != nil {
		return nil, err
	}
	h := n.hostOrNil()
	out := make([]PeerInfo, 0, len(stored))
	for _, p := range stored {
		pi := PeerInfo{ID: p.ID, Name: p.Name, Addrs: p.Addrs, Paused: p.Paused}
		if st := stats[p.ID]; st != nil {
			pi.Pending = st.Pending
		}
		n.livePeer(&pi, h)
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].ID < out[j].Name+out[j].ID })
	return out, nil
}

func (n *Node) apiPeers(w http.ResponseWriter, r *http.Request) {
	ps, err := n.peerInfos()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, ps)
}

func (n *Node) apiPeerAdd(w http.ResponseWriter, r *http.Request) {
	var in PeerInput
	if err := readJSON(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	p, err := n.AddPeer(r.Context(), in.Addr, in.Name)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, p)
}

// AddPeer allowlists the peer of a full multiaddr, remembers its address,
// connects (when running) and shares every existing issue with it.
func (n *Node) AddPeer(ctx context.Context, addr, name string) (store.Peer, error) {
	info, err := p2p.ParsePeerAddr(addr)
	if err != nil {
		return store.Peer{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if info.ID == n.self {
		return store.Peer{}, fmt.Errorf("%w: %s is this node's own address", errBadRequest, addr)
	}
	addrs := make([]string, len(info.Addrs))
	for i, a := range info.Addrs {
		addrs[i] = a.String()
	}
	p, err := n.admitPeer(ctx, info.ID, addrs, name, nil)
	if err != nil {
		return store.Peer{}, err
	}
	// Share every existing issue with the new peer. Links that exist
	// already send nothing, so adding a peer again is harmless.
	if err := n.shareAll(ctx, []peer.ID{info.ID}); err != nil {
		return p, fmt.Errorf("peer added, but sharing existing issues failed (they are shared on their next change): %w", err)
	}
	n.log.Info("peer added", "peer", info.ID, "name", p.Name, "addrs", p.Addrs)
	return p, nil
}

// shareAll shares every issue of the tracker with the given peers.
func (n *Node) shareAll(ctx context.Context, to []peer.ID) error {
	links := make([]string, len(to))
	for i, p := range to {
		links[i] = p.String()
	}
	return n.shareAllLinks(ctx, links)
}

// allIssues calls fn with every issue of the tracker, a page at a time.
func (n *Node) allIssues(ctx context.Context, fn func([]adapters.Issue) error) error {
	var cur adapters.Cursor
	for {
		issues, next, err := n.tracker.Changes(ctx, cur, changeBatch)
		if err != nil {
			return err
		}
		if err := fn(issues); err != nil {
			return err
		}
		if len(issues) < changeBatch || next == cur {
			return nil
		}
		cur = next
	}
}

// writeView answers with an issue and its twins.
func (n *Node) writeView(w http.ResponseWriter, code int, is adapters.Issue) {
	v, err := n.view(is)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, code, v)
}

// view adds the twin links to an issue.
func (n *Node) view(is adapters.Issue) (IssueView, error) {
	v := IssueView{Issue: is, Twins: []TwinRef{}}
	names := map[string]string{}
	err := n.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(is.Key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v.Twin = tw.ID
		peers, err := tx.Peers()
		if err != nil {
			return err
		}
		for _, p := range peers {
			names[p.ID] = p.Name
		}
		for pid, l := range tw.Links {
			if isNetLink(pid) {
				v.Twins = append(v.Twins, n.netTwinRefs(tx, pid, l)...)
				continue
			}
			v.Twins = append(v.Twins, TwinRef{Peer: pid, PeerName: names[pid], Key: l.RemoteKey, Synced: !l.Unsynced})
		}
		return nil
	})
	sort.Slice(v.Twins, func(i, j int) bool {
		a, b := v.Twins[i], v.Twins[j]
		return a.Network+"/"+a.Peer < b.Network+"/"+b.Peer
	})
	return v, err
}

func (n *Node) apiIssues(w http.ResponseWriter, r *http.Request) {
	var all []adapters.Issue
	if err := n.allIssues(r.Context(), func(page []adapters.Issue) error { all = append(all, page...); return nil }); err != nil {
		writeErr(w, err)
		return
	}
	sort.Slice(all, func(i, j int) bool { return keyLess(all[i].Key, all[j].Key) })
	out := make([]IssueView, 0, len(all))
	for _, is := range all {
		v, err := n.view(is)
		if err != nil {
			writeErr(w, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, 200, out)
}

// keyLess orders PREFIX-N keys by number.
func keyLess(a, b string) bool {
	pa, na := splitKey(a)
	pb, nb := splitKey(b)
	if pa != pb {
		return pa < pb
	}
	if na != nb {
		return na < nb
	}
	return a < b
}

func splitKey(k string) (string, int) {
	i := strings.LastIndexByte(k, '-')
	if i < 0 {
		return k, 0
	}
	n := 0
	for _, c := range k[i+1:] {
		if c < '0' || c > '9' {
			return k, 0
		}
		n = n*10 + int(c-'0')
	}
	return k[:i], n
}

func (n *Node) apiIssue(w http.ResponseWriter, r *http.Request) {
	is, err := n.tracker.Get(r.Context(), r.PathValue("key"))
	if err != nil {
		writeErr(w, err)
		return
	}
	n.writeView(w, 200, is)
}

func (n *Node) apiIssueCreate(w http.ResponseWriter, r *http.Request) {
	var in IssueInput
	if err := readJSON(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	var is adapters.Issue
	if in.Summary != nil {
		is.Summary = *in.Summary
	}
	if in.Description != nil {
		is.Description = *in.Description
	}
	if in.Status != nil {
		is.Status = *in.Status
	}
	if in.Priority != nil {
		is.Priority = *in.Priority
	}
	if in.Labels != nil {
		is.Labels = *in.Labels
	}
	created, err := n.tracker.Create(r.Context(), is)
	if err != nil {
		writeErr(w, err)
		return
	}
	n.writeView(w, 201, created)
}

func (n *Node) apiIssueEdit(w http.ResponseWriter, r *http.Request) {
	var in IssueInput
	if err := readJSON(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	p := adapters.Patch{Summary: in.Summary, Description: in.Description, Status: in.Status, Priority: in.Priority, Labels: in.Labels}
	n.patchIssue(w, r, p)
}

func (n *Node) apiIssueComment(w http.ResponseWriter, r *http.Request) {
	var in CommentInput
	if err := readJSON(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	if strings.TrimSpace(in.Body) == "" {
		writeErr(w, fmt.Errorf("%w: the comment body is empty", errBadRequest))
		return
	}
	p := adapters.Patch{AddComments: []adapters.Comment{{Author: in.Author, Body: in.Body, Internal: in.Internal, Created: time.Now().UTC()}}}
	n.patchIssue(w, r, p)
}

func (n *Node) patchIssue(w http.ResponseWriter, r *http.Request, p adapters.Patch) {
	key := r.PathValue("key")
	var is adapters.Issue
	var err error
	if p.Empty() {
		is, err = n.tracker.Get(r.Context(), key)
	} else {
		is, err = n.tracker.Update(r.Context(), key, p)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	n.writeView(w, 200, is)
}

// serveAdmin serves the admin API on the unix socket in the home until ctx
// is done. A socket left behind by a node that was killed is replaced.
func (n *Node) serveAdmin(ctx context.Context) (*http.Server, error) {
	path := filepath.Join(n.home, SocketFile)
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another node already serves %s", path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin API stopped", "err", err)
		}
	}()
	return srv, nil
}
