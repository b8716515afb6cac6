package engine

import (
	"fmt"
	"slices"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Apply, merge: the event's replica merges into the link's agreed state
// (replica.Merge, a join: any order, any duplicates, the same result), with
// a network's owned fields filtered (policy.go), removed labels pruned on a
// peer's link (prune.go), and values that another link holds newer kept
// (keepNewer, stamp.go).

// merge merges the event into the link and loads the link's incoming
// rules; an error is transient (the rule files wait to be fixed).
func (a *applying) merge() error {
	e, ev := a.e, a.ev
	for _, v := range ev.Replica.Fields {
		e.cfg.HLC.Observe(v.Clock)
	}
	set, err := e.cfg.Rules.Incoming(a.link)
	if err != nil {
		return err
	}
	a.rules = set
	l := a.tw.Link(string(a.link))
	a.previous = l.Agreed
	a.merged, a.ch = replica.Merge(l.Agreed, e.ownership(a.link).filter(ev.Replica))
	if !a.src.net() {
		pruneSets(&a.merged, ev.Replica) // prune.go
	}
	if a.tw.LocalKey != "" && ev.Op != replica.OpLink {
		a.newer, a.kept = keepNewer(a.tw, string(a.link), &a.merged, a.ch, e.cfg.HLC.Now)
		a.joinHeld()      // conflicts.go
		a.settle()        // conflictpolicy.go
		a.applyPolicies() // conflictpolicy.go
	}
	return nil
}

// checkLink refuses a link request for an issue that does not exist here or
// that is already synced as another twin.
func (e *Engine) checkLink(ev replica.Event, tw *store.Twin) error {
	if tw.LocalKey != "" && tw.LocalKey != ev.LinkKey {
		return fmt.Errorf("this twin is already %s here, not %s: %w", tw.LocalKey, ev.LinkKey, adapters.ErrRejected)
	}
	var other *store.Twin
	err := e.cfg.Store.View(func(tx *store.Tx) (err error) { other, err = tx.TwinByKey(ev.LinkKey); return })
	if err == nil && other.ID != ev.Twin {
		return fmt.Errorf("%s is already synced as another twin (%s); unsync it first: %w", ev.LinkKey, other.ID, adapters.ErrRejected)
	}
	return nil
}

// allChanges names everything r holds as changed.
func allChanges(r replica.Replica) replica.Changes {
	var ch replica.Changes
	for f := range r.Fields {
		ch.Fields = append(ch.Fields, f)
	}
	slices.Sort(ch.Fields)
	for _, c := range r.Comments {
		ch.Comments = append(ch.Comments, c.ID)
	}
	for _, a := range r.Attachments {
		ch.Attachments = append(ch.Attachments, a.ID)
	}
	return ch
}
