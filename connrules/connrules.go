// Package connrules keeps the rules and trigger of each link of a node (a
// peer connection, or a network as "net:<network ID>"): it loads them from
// the link's entry in config.yaml on first use, caches them, reloads the
// rule files when they change on disk (Run), and records what does not load
// for status and errors. It owns the outgoing-rules and trigger step of the
// sync path as the engine asks for it (Match, Outgoing, Incoming), and the
// `rules test` command (Test).
package connrules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Every is how often the rule files are looked at when the tracker's poll
// interval is longer.
const Every = 5 * time.Second

// Node is what the rules need of the node they run in.
type Node interface {
	// Config is the config as last reloaded.
	Config() *config.Config
	// PeerIDs lists the node's peers; PeerName is a peer's name, "" when
	// it has none or is not a peer.
	PeerIDs() []peer.ID
	PeerName(id peer.ID) string
	// NetLinks lists the link keys of the node's networks.
	NetLinks() []string
	// ResolvePeer finds a peer by ID or name.
	ResolvePeer(s string) (peer.ID, error)
	// Issue reads an issue from the tracker.
	Issue(ctx context.Context, key string) (adapters.Issue, error)
	// Loaded is told that a link whose rules did not load has them now.
	Loaded(link string)
	// NotesInExtra reports whether the node's tracker keeps any extra
	// field (adapters.ExtraNotes), where the rules then keep their notes.
	NotesInExtra() bool
}

// Config is what New needs.
type Config struct {
	Home  string // the node's home (rule files are relative to it)
	Self  peer.ID
	Store *store.Store // networks' names and twins' agreed state
	Node  Node
	Log   *slog.Logger
}

// Rules holds each link's rules and trigger, loaded from the config entry
// of the peer connection or network and reloaded when the rule files
// change. They are keyed by link key: a peer ID or "net:<network ID>".
type Rules struct {
	cfg Config

	mu      sync.Mutex
	loaders map[string]*rules.Loader
	errs    map[string]error // a link whose rules could not be loaded at all
	// problems is what status and errors show per link (or config entry,
	// "connection <name>"): a link refused for rules that never loaded, or
	// a rule file refused on reload while the last good rules run.
	problems map[string]api.RulesError
}

// New returns a link's rules, none loaded yet.
func New(cfg Config) *Rules { return &Rules{cfg: cfg} }

// Link returns a link's current rules and trigger, loading them on first
// use.
func (r *Rules) Link(link string) (*rules.Set, *rules.Trigger, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.loaders[link]; l != nil {
		set, trig := l.Current()
		return set, trig, nil
	}
	l, err := r.newLoader(link)
	if err != nil {
		if r.errs == nil {
			r.errs = map[string]error{}
		}
		if prev := r.errs[link]; prev == nil || prev.Error() != err.Error() {
			r.cfg.Log.Error("the rules of a connection do not load; nothing flows with that peer until they are fixed", "peer", link, "err", err)
		}
		r.errs[link] = err
		r.noteLocked(link, err, false)
		return nil, nil, fmt.Errorf("%w: %w", engine.ErrRulesBroken, err) // its events wait until the files are fixed
	}
	delete(r.errs, link)
	r.noteLocked(link, nil, false)
	if r.loaders == nil {
		r.loaders = map[string]*rules.Loader{}
	}
	r.loaders[link] = l
	set, trig := l.Current()
	return set, trig, nil
}

// newLoader loads the rules of a link from its config entry: a peer's by
// its ID or name, a network's under "net:<network name>".
func (r *Rules) newLoader(link string) (*rules.Loader, error) {
	if engine.LinkKey(link).IsNet() {
		return r.netLoader(link)
	}
	id, err := peer.Decode(link)
	if err != nil {
		return nil, fmt.Errorf("link %q is neither a peer nor a network: %w", link, err)
	}
	name := r.cfg.Node.PeerName(id)
	conn := r.cfg.Node.Config().Connection(link, name)
	return rules.NewLoader(r.cfg.Home, conn, rules.Options{
		Self: r.cfg.Self.String(), PeerID: link, PeerName: name,
		StatusMap: conn.StatusMap, PriorityMap: conn.PriorityMap, Log: r.cfg.Log,
		NotesInExtra: r.cfg.Node.NotesInExtra(),
	})
}

