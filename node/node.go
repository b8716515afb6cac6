// Package node is the sync engine of issuemesh. It wires a node's parts
// together: the tracker adapter and its change feed (the trigger), the rules
// that turn an issue into a replica and back, the sync log (store), the
// libp2p host with the replica and ack protocols, per-peer senders and
// appliers with retry and backoff, and the backend of the admin API (package
// api) that the command line talks to (adminapi.go).
//
// The path of one change: the tracker reports a change; the outgoing rules
// make a replica of it; for each peer, the fields that differ from what was
// last shared get a fresh hybrid-logical-clock stamp and an event is
// appended durably to that peer's outgoing log; the peer's sender streams it;
// the receiving node logs it durably, merges it with the twin's agreed state,
// applies it through its own tracker, records the result and acks it with
// its local key; the source records the link and drops the event from its
// queue.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/connrules"
	"github.com/issuemesh/issuemesh/discovery"
	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/mesh"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/p2p/syncproto"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
	"github.com/issuemesh/issuemesh/trackerhealth"
)

// Files and folders in a node's home.
const (
	KeyFile     = "identity.key"
	SocketFile  = "admin.sock"
	StoreDir    = "synclog"
	TrackerDir  = "tracker"
	triggerName = engine.CursorName // the change feed's cursor
)

// Options tune a node beyond its config file; the zero value is what a
// real node uses. Tests shorten the timers.
type Options struct {
	Logger *slog.Logger
	// NoSync turns off fsync in the sync log and the local tracker. Only for
	// tests and benchmarks that say so.
	NoSync bool
	// AckTimeout is how long the oldest sent event may wait for its ack
	// before the sender reconnects and sends again (default 20s).
	AckTimeout time.Duration
	// RetryMin and RetryMax bound the backoff of transient errors
	// (defaults 200ms and 1 minute).
	RetryMin, RetryMax time.Duration
	// Tracker replaces the tracker adapter (tests inject faults with it).
	// Its change feed is polled unless it offers OnChange.
	Tracker adapters.Tracker
	// NetSyncInterval is how often a network member asks its connected
	// fellow members for events it missed (default 30s; also on connect).
	NetSyncInterval time.Duration

	// LogLevel, when set, is the level of Logger, which a reload of
	// config.yaml changes to its log key.
	LogLevel *slog.LevelVar
	// DiskReserve is the free space kept on the home's filesystem: below
	// it, writes are refused and no new work is accepted (default
	// ISSUEMESH_DISK_RESERVE, else 16 MiB; see diskspace).
	DiskReserve int64

	// dropAck, when set, is asked before each ack is sent; true drops it
	// (tests of lost acks).
	dropAck func(replica.Ack) bool
}

// Node is one issuemesh node.
type Node struct {
	home  string
	cfg   *config.Config
	opts  Options
	log   *slog.Logger
	key   crypto.PrivKey
	self  peer.ID
	store *store.Store

	tracker adapters.Tracker
	// rawTracker is the adapter as opened, before the health wrapper:
	// what it offers besides adapters.Tracker is asked of it.
	rawTracker adapters.Tracker
	eng        *engine.Engine // the sync engine (engine.go)
	local      *local.Tracker // nil when the tracker is not the embedded one
	hlc        *replica.HLC
	allow      *p2p.Allowlist
	space      *diskspace.Guard // free space of the home (space.go)
	rules      *connrules.Rules // each link's rules (connrules.go)
	mesh       *mesh.Mesh       // networks (package mesh; networks.go)
	life       *supervisor      // the services (life.go)
	gc         *gcService       // the sync log's GC (life.go)

	wakeTrigger chan struct{}
	// backoff and retryLoop are the retry policy of the node's loops
	// (retryPolicy, engine.go).
	backoff   func() *backoff.Backoff
	retryLoop func(ctx context.Context, wake <-chan struct{}, level slog.Level, msg string, attrs []any, pass func(context.Context) error) error
	refused   refusals            // events refused (refusals.go)
	transfers syncproto.Transfers // files moving to and from peers now (queue)
	metrics   *nodeMetrics        // Prometheus registry (metrics.go)

	health *trackerhealth.Tracker // the tracker's health (package trackerhealth)
	live   *liveConfig            // config.yaml as in force, reloaded live (liveconfig.go)

	mu        sync.Mutex
	host      host.Host // nil while not running
	connector *p2p.Connector
	gate      *p2p.Pairing       // the gater's window for strangers (pairing)
	pair      *pairing.Service   // invitations (package pairing; invite.go)
	disc      *discovery.Service // discovery (package discovery; peering.go)
	peers     map[peer.ID]*peerState
	runCtx    context.Context
	ready     bool // every part of Run has started (the log says "node running")
	wg        sync.WaitGroup
}

