package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// connRules holds each link's rules and trigger, loaded from the config
// entry of the peer connection or network and reloaded when the rule files
// change. They are keyed by link key: a peer ID or "net:<network ID>".
type connRules struct {
	mu      sync.Mutex
	loaders map[string]*rules.Loader
	errs    map[string]error // a link whose rules could not be loaded at all
	// problems is what status and errors show per link (or config entry,
	// "connection <name>"): a link refused for rules that never loaded, or
	// a rule file refused on reload while the last good rules run.
	problems map[string]RulesError
}

// errRulesBroken marks a connection whose rules do not load: its events wait
// (transient) until the files are fixed.
var errRulesBroken = engine.ErrRulesBroken

// rulesFor returns a peer's current rules and trigger, loading them on
// first use.
func (n *Node) rulesFor(id peer.ID) (*rules.Set, *rules.Trigger, error) {
	return n.linkRules(id.String())
}

// linkRules returns a link's current rules and trigger, loading them on
// first use.
func (n *Node) linkRules(link string) (*rules.Set, *rules.Trigger, error) {
	n.rules.mu.Lock()
	defer n.rules.mu.Unlock()
	if l := n.rules.loaders[link]; l != nil {
		set, trig := l.Current()
		return set, trig, nil
	}
	l, err := n.newLoader(link)
	if err != nil {
		if n.rules.errs == nil {
			n.rules.errs = map[string]error{}
		}
		if prev := n.rules.errs[link]; prev == nil || prev.Error() != err.Error() {
			n.log.Error("the rules of a connection do not load; nothing flows with that peer until they are fixed", "peer", link, "err", err)
		}
		n.rules.errs[link] = err
		n.noteRulesLocked(link, err, false)
		return nil, nil, fmt.Errorf("%w: %w", errRulesBroken, err)
	}
	delete(n.rules.errs, link)
	n.noteRulesLocked(link, nil, false)
	if n.rules.loaders == nil {
		n.rules.loaders = map[string]*rules.Loader{}
	}
	n.rules.loaders[link] = l
	set, trig := l.Current()
	return set, trig, nil
}

// newLoader loads the rules of a link from its config entry: a peer's by
// its ID or name, a network's under "net:<network name>".
func (n *Node) newLoader(link string) (*rules.Loader, error) {
	if isNetLink(link) {
		return n.netLoader(link)
	}
	id, err := peer.Decode(link)
	if err != nil {
		return nil, fmt.Errorf("link %q is neither a peer nor a network: %w", link, err)
	}
	name := ""
	if ps := n.peer(id); ps != nil {
		name = ps.name()
	}
	conn := n.conf().Connection(link, name)
	return rules.NewLoader(n.home, conn, rules.Options{
		Self: n.self.String(), PeerID: link, PeerName: name,
		StatusMap: conn.StatusMap, PriorityMap: conn.PriorityMap, Log: n.log,
	})
}

// forgetRules drops a peer's rules (after its name or entry changed, or it
// was removed); they are loaded again on next use.
func (n *Node) forgetRules(id peer.ID) { n.forgetLinkRules(id.String()) }

// forgetLinkRules drops a link's rules; they are loaded again on next use.
func (n *Node) forgetLinkRules(link string) {
	n.rules.mu.Lock()
	defer n.rules.mu.Unlock()
	delete(n.rules.loaders, link)
	delete(n.rules.errs, link)
	delete(n.rules.problems, link)
}

// noteRulesLocked records (err != nil) or clears a link's rules problem
// for status and errors; n.rules.mu is held.
func (n *Node) noteRulesLocked(link string, err error, running bool) {
	if err == nil {
		delete(n.rules.problems, link)
		return
	}
	if n.rules.problems == nil {
		n.rules.problems = map[string]RulesError{}
	}
	p, ok := n.rules.problems[link]
	if !ok || p.Error != err.Error() {
		p = RulesError{Link: link, Error: err.Error(), Since: nowUTC()}
	}
	p.Running = running
	n.rules.problems[link] = p
}

// rulesEvery is how often the rule files are looked at when the tracker's
// poll interval is longer.
const rulesEvery = 5 * time.Second