// netLoader loads a network's rules from its config entry "net:<name>".
func (r *Rules) netLoader(link string) (*rules.Loader, error) {
	var rec *store.Network
	err := r.cfg.Store.View(func(tx *store.Tx) (err error) {
		rec, err = tx.GetNetwork(engine.LinkKey(link).Net())
		return
	})
	if err != nil {
		return nil, err
	}
	conn := r.cfg.Node.Config().NetworkConnection(rec.Name)
	return rules.NewLoader(r.cfg.Home, conn, rules.Options{
		Self: r.cfg.Self.String(), PeerID: link, PeerName: rec.Name,
		StatusMap: conn.StatusMap, PriorityMap: conn.PriorityMap, Log: r.cfg.Log,
		NotesInExtra: r.cfg.Node.NotesInExtra(),
	})
}

// Forget drops a link's rules (after its name or entry changed, or it was
// removed); they are loaded again on next use.
func (r *Rules) Forget(link string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.loaders, link)
	delete(r.errs, link)
	delete(r.problems, link)
}

// ForgetAll drops every link's rules (the connections of config.yaml
// changed) and loads them again at once.
func (r *Rules) ForgetAll() {
	r.mu.Lock()
	r.loaders, r.errs, r.problems = nil, nil, nil
	r.mu.Unlock()
	r.Check()
}

// noteLocked records (err != nil) or clears a link's rules problem for
// status and errors; r.mu is held.
func (r *Rules) noteLocked(link string, err error, running bool) {
	if err == nil {
		delete(r.problems, link)
		return
	}
	if r.problems == nil {
		r.problems = map[string]api.RulesError{}
	}
	p, ok := r.problems[link]
	if !ok || p.Error != err.Error() {
		p = api.RulesError{Link: link, Error: err.Error(), Since: time.Now().UTC()}
	}
	p.Running = running
	r.problems[link] = p
}

// Run reloads changed rule files on its own clock, whatever the trigger is
// doing (a trigger backing off from a tracker outage never reaches its
// tick), and loads every link's rules at once at start, so that a broken
// trigger or rule file shows in status from the start.
func (r *Rules) Run(ctx context.Context) error {
	every := min(time.Duration(r.cfg.Node.Config().Tracker.PollInterval), Every)
	if every <= 0 {
		every = Every
	}
	r.Check()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			r.Reload()
		}
	}
}

// Check loads the rules of every link and validates every connection entry
// of the config, recording what fails for status and errors. A link whose
// rules fail is refused (nothing flows on it) until they are fixed; the
// others run.
func (r *Rules) Check() {
	for _, id := range r.cfg.Node.PeerIDs() {
		_, _, _ = r.Link(id.String())
	}
	for _, l := range r.cfg.Node.NetLinks() {
		_, _, _ = r.Link(l)
	}
	conf := r.cfg.Node.Config()
	names := slices.Sorted(maps.Keys(conf.Connections))
	r.mu.Lock()
	for key := range r.problems {
		if name, ok := strings.CutPrefix(key, "connection "); ok && !slices.Contains(names, name) {
			delete(r.problems, key) // the entry left the config
		}
	}
	r.mu.Unlock()
	for _, name := range names {
		conn := conf.Connections[name]
		_, err := rules.NewLoader(r.cfg.Home, conn, rules.Options{Self: r.cfg.Self.String(), Log: r.cfg.Log})
		key := "connection " + name
		r.mu.Lock()
		if err != nil {
			if _, ok := r.problems[key]; !ok {
				r.cfg.Log.Error("a connection in config.yaml has rules or a trigger that do not load; the links it applies to are refused until fixed", "connection", name, "err", err)
			}
		}
		r.noteLocked(key, err, false)
		r.mu.Unlock()
	}
}