// OpenWait is Open that waits up to a few seconds while another process
// (a command line call) briefly holds the home's databases.
func OpenWait(home string, opts Options) (*Node, error) {
	deadline := time.Now().Add(lockWait)
	for {
		n, err := Open(home, opts)
		if !IsLocked(err) || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Open opens a node's home: its identity, config, sync log and tracker. It
// does not start networking; Run does. A node that is only opened serves the
// admin API in-process, so that the command line works while no node runs.
func Open(home string, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AckTimeout == 0 {
		opts.AckTimeout = 20 * time.Second
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = 200 * time.Millisecond
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = time.Minute
	}
	cfg, err := config.Load(home)
	if err != nil {
		return nil, err
	}
	key, err := p2p.LoadIdentity(filepath.Join(home, KeyFile))
	if err != nil {
		return nil, err
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("peer ID of %s: %w", KeyFile, err)
	}
	n := &Node{
		home: home, cfg: cfg, opts: opts, log: opts.Logger, key: key, self: self,
		hlc:         replica.NewHLC(self.String(), time.Now),
		allow:       p2p.NewAllowlist(),
		wakeTrigger: make(chan struct{}, 1),
		peers:       map[peer.ID]*peerState{},
		gate:        p2p.NewPairing(),
	}
	retry := retryPolicy{min: opts.RetryMin, max: opts.RetryMax, log: n.log, waitSpace: func(ctx context.Context) bool { return waitSpace(ctx, n.space) }}
	n.backoff, n.retryLoop = retry.backoff, retry.loop
	n.live = n.newLive()
	n.life = &supervisor{log: n.log, backoff: n.backoff, wg: &n.wg}
	n.metrics = newNodeMetrics(n)
	n.space = newSpaceGuard(home, opts, n.log)
	n.store, err = store.Open(filepath.Join(home, StoreDir), store.Options{SyncWrites: !opts.NoSync, Logger: n.log, Space: n.space})
	if err != nil {
		return nil, err
	}
	n.rules = n.newRules()
	n.gc = newGC(home, n.store, n.space, n.log)
	n.pair = pairing.New(pairing.Config{
		Store: n.store, Gate: n.gate, Allow: n.allow, Self: self, Addrs: n.Addrs,
		Peers: nodePeers{n}, Log: n.log,
	})
	n.mesh = newMesh(n)
	n.disc = newDiscovery(n)
	n.pair.SetNetworks(n.mesh)
	if opts.Tracker != nil {
		n.tracker = opts.Tracker
	} else if n.tracker, n.local, err = openTracker(home, cfg, opts, n.space, n.metrics.trackerTransport); err != nil {
		n.store.Close()
		return nil, err
	}
	removeFetchLeftovers(home, n.log)
	if nt, ok := n.tracker.(interface{ OnChange(func()) }); ok {
		nt.OnChange(n.kickTrigger)
	}
	n.rawTracker = n.tracker
	wrapHealth(n)
	if n.eng, err = newEngine(n); err != nil {
		n.Close()
		return nil, err
	}
	peers, err := n.storedPeers()
	if err != nil {
		n.Close()
		return nil, err
	}
	for _, p := range peers {
		id, err := peer.Decode(p.ID)
		if err != nil {
			n.log.Warn("ignoring a stored peer with a bad ID", "peer", p.ID, "err", err)
			continue
		}
		n.allow.Add(id)
		n.peers[id] = newPeerState(id, p)
	}
	return n, nil
}

// Close closes the sync log and the tracker. Call it after Run returned.
func (n *Node) Close() error {
	var errs []error
	if n.tracker != nil {
		errs = append(errs, n.tracker.Close())
	}
	errs = append(errs, n.store.Close())
	return errors.Join(errs...)
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.self }

// Home is the node's home folder.
func (n *Node) Home() string { return n.home }

// Run starts networking and the sync services and blocks until ctx is done.
// It then stops taking new work, lets in-flight batches finish and returns.
func (n *Node) Run(ctx context.Context) error {
	hc := p2p.Config{
		Key:          n.key,
		Listen:       n.listenAddrs(),
		Allow:        n.allow,
		Reachability: n.cfg.Reachability,
		NATPortMap:   n.cfg.NATPortMap,
		Relays:       n.disc.RelayCandidates,
		Pairing:      n.gate,
		Logger:       n.log,
	}
	h, err := p2p.NewHost(hc)
	if err != nil && !slices.Equal(hc.Listen, n.cfg.Listen) {
		n.log.Warn("the ports used last time are taken; listening on new ones", "err", err)
		hc.Listen = n.cfg.Listen
		h, err = p2p.NewHost(hc)
	}
	if err != nil {
		return err
	}
	defer h.Close()
	n.rememberListen(h)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	n.mu.Lock()
	n.host = h
	n.runCtx = ctx
	n.connector = p2p.NewConnector(h, n.allow, n.log)
	for id, ps := range n.peers {
		n.addAddrs(id, ps.info.Addrs)
	}
	n.mu.Unlock()

	registerSync(n, h)
	// Peering: the pair protocol, the invitations' gate and discovery.
	n.pair.Register(h)
	n.goRun(ctx, "invitations", n.pair.Run)
	n.disc.Run(ctx, h)
	if err := n.mesh.Run(ctx, h); err != nil {
		return err
	}

	admin, err := api.ServeSocket(ctx, filepath.Join(n.home, SocketFile), n.Handler(), n.log)
	if err != nil {
		return err
	}
	metricsSrv, err := api.ServeMetrics(ctx, n.cfg.Metrics.Listen, n.metrics.handler(), n.log)
	if err != nil {
		admin.Close()
		return err
	}

	n.goRun(ctx, "connector", n.connector.Run)
	// The rule files are watched beside the trigger, so that a fix is
	// picked up even while the trigger backs off.
	n.goRun(ctx, "rules", n.rules.Run)
	n.goRun(ctx, "trigger", newTrigger(n).Run)
	n.goRun(ctx, "maintenance", maintenance{store: n.store, peers: n.peerIDs, gc: n.gc.Kick, log: n.log}.Run)
	n.goRun(ctx, "config", n.live.Run)
	n.goRun(ctx, "gc", n.gc.Run)
	n.goRun(ctx, "resync", n.runResync)
	n.mu.Lock()
	for _, ps := range n.peers {
		ps.start(ctx, n)
	}
	n.mu.Unlock()
	n.resumeIncoming(ctx)

	n.mu.Lock()
	n.ready = true
	n.mu.Unlock()
	n.log.Info("node running", "peer", n.self, "addrs", p2p.FullAddrs(h))
	<-ctx.Done()
	n.log.Info("node stopping")
	admin.Close()
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	n.wg.Wait()
	n.mu.Lock()
	n.host = nil
	n.ready = false
	n.mu.Unlock()
	return nil
}

func (n *Node) addAddrs(id peer.ID, addrs []string) {
	if n.host == nil {
		return
	}
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			n.log.Warn("ignoring a bad stored address", "peer", id, "addr", a, "err", err)
			continue
		}
		n.host.Peerstore().AddAddr(id, m, peerstore.PermanentAddrTTL)
	}
}

