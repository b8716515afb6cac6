package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
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
}

// errRulesBroken marks a connection whose rules do not load: its events wait
// (transient) until the files are fixed.
var errRulesBroken = errors.New("the connection's rules could not be loaded")

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
		return nil, nil, fmt.Errorf("%w: %w", errRulesBroken, err)
	}
	delete(n.rules.errs, link)
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
	conn := n.cfg.Connection(link, name)
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
}

// reloadRules picks up changed rule files. A broken new version is refused
// with its error and the old one keeps running.
func (n *Node) reloadRules() {
	n.rules.mu.Lock()
	loaders := make(map[string]*rules.Loader, len(n.rules.loaders))
	for id, l := range n.rules.loaders {
		loaders[id] = l
	}
	n.rules.mu.Unlock()
	for id, l := range loaders {
		changed, err := l.Reload()
		switch {
		case err != nil && changed:
			n.log.Error("new rules refused; the previous rules keep running", "peer", id, "err", err)
		case err != nil:
			n.log.Debug("rules still broken on disk; the previous rules keep running", "peer", id, "err", err)
		case changed:
			n.log.Info("rules reloaded", "peer", id)
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

// outgoingFor runs the outgoing rules of the connection with a peer.
func (n *Node) outgoingFor(id peer.ID, is adapters.Issue) (r replica.Replica, skip bool, err error) {
	return n.outgoingLink(id.String(), is)
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
	return r, skip, nil
}

// blockOutgoing records that the outgoing rules failed for a twin and peer;
// the twin stays out of sync with that peer until retried.
func blockOutgoing(tx *store.Tx, tw *store.Twin, pid string, err error) error {
	b, gerr := tx.GetBlocked(tw.ID)
	if gerr != nil {
		b = store.Blocked{Twin: tw.ID, Peer: pid, Since: nowUTC()}
	}
	b.LocalKey, b.Outgoing, b.Remote, b.Error = tw.LocalKey, true, false, err.Error()
	b.Attempts++
	return tx.Block(b)
}

// RulesTestInput is the body of rules test: with To, what the outgoing rules
// make of the issue; with From and a Replica, what the incoming rules would
// do to the issue.
type RulesTestInput struct {
	Key     string           `json:"key"`
	To      string           `json:"to,omitempty"`
	From    string           `json:"from,omitempty"`
	Replica *replica.Replica `json:"replica,omitempty"`
}

// RulesTestResult is what the rules would do; nothing is synced.
type RulesTestResult struct {
	Matches bool             `json:"matches"` // the trigger selects the issue
	Skip    bool             `json:"skip"`
	Reason  string           `json:"reason,omitempty"`
	Replica *replica.Replica `json:"replica,omitempty"`
	Create  *adapters.Issue  `json:"create,omitempty"`
	Patch   *adapters.Patch  `json:"patch,omitempty"`
}

func (n *Node) registerRules(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/rules/test", func(w http.ResponseWriter, r *http.Request) {
		var in RulesTestInput
		if err := readJSON(r, &in); err != nil {
			writeErr(w, err)
			return
		}
		res, err := n.TestRules(r.Context(), in)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, res)
	})
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
	set, trig, err := n.rulesFor(id)
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
		res.Skip, res.Replica = skip, &r
		return res, nil
	}
	if in.Replica == nil {
		return res, fmt.Errorf("%w: incoming rules need a replica (--replica FILE)", errBadRequest)
	}
	inc := rules.Incoming{Replica: *in.Replica}
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
	merged, ch := replica.Merge(prev, *in.Replica)
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

func nowUTC() time.Time { return time.Now().UTC() }

// patchFrom is the patch that turns cur into want (for rules that return a
// whole issue where an issue exists already).
func patchFrom(cur, want adapters.Issue) adapters.Patch {
	var p adapters.Patch
	set := func(dst **string, have, w string) {
		if have != w {
			*dst = &w
		}
	}
	set(&p.Summary, cur.Summary, want.Summary)
	set(&p.Description, cur.Description, want.Description)
	set(&p.Status, cur.Status, want.Status)
	set(&p.Priority, cur.Priority, want.Priority)
	if !slices.Equal(sortedCopy(cur.Labels), sortedCopy(want.Labels)) {
		l := slices.Clone(want.Labels)
		p.Labels = &l
	}
	for _, c := range want.Comments {
		if c.SyncID != "" && slices.ContainsFunc(cur.Comments, func(x adapters.Comment) bool { return x.SyncID == c.SyncID }) {
			continue
		}
		p.AddComments = append(p.AddComments, c)
	}
	return p
}