// Errors lists the links (and config entries) whose rules do not load, or
// whose rule files on disk were refused, oldest first. Every link is looked
// at first, so that the list is right on a node that only opened its home.
func (r *Rules) Errors() []api.RulesError {
	r.Check()
	r.mu.Lock()
	out := make([]api.RulesError, 0, len(r.problems))
	seen := map[string]bool{}
	for _, p := range r.problems {
		if !strings.HasPrefix(p.Link, "connection ") {
			seen[p.Error] = true
		}
	}
	for _, p := range r.problems {
		if strings.HasPrefix(p.Link, "connection ") && seen[p.Error] {
			continue // shown with the link it applies to
		}
		out = append(out, p)
	}
	r.mu.Unlock()
	for i := range out {
		if id, err := peer.Decode(out[i].Link); err == nil {
			out[i].PeerName = r.cfg.Node.PeerName(id)
		}
	}
	slices.SortFunc(out, func(a, b api.RulesError) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Link, b.Link)
	})
	return out
}

// Reload picks up changed rule files. A broken new version is refused with
// its error (in the log once, in status and errors until fixed) and the old
// one keeps running. Links whose rules never loaded are tried again.
func (r *Rules) Reload() { r.reloadWith((*rules.Loader).Reload) }

// ReloadNow is Reload that re-reads every rule file, whatever its
// modification time and size say (SIGHUP).
func (r *Rules) ReloadNow() { r.reloadWith((*rules.Loader).ReloadNow) }

// reloadWith is Reload with the loader's reload (Reload, or ReloadNow).
func (r *Rules) reloadWith(reload func(*rules.Loader) (bool, error)) {
	r.mu.Lock()
	loaders := maps.Clone(r.loaders)
	broken := slices.Collect(maps.Keys(r.errs))
	r.mu.Unlock()
	for id, l := range loaders {
		changed, err := reload(l)
		r.mu.Lock()
		if r.loaders[id] != l {
			r.mu.Unlock()
			continue // forgotten meanwhile
		}
		prev, had := r.problems[id]
		r.noteLocked(id, err, true)
		r.mu.Unlock()
		switch {
		case err != nil && (!had || prev.Error != err.Error()):
			r.cfg.Log.Error("rule file refused; the last good rules keep running until it is fixed", "peer", id, "err", err)
		case err == nil && had:
			r.cfg.Log.Info("rule file fixed", "peer", id, "reloaded", changed)
		case changed:
			r.cfg.Log.Info("rules reloaded", "peer", id)
		}
	}
	for _, link := range broken {
		if _, _, err := r.Link(link); err == nil {
			r.cfg.Log.Info("the rules of a connection load now", "peer", link)
			r.cfg.Node.Loaded(link)
		}
	}
}

// Match reports whether an issue is under sync on a link by the
// connection's trigger. A trigger that fails is logged and counts as no.
func (r *Rules) Match(link string, is adapters.Issue) bool {
	_, trig, err := r.Link(link)
	if err != nil {
		return false
	}
	ok, err := trig.Match(is)
	if err != nil {
		r.cfg.Log.Warn("trigger failed; the issue is not shared", "peer", link, "key", is.Key, "err", err)
		return false
	}
	return ok
}

// Outgoing runs the outgoing rules of a link.
func (r *Rules) Outgoing(link string, is adapters.Issue) (rep replica.Replica, skip bool, err error) {
	set, _, err := r.Link(link)
	if err != nil {
		return rep, false, err
	}
	rep, skip, err = set.Outgoing(is)
	if err != nil {
		return rep, false, fmt.Errorf("issue %s: %w", is.Key, err)
	}
	engine.RelationsToTwins(r.cfg.Store, &rep) // references to synced issues go as twin relations
	return rep, skip, nil
}