// watchRules reloads changed rule files on its own clock, whatever the
// trigger is doing (a trigger backing off from a tracker outage never
// reaches its tick), and loads every link's rules at once at start, so
// that a broken trigger or rule file shows in status from the start.
func (n *Node) watchRules(ctx context.Context) error {
	every := min(time.Duration(n.conf().Tracker.PollInterval), rulesEvery)
	if every <= 0 {
		every = rulesEvery
	}
	n.checkRules()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			n.reloadRules()
		}
	}
}

// checkRules loads the rules of every link and validates every connection
// entry of the config, recording what fails for status and errors. A link
// whose rules fail is refused (nothing flows on it) until they are fixed;
// the others run.
func (n *Node) checkRules() {
	for _, id := range n.peerIDs() {
		_, _, _ = n.rulesFor(id)
	}
	for _, l := range n.netLinks() {
		_, _, _ = n.linkRules(l)
	}
	names := slices.Sorted(maps.Keys(n.conf().Connections))
	n.rules.mu.Lock()
	for key := range n.rules.problems {
		if name, ok := strings.CutPrefix(key, "connection "); ok && !slices.Contains(names, name) {
			delete(n.rules.problems, key) // the entry left the config
		}
	}
	n.rules.mu.Unlock()
	for _, name := range names {
		conn := n.conf().Connections[name]
		_, err := rules.NewLoader(n.home, conn, rules.Options{Self: n.self.String(), Log: n.log})
		key := "connection " + name
		n.rules.mu.Lock()
		if err != nil {
			if _, ok := n.rules.problems[key]; !ok {
				n.log.Error("a connection in config.yaml has rules or a trigger that do not load; the links it applies to are refused until fixed", "connection", name, "err", err)
			}
		}
		n.noteRulesLocked(key, err, false)
		n.rules.mu.Unlock()
	}
}

// rulesErrors lists the links (and config entries) whose rules do not
// load, or whose rule files on disk were refused, oldest first. Every link
// is looked at first, so that the list is right on a node that only opened
// its home.
func (n *Node) rulesErrors() []RulesError {
	n.checkRules()
	n.rules.mu.Lock()
	out := make([]RulesError, 0, len(n.rules.problems))
	seen := map[string]bool{}
	for _, p := range n.rules.problems {
		if !strings.HasPrefix(p.Link, "connection ") {
			seen[p.Error] = true
		}
	}
	for _, p := range n.rules.problems {
		if strings.HasPrefix(p.Link, "connection ") && seen[p.Error] {
			continue // shown with the link it applies to
		}
		out = append(out, p)
	}
	n.rules.mu.Unlock()
	for i := range out {
		if id, err := peer.Decode(out[i].Link); err == nil {
			if ps := n.peer(id); ps != nil {
				out[i].PeerName = ps.name()
			}
		}
	}
	slices.SortFunc(out, func(a, b RulesError) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Link, b.Link)
	})
	return out
}

// reloadRules picks up changed rule files. A broken new version is refused
// with its error (in the log once, in status and errors until fixed) and
// the old one keeps running. Links whose rules never loaded are tried
// again.
func (n *Node) reloadRules() { n.reloadRulesWith((*rules.Loader).Reload) }

// reloadRulesWith is reloadRules with the loader's reload (Reload, or
// ReloadNow on SIGHUP).
func (n *Node) reloadRulesWith(reload func(*rules.Loader) (bool, error)) {
	n.rules.mu.Lock()
	loaders := maps.Clone(n.rules.loaders)
	broken := slices.Collect(maps.Keys(n.rules.errs))
	n.rules.mu.Unlock()
	for id, l := range loaders {
		changed, err := reload(l)
		n.rules.mu.Lock()
		if n.rules.loaders[id] != l {
			n.rules.mu.Unlock()
			continue // forgotten meanwhile
		}
		prev, had := n.rules.problems[id]
		n.noteRulesLocked(id, err, true)
		n.rules.mu.Unlock()
		switch {
		case err != nil && (!had || prev.Error != err.Error()):
			n.log.Error("rule file refused; the last good rules keep running until it is fixed", "peer", id, "err", err)
		case err == nil && had:
			n.log.Info("rule file fixed", "peer", id, "reloaded", changed)
		case changed:
			n.log.Info("rules reloaded", "peer", id)
		}
	}
	for _, link := range broken {
		if _, _, err := n.linkRules(link); err == nil {
			n.log.Info("the rules of a connection load now", "peer", link)
			n.wakeLink(link)
			n.kickTrigger()
		}
	}
}

