package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Steps 2 and 3, share: the outgoing rules make a replica of each changed
// issue for each link; the fields that differ from the link's baseline are
// stamped (stamp.go) and an event with the link's agreed state is appended
// to the link's outgoing log, in the same durable write that updates the
// link. The transport is then woken (Notifier).

// ShareChunk is how many twins a pass locks and writes in one go: passes
// stay short, so that the appliers working on the same twins wait little.
const ShareChunk = 64

// shareItem is one issue a share pass looks at: its key, and the issue as
// read at generation read (nil: not read yet). full: the issue is whole (a
// Get, or a full change feed).
type shareItem struct {
	key   string
	issue *adapters.Issue
	read  uint64
	full  bool
}

// Share runs the outgoing rules on the issues with these keys and appends
// an event to each of links whose baseline differs from what the rules
// make of the issue now (nil links: every link there is).
func (e *Engine) Share(ctx context.Context, keys []string, links []LinkKey) error {
	if links == nil {
		links = e.cfg.Links.Links()
	}
	read := e.fresh.begin()
	defer e.fresh.end()
	items := make([]shareItem, len(keys))
	for i, k := range keys {
		items[i] = shareItem{key: k, read: read}
	}
	return e.share(ctx, items, links)
}

// ShareAll shares every issue of the tracker with links (a new peer's or
// network's first sync), as the change feed returns them: an issue the
// feed gives whole is not read again.
func (e *Engine) ShareAll(ctx context.Context, links []LinkKey) error {
	if len(links) == 0 {
		return nil
	}
	var cur adapters.Cursor
	for {
		read := e.fresh.begin()
		issues, next, err := e.cfg.Tracker.Changes(ctx, cur, ChangeBatch)
		if err != nil {
			e.fresh.end()
			return err
		}
		items := make([]shareItem, len(issues))
		for i := range issues {
			items[i] = shareItem{key: issues[i].Key, issue: &issues[i], read: read, full: e.cfg.FullFeed}
		}
		err = e.share(ctx, items, links)
		e.fresh.end()
		if err != nil || len(issues) < ChangeBatch || next == cur {
			return err
		}
		cur = next
	}
}

// ShareParallel is how many chunks of a pass are shared at once. Each
// chunk ends in a durable sync-log write; chunks in flight together share
// one commit (group commit) instead of waiting for each other's: a first
// sync of 10,000 issues was 157 commits one after another.
const ShareParallel = 4

func (e *Engine) share(ctx context.Context, items []shareItem, links []LinkKey) error {
	if len(items) == 0 || len(links) == 0 {
		return nil
	}
	// A chunk holds the locks of all its twins; keep chunks short so that
	// the appliers working on the same twins wait little. Every chunk
	// takes its locks in twin ID order, so chunks in flight together do
	// not deadlock.
	if len(items) <= ShareChunk {
		return e.shareChunk(ctx, items, links)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, ShareParallel)
	)
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return firstErr != nil }
	i := 0
	for ; i < len(items) && !failed() && ctx.Err() == nil; i += ShareChunk {
		chunk := items[i:min(i+ShareChunk, len(items))]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := e.shareChunk(ctx, chunk, links); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil && i < len(items) {
		firstErr = ctx.Err() // stopped before the last chunk
	}
	return firstErr
}

// shareWork is an issue of a pass, read under its twin's lock.
type shareWork struct {
	is   adapters.Issue
	twin string
}