// Test runs a connection's rules on a real issue without syncing.
func (r *Rules) Test(ctx context.Context, in api.RulesTestInput) (api.RulesTestResult, error) {
	var res api.RulesTestResult
	who := in.To
	if who == "" {
		who = in.From
	}
	if who == "" || (in.To != "" && in.From != "") {
		return res, fmt.Errorf("%w: name the peer with --to (outgoing rules) or --from (incoming rules)", api.ErrBadRequest)
	}
	id, err := r.cfg.Node.ResolvePeer(who)
	if err != nil {
		return res, err
	}
	set, trig, err := r.onDisk(id.String(), &res)
	if err != nil {
		return res, err
	}
	is, err := r.cfg.Node.Issue(ctx, in.Key)
	if err != nil && (in.To != "" || !errors.Is(err, adapters.ErrNotFound)) {
		return res, err
	}
	if err == nil {
		if res.Matches, err = trig.Match(is); err != nil {
			return res, err
		}
	}
	if in.To != "" {
		rep, skip, err := set.Outgoing(is)
		if err != nil {
			return res, err
		}
		res.Skip, res.Replica = skip, api.ReplicaToJSON(rep)
		return res, nil
	}
	if len(in.Replica) == 0 {
		return res, fmt.Errorf("%w: incoming rules need a replica (--replica FILE)", api.ErrBadRequest)
	}
	got, perr := api.ParseReplicaJSON(in.Replica, replica.Clock{Wall: time.Now().UnixMilli(), Peer: id.String()})
	if perr != nil {
		return res, fmt.Errorf("%w: the replica: %w", api.ErrBadRequest, perr)
	}
	inc := rules.Incoming{Replica: got}
	var prev replica.Replica
	if err == nil {
		inc.Issue = &is
		_ = r.cfg.Store.View(func(tx *store.Tx) error {
			if tw, err := tx.TwinByKey(is.Key); err == nil {
				if l := tw.Links[id.String()]; l != nil {
					prev = l.Agreed
					inc.Previous = &prev
				}
			}
			return nil
		})
	}
	merged, ch := replica.Merge(prev, got)
	inc.Replica, inc.Changed = merged, ch
	out, err := set.Incoming(inc)
	if err != nil {
		return res, err
	}
	res.Skip, res.Reason, res.Create = out.Skip, out.Reason, out.Create
	if out.Create == nil && !out.Skip {
		res.Patch = &out.Patch
	}
	return res, nil
}

// onDisk loads a link's rules from the files as they are on disk now (for
// rules test) and notes in res whether they differ from the rules in force.
// A version that does not load is the error, with its file:line.
func (r *Rules) onDisk(link string, res *api.RulesTestResult) (*rules.Set, *rules.Trigger, error) {
	fresh, err := r.newLoader(link)
	r.mu.Lock()
	running, broken := r.loaders[link], r.errs[link]
	r.mu.Unlock()
	if err != nil {
		if running != nil {
			return nil, nil, fmt.Errorf("%w: the rule files on disk do not load (the node keeps running its last good rules): %w", api.ErrBadRequest, err)
		}
		return nil, nil, fmt.Errorf("%w: the rules do not load, and nothing flows on this link until they are fixed: %w", api.ErrBadRequest, err)
	}
	switch {
	case running == nil && broken != nil:
		res.DiffersFromRunning = true
		res.Note = "the node refuses this link, its rules did not load (" + broken.Error() + "); the files on disk load now and the node picks them up within " + Every.String()
	case running != nil && !running.Same(fresh): // none running yet: the link has not been used since start
		res.DiffersFromRunning = true
		res.Note = fmt.Sprintf("the rule files on disk differ from the rules the node runs; they are what is tested here, and the node picks them up within %s", Every)
	}
	set, trig := fresh.Current()
	return set, trig, nil
}