// matches reports whether an issue is under sync with a peer by the
// connection's trigger. A trigger that fails is logged and counts as no.
func (n *Node) matches(id peer.ID, is adapters.Issue) bool { return n.matchesLink(id.String(), is) }

// matchesLink is matches for a link: a peer ID or "net:<network ID>".
func (n *Node) matchesLink(link string, is adapters.Issue) bool {
	_, trig, err := n.linkRules(link)
	if err != nil {
		return false
	}
	ok, err := trig.Match(is)
	if err != nil {
		n.log.Warn("trigger failed; the issue is not shared", "peer", link, "key", is.Key, "err", err)
		return false
	}
	return ok
}

// outgoingLink runs the outgoing rules of a link.
func (n *Node) outgoingLink(link string, is adapters.Issue) (r replica.Replica, skip bool, err error) {
	set, _, err := n.linkRules(link)
	if err != nil {
		return r, false, err
	}
	r, skip, err = set.Outgoing(is)
	if err != nil {
		return r, false, fmt.Errorf("issue %s: %w", is.Key, err)
	}
	engine.RelationsToTwins(n.store, &r) // references to synced issues go as twin relations
	return r, skip, nil
}

// TestRules runs a connection's rules on a real issue without syncing.
func (n *Node) TestRules(ctx context.Context, in RulesTestInput) (RulesTestResult, error) {
	var res RulesTestResult
	who := in.To
	if who == "" {
		who = in.From
	}
	if who == "" || (in.To != "" && in.From != "") {
		return res, fmt.Errorf("%w: name the peer with --to (outgoing rules) or --from (incoming rules)", errBadRequest)
	}
	id, err := n.resolvePeer(who)
	if err != nil {
		return res, err
	}
	set, trig, err := n.rulesOnDisk(id.String(), &res)
	if err != nil {
		return res, err
	}
	is, err := n.tracker.Get(ctx, in.Key)
	if err != nil && (in.To != "" || !errors.Is(err, adapters.ErrNotFound)) {
		return res, err
	}
	if err == nil {
		if res.Matches, err = trig.Match(is); err != nil {
			return res, err
		}
	}
	if in.To != "" {
		r, skip, err := set.Outgoing(is)
		if err != nil {
			return res, err
		}
		res.Skip, res.Replica = skip, api.ReplicaToJSON(r)
		return res, nil
	}
	if len(in.Replica) == 0 {
		return res, fmt.Errorf("%w: incoming rules need a replica (--replica FILE)", errBadRequest)
	}
	got, perr := api.ParseReplicaJSON(in.Replica, replica.Clock{Wall: time.Now().UnixMilli(), Peer: id.String()})
	if perr != nil {
		return res, fmt.Errorf("%w: the replica: %w", errBadRequest, perr)
	}
	inc := rules.Incoming{Replica: got}
	var prev replica.Replica
	if err == nil {
		inc.Issue = &is
		_ = n.store.View(func(tx *store.Tx) error {
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

// rulesOnDisk loads a link's rules from the files as they are on disk now
// (for rules test) and notes in res whether they differ from the rules in
// force. A version that does not load is the error, with its file:line.
func (n *Node) rulesOnDisk(link string, res *RulesTestResult) (*rules.Set, *rules.Trigger, error) {
	fresh, err := n.newLoader(link)
	n.rules.mu.Lock()
	running, broken := n.rules.loaders[link], n.rules.errs[link]
	n.rules.mu.Unlock()
	if err != nil {
		if running != nil {
			return nil, nil, fmt.Errorf("%w: the rule files on disk do not load (the node keeps running its last good rules): %w", errBadRequest, err)
		}
		return nil, nil, fmt.Errorf("%w: the rules do not load, and nothing flows on this link until they are fixed: %w", errBadRequest, err)
	}
	switch {
	case running == nil && broken != nil:
		res.DiffersFromRunning = true
		res.Note = "the node refuses this link, its rules did not load (" + broken.Error() + "); the files on disk load now and the node picks them up within " + rulesEvery.String()
	case !running.Same(fresh):
		res.DiffersFromRunning = true
		res.Note = fmt.Sprintf("the rule files on disk differ from the rules the node runs; they are what is tested here, and the node picks them up within %s", rulesEvery)
	}
	set, trig := fresh.Current()
	return set, trig, nil
}

func nowUTC() time.Time { return time.Now().UTC() }