func (e *Engine) shareChunk(ctx context.Context, items []shareItem, links []LinkKey) error {
	twinOf, linked, err := e.twinsOf(ctx, items)
	if err != nil {
		return err
	}
	// Twins are locked in sorted order: two passes over overlapping twins
	// (a trigger pass and a network's key announcement) must not each hold
	// a lock the other waits for.
	twins := make([]string, 0, len(twinOf))
	for _, t := range twinOf {
		if t != "" && !slices.Contains(twins, t) {
			twins = append(twins, t)
		}
	}
	slices.Sort(twins)
	for _, t := range twins {
		defer e.locks.Lock(t)()
	}
	var work []shareWork
	for i := range items {
		it := &items[i]
		t := twinOf[it.key]
		if t == "" {
			continue
		}
		// The issue as it is under the lock: an incoming change may have
		// been applied since it was read.
		if it.issue == nil || !it.full || e.fresh.stale(t, it.read) {
			is, err := e.cfg.Tracker.Get(ctx, it.key)
			if err != nil {
				if errors.Is(err, adapters.ErrNotFound) {
					continue
				}
				return err
			}
			it.issue = &is
		}
		work = append(work, shareWork{*it.issue, t})
	}
	// The links shared with come first; the twin's other current links
	// are looked at too, for the clocks of what they hold (stamp).
	all := slices.Clone(links)
	for _, l := range e.cfg.Links.Links() {
		if !slices.Contains(all, l) {
			all = append(all, l)
		}
	}
	outcomes := make([][]linkOutcome, len(work))
	for i, w := range work {
		outcomes[i] = e.outgoing(w, all, len(links), linked)
	}
	now := time.Now()
	touched := map[LinkKey]bool{}
	queued := map[string]LinkKey{}
	owns := map[LinkKey]Ownership{} // network fields only their owner may change (policy.go)
	for _, l := range links {
		if o := e.ownership(l); o.active() {
			owns[l] = o
		}
	}
	var restores []ownedRestore
	err = e.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		clear(touched)
		clear(queued)
		restores = restores[:0]
		for i, w := range work {
			p := sharePass{e: e, tx: tx, now: now, links: links, all: all, outs: outcomes[i], owns: owns, issue: &w.is, queued: queued}
			if err := p.twin(w, touched, &restores); err != nil {
				return err
			}
			tx.Checkpoint() // each twin on its own if the pass is too big
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.observeQueued(queued)
	for l := range touched {
		e.wake(l)
	}
	for _, r := range restores {
		e.restoreOwned(ctx, r) // under the twin's lock, still held
	}
	return nil
}

// twinsOf resolves each item's twin: the one it is linked as, else the
// twin marker that sync left on an issue it created, else a new one ("":
// the issue is gone). linked holds twin ID + " " + link for every link
// the linked twins have. An issue not linked yet is read here, once, for
// its marker (unless the change feed gave it).
func (e *Engine) twinsOf(ctx context.Context, items []shareItem) (map[string]string, map[string]bool, error) {
	twinOf := make(map[string]string, len(items))
	linked := map[string]bool{}
	err := e.cfg.Store.View(func(tx *store.Tx) error {
		for _, it := range items {
			tw, err := tx.TwinByKey(it.key)
			switch {
			case err == nil:
				twinOf[it.key] = tw.ID
				for l := range tw.Links {
					linked[tw.ID+" "+l] = true
				}
			case errors.Is(err, store.ErrNotFound):
				twinOf[it.key] = ""
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for i := range items {
		it := &items[i]
		if twinOf[it.key] != "" {
			continue
		}
		if it.issue == nil || !it.full {
			is, err := e.cfg.Tracker.Get(ctx, it.key)
			switch {
			case errors.Is(err, adapters.ErrNotFound):
				continue
			case err != nil:
				return nil, nil, err
			}
			it.issue, it.full = &is, true
		}
		twinOf[it.key] = it.issue.TwinID
		if twinOf[it.key] == "" {
			twinOf[it.key] = NewID()
		}
	}
	return twinOf, linked, nil
}

// linkOutcome is what a link's filter and outgoing rules make of an issue.
type linkOutcome struct {
	skipLink bool // the twin has no such link: it holds nothing
	match    bool
	out      replica.Replica
	skip     bool
	err      error
}

// outgoing runs, outside the store's update function (which runs on the
// sync log's single writer), the filters and outgoing rules of all links
// for one issue; the first shared of them are shared with, the others
// are looked at only where the twin has them.
func (e *Engine) outgoing(w shareWork, all []LinkKey, shared int, linked map[string]bool) []linkOutcome {
	outs := make([]linkOutcome, len(all))
	for j, l := range all {
		o := &outs[j]
		if j >= shared && !linked[w.twin+" "+string(l)] {
			o.skipLink, o.skip = true, true
			continue
		}
		o.match = e.cfg.Rules.Matches(l, w.is)
		o.out, o.skip, o.err = e.cfg.Rules.Outgoing(l, w.is)
	}
	return outs
}

// sharePass is one twin of a share pass, inside the store's update.
type sharePass struct {
	e     *Engine
	tx    *store.Tx
	now   time.Time
	links []LinkKey // shared with
	all   []LinkKey // shared with, then the others
	outs  []linkOutcome
	owns  map[LinkKey]Ownership
	clk   replica.Clock
	issue *adapters.Issue // the issue shared (for its deleted comments)
	// queued: twin and link of each event queued, to the link (observe.go)
	queued map[string]LinkKey
}

// clock is the one clock for every link and field this issue's local edit
// reaches.
func (p *sharePass) clock() replica.Clock {
	if p.clk.IsZero() {
		p.clk = p.e.cfg.HLC.Now()
	}
	return p.clk
}

func (p *sharePass) twin(w shareWork, touched map[LinkKey]bool, restores *[]ownedRestore) error {
	tx := p.tx
	tw, err := tx.GetTwin(w.twin)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if w.is.TwinID == w.twin {
			// Created by sync and not linked yet: the applier that
			// created it links it (or finds it after a crash).
			return nil
		}
		if _, err := tx.TwinByKey(w.is.Key); err == nil {
			return nil // linked meanwhile by another pass, which shared it
		}
		tw = &store.Twin{ID: w.twin, LocalKey: w.is.Key, Created: p.now}
	case err != nil:
		return err
	}
	if tw.LocalKey == "" {
		tw.LocalKey = w.is.Key
	}
	dirty := false
	for j, link := range p.links {
		queued, changed, err := p.link(tw, j, link, restores)
		if err != nil {
			return err
		}
		dirty = dirty || changed
		if queued {
			touched[link] = true
			p.queued[tw.ID+" "+string(link)] = link
		}
	}
	if dirty {
		return tx.PutTwin(tw)
	}
	return nil
}

// link shares the twin with one link: it reports whether an event was
// queued and whether the twin changed.
func (p *sharePass) link(tw *store.Twin, j int, link LinkKey, restores *[]ownedRestore) (queued, dirty bool, err error) {
	tx, e := p.tx, p.e
	o := p.outs[j]
	l := tw.Links[string(link)]
	unsynced, manual := l != nil && l.Unsynced, l != nil && l.Manual
	if unsynced || (!manual && !o.match) {
		// Not (or no longer) under sync with this link: an issue that
		// stops matching the filter is no longer updated.
		return false, false, nil
	}
	if IsBlockedOut(tx, tw.ID, link) {
		return false, false, nil // until retried
	}
	out, err := o.out, o.err
	if errors.Is(err, ErrRulesBroken) || o.skip {
		return false, false, nil
	}
	if err == nil {
		var agreed *replica.Replica
		if l != nil {
			agreed = &l.Agreed
		}
		err = CheckEventSize(tw.LocalKey, out, agreed)
	}
	if err != nil {
		e.log.Warn("the twin is blocked for that link until retried: its outgoing rules or its size refuse it", "link", link, "key", tw.LocalKey, "err", err)
		return false, true, BlockOut(tx, tw, link, err)
	}
	if l == nil {
		l = tw.Link(string(link))
	}
	baseline := l.Baseline
	out = withClears(out, l.Baseline) // clears.go
	if own, ok := p.owns[link]; ok {
		var reverted []string
		if out, reverted = own.keepOwned(e.cfg.Self, out, l.Baseline); len(reverted) > 0 {
			*restores = append(*restores, ownedRestore{link: link, twin: tw.ID, key: tw.LocalKey, fields: reverted})
		}
	}
	// Values of received events not recorded yet keep their clocks
	// (unrecorded.go).
	hs := append(heldBy(tw, link, p.all, p.outs), e.unrec.held(tw.ID, out)...)
	changed := stamp(&l.Agreed, l.Baseline, out, p.clock, hs)
	if p.issue != nil {
		changed = append(changed, stampDeletedComments(&l.Agreed, l.Baseline, *p.issue, e.cfg.Self, p.clock)...) // relations.go
	}
	// A network learns each member's key from its events: a member that
	// has not told its key yet sends its state.
	announce := link.IsNet() && l.Keys[e.cfg.Self] != tw.LocalKey
	if len(changed) == 0 && !announce {
		if !replica.SameValues(l.Baseline, out) {
			l.Baseline = out
			return false, true, nil
		}
		return false, false, nil
	}
	l.Baseline = out
	note := changeNote{changes: ValueChanges(baseline, out, changed)}
	if p.issue != nil {
		note.changed = p.issue.Updated
	}
	if err := e.queue(tx, tw, link, l, changed, p.now, note); err != nil {
		if !errors.Is(err, replica.ErrMalformed) {
			return false, false, err
		}
		// The codec refused the event (a limit CheckEventSize does not
		// know): block this twin alone. The old baseline makes the retry
		// send the same fields again.
		l.Baseline = baseline
		e.log.Warn("the event cannot be sent; the twin is blocked for that link until retried", "link", link, "key", tw.LocalKey, "err", err)
		return false, true, BlockOut(tx, tw, link, fmt.Errorf("issue %s: the event cannot be sent: %w", tw.LocalKey, err))
	}
	return true, true, nil
}

// Queue appends an event with the twin's agreed state on link to the
// link's outgoing log (a peer's, or this node's author log of a network)
// and records it in the twin's history. It runs inside an update; the
// caller stores the twin and wakes the link.
func (e *Engine) Queue(tx *store.Tx, tw *store.Twin, link LinkKey, l *store.Link, changed []string, now time.Time) error {
	return e.queue(tx, tw, link, l, changed, now, changeNote{})
}

// queue is Queue with what the history record tells of the change.
func (e *Engine) queue(tx *store.Tx, tw *store.Twin, link LinkKey, l *store.Link, changed []string, now time.Time, note changeNote) error {
	ev := replica.Event{
		V: replica.Version, ID: NewID(), Twin: tw.ID, Origin: e.cfg.Self,
		SourceKey: tw.LocalKey, Sent: now.UnixNano(),
	}
	if !note.changed.IsZero() {
		ev.Changed = note.changed.UnixNano()
	}
	return e.append(tx, tw, link, l, &ev, changed, now, note)
}

// append completes ev with the link's agreed state and appends it.
func (e *Engine) append(tx *store.Tx, tw *store.Twin, link LinkKey, l *store.Link, ev *replica.Event, changed []string, now time.Time, note changeNote) error {
	if !link.IsNet() && ev.Op != replica.OpUnsync {
		raiseFloors(&l.Agreed) // prune.go
	}
	if ev.Op != replica.OpUnsync {
		ev.Replica = l.Agreed.Clone()
	}
	var seq uint64
	var err error
	if link.IsNet() {
		if e.cfg.Nets == nil {
			return fmt.Errorf("no networks here to append to %s", link)
		}
		seq, err = e.cfg.Nets.AppendNet(tx, link, l, ev)
	} else {
		seq, err = tx.Append(string(link), ev)
	}
	if err != nil {
		return err
	}
	return AddSent(tx, tw, now, Sent{Link: link, Seq: seq, EventID: ev.ID, What: QueuedOutcome(ev.Op), Fields: changed, LocalKey: tw.LocalKey, Changes: note.changes, Changed: note.changed})
}

// heldBy lists the twin's links other than link, among all (whose
// outcomes are outs), with what they agreed and hold: the sources of the
// clocks that stamp passes on.
func heldBy(tw *store.Twin, link LinkKey, all []LinkKey, outs []linkOutcome) []held {
	var hs []held
	for j, q := range all {
		l := tw.Links[string(q)]
		if q == link || l == nil || l.Unsynced || outs[j].err != nil || outs[j].skip {
			continue
		}
		hs = append(hs, held{agreed: l.Agreed, baseline: l.Baseline, out: outs[j].out})
	}
	return hs
}

// EachIssue calls fn with every issue of the tracker, a page at a time.
func (e *Engine) EachIssue(ctx context.Context, fn func([]adapters.Issue) error) error {
	var cur adapters.Cursor
	for {
		issues, next, err := e.cfg.Tracker.Changes(ctx, cur, ChangeBatch)
		if err != nil {
			return err
		}
		if err := fn(issues); err != nil {
			return err
		}
		if len(issues) < ChangeBatch || next == cur {
			return nil
		}
		cur = next
	}
}