func (n *Node) storedPeers() ([]store.Peer, error) {
	var ps []store.Peer
	err := n.store.View(func(tx *store.Tx) error {
		var err error
		ps, err = tx.Peers()
		return err
	})
	return ps, err
}

// listenAddrs is the configured listen addresses, where a port 0 (any
// port) is replaced by the port this node got last time, so that a node
// keeps its addresses across restarts and its peers find it again.
func (n *Node) listenAddrs() []string {
	var last []string
	_ = n.store.View(func(tx *store.Tx) error {
		s, err := tx.Cursor("listen")
		if s != "" {
			last = strings.Split(s, " ")
		}
		return err
	})
	out := make([]string, 0, len(n.cfg.Listen))
	for _, a := range n.cfg.Listen {
		out = append(out, a)
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		for _, l := range last {
			lm, err := ma.NewMultiaddr(l)
			if err == nil && samePortZero(m, lm) {
				out[len(out)-1] = l
				break
			}
		}
	}
	return out
}

// samePortZero reports whether cfg is an any-port address and got is the
// address it was bound to (same IP and transports, a real port).
func samePortZero(cfg, got ma.Multiaddr) bool {
	cp, gp := cfg.Protocols(), got.Protocols()
	if len(cp) != len(gp) {
		return false
	}
	for i := range cp {
		if cp[i].Code != gp[i].Code {
			return false
		}
	}
	cip, _ := cfg.ValueForProtocol(cp[0].Code)
	gip, _ := got.ValueForProtocol(gp[0].Code)
	if cip != gip {
		return false
	}
	for _, code := range []int{ma.P_TCP, ma.P_UDP} {
		if v, err := cfg.ValueForProtocol(code); err == nil {
			g, _ := got.ValueForProtocol(code)
			return v == "0" && g != "0"
		}
	}
	return false
}

func (n *Node) rememberListen(h host.Host) {
	var got []string
	for _, m := range h.Network().ListenAddresses() {
		got = append(got, m.String())
	}
	err := n.store.Update(context.Background(), func(tx *store.Tx) error {
		tx.SetCursor("listen", strings.Join(got, " "))
		return nil
	})
	if err != nil {
		n.log.Warn("could not remember the listen ports", "err", err)
	}
}

// kick signals ch without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// kickTrigger wakes the trigger loop; it never blocks.
func (n *Node) kickTrigger() {
	select {
	case n.wakeTrigger <- struct{}{}:
	default:
	}
}

// Init creates a node's home: the folder (0700), the identity key (0600) and
// config.yaml. It refuses to overwrite an existing home.
func Init(home string, cfg *config.Config) (peer.ID, error) {
	if _, err := os.Stat(filepath.Join(home, config.FileName)); err == nil {
		return "", fmt.Errorf("%s already holds a node (%s exists); choose another --home", home, config.FileName)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", fmt.Errorf("create home: %w", err)
	}
	key, err := p2p.LoadOrCreateIdentity(filepath.Join(home, KeyFile))
	if err != nil {
		return "", err
	}
	if err := cfg.Write(home); err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(key)
}
