package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/engine"
	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// shareChunk is how many issues share locks and writes in one go.
const shareChunk = 64

// changeBatch is how many tracker changes one trigger pass takes at a time.
const changeBatch = 500

// defaultPollInterval is how often a tracker without push notifications is
// asked for changes (tracker.poll_interval); a pushing tracker is also
// asked at this pace, as a safety net.
const defaultPollInterval = 5 * time.Second

// runTrigger follows the tracker's change feed from the stored cursor and
// shares every change with the peers. The rule files are watched beside it
// (watchRules), so that a fix is picked up even while the trigger backs
// off.
func (n *Node) runTrigger(ctx context.Context) error {
	n.goRun(ctx, "rules", n.watchRules)
	every := n.pollEvery()
	tick := time.NewTicker(every)
	defer tick.Stop()
	idle := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return false
		case <-n.wakeTrigger:
		case <-tick.C:
		}
		if e := n.pollEvery(); e != every { // config.yaml changed it
			every = e
			tick.Reset(e)
		}
		return true
	}
	return backoff.Retry(ctx, n.backoff(), n.scanChanges, idle, func(ctx context.Context, err error, b *backoff.Backoff) bool {
		if errors.Is(err, diskspace.ErrLow) {
			n.log.Debug("the home's disk is full; the trigger takes no changes until there is room", "err", err)
			return n.waitSpace(ctx)
		}
		return n.waitTracker(ctx, b, err)
	})
}

// scanChanges shares every tracker change after the stored cursor. The
// cursor is advanced only after the events are in the sync log; a crash in
// between makes the next pass look at the same issues again, which sends
// nothing twice because unchanged fields match the link's baseline.
func (n *Node) scanChanges(ctx context.Context) error {
	for {
		// A full disk takes nothing new from the feed (space.go).
		if err := n.space.Check(); err != nil {
			return err
		}
		var cur string
		if err := n.store.View(func(tx *store.Tx) (err error) { cur, err = tx.Cursor(triggerName); return }); err != nil {
			return err
		}
		issues, next, err := n.tracker.Changes(ctx, adapters.Cursor(cur), changeBatch)
		if err != nil {
			return fmt.Errorf("tracker changes since %q: %w", cur, err)
		}
		keys := make([]string, len(issues))
		for i, is := range issues {
			keys[i] = is.Key
		}
		if err := n.share(ctx, keys, nil); err != nil {
			return err
		}
		if string(next) != cur {
			if err := n.store.Update(ctx, func(tx *store.Tx) error { tx.SetCursor(triggerName, string(next)); return nil }); err != nil {
				return err
			}
		}
		if len(issues) < changeBatch {
			return nil
		}
	}
}

// share runs the outgoing rules on the issues with these keys and appends
// an event to every peer and network (or only to the peers in `to`, when
// given) whose link baseline differs from what the rules make of the issue
// now.
func (n *Node) share(ctx context.Context, keys []string, to []peer.ID) error {
	var links []string
	for _, p := range to {
		links = append(links, p.String())
	}
	if to == nil {
		for _, p := range n.peerIDs() {
			links = append(links, p.String())
		}
		links = append(links, n.netLinks()...)
	}
	return n.shareLinks(ctx, keys, links)
}

// shareLinks is share to the given links: peer IDs and "net:<network ID>"
// (see source.go).
func (n *Node) shareLinks(ctx context.Context, keys []string, peers []string) error {
	if len(keys) == 0 || len(peers) == 0 {
		return nil
	}
	// A pass holds the locks of all its twins; keep passes short so that
	// the appliers working on the same twins wait little.
	if len(keys) > shareChunk {
		for i := 0; i < len(keys); i += shareChunk {
			if err := n.shareLinks(ctx, keys[i:min(i+shareChunk, len(keys))], peers); err != nil {
				return err
			}
		}
		return nil
	}
	// Resolve each issue's twin (or mint one), then lock the twins so that
	// no incoming change is applied to them meanwhile.
	twinOf := make(map[string]string, len(keys))
	linked := map[string]bool{} // twin ID + " " + link: the twin has that link
	err := n.store.View(func(tx *store.Tx) error {
		for _, k := range keys {
			tw, err := tx.TwinByKey(k)
			switch {
			case err == nil:
				twinOf[k] = tw.ID
				for l := range tw.Links {
					linked[tw.ID+" "+l] = true
				}
			case errors.Is(err, store.ErrNotFound):
				twinOf[k] = ""
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// An issue not linked yet names its twin if sync created it, else it
	// gets a new one. Twins are locked in sorted order: two passes over
	// overlapping twins (a trigger pass and a network's key announcement)
	// must not each hold a lock the other waits for.
	for _, k := range keys {
		if twinOf[k] != "" {
			continue
		}
		is, err := n.tracker.Get(ctx, k)
		switch {
		case errors.Is(err, adapters.ErrNotFound):
			continue
		case err != nil:
			return err
		}
		twinOf[k] = is.TwinID
		if twinOf[k] == "" {
			twinOf[k] = newID()
		}
	}
	twins := make([]string, 0, len(twinOf))
	for _, t := range twinOf {
		if t != "" && !slices.Contains(twins, t) {
			twins = append(twins, t)
		}
	}
	slices.Sort(twins)
	for _, t := range twins {
		defer n.locks.Lock(t)()
	}
	type item struct {
		is   adapters.Issue
		twin string
	}
	var items []item
	for _, k := range keys {
		// Read the issue under the lock: an incoming change may have been
		// applied since the change feed reported it.
		if twinOf[k] == "" {
			continue
		}
		fresh, err := n.tracker.Get(ctx, k)
		if err != nil {
			if errors.Is(err, adapters.ErrNotFound) {
				continue
			}
			return err
		}
		items = append(items, item{fresh, twinOf[k]})
	}
	// Run the triggers and outgoing rules now, outside the store's update
	// function, which runs on the sync log's single writer.
	// The links shared with come first; the twin's other current links
	// are looked at too, for the clocks of what they hold (stamp).
	all := slices.Clone(peers)
	for _, p := range n.peerIDs() {
		if !slices.Contains(all, p.String()) {
			all = append(all, p.String())
		}
	}
	for _, l := range n.netLinks() {
		if !slices.Contains(all, l) {
			all = append(all, l)
		}
	}
	outcomes := make([][]linkOutcome, len(items))
	for i, it := range items {
		outcomes[i] = make([]linkOutcome, len(all))
		for j, p := range all {
			o := &outcomes[i][j]
			if j >= len(peers) && !linked[it.twin+" "+p] {
				o.skip = true // no link of this twin: it holds nothing
				continue
			}
			o.match = n.matchesLink(p, it.is)
			o.out, o.skip, o.err = n.outgoingLink(p, it.is)
		}
	}
	now := time.Now()
	touched := map[string]bool{}
	owns := n.ownerships(peers) // network fields only their owner may change (policy.go)
	var restores []ownedRestore
	err = n.store.Update(ctx, func(tx *store.Tx) error {
		clear(touched)
		restores = restores[:0]
		for i, it := range items {
			tw, err := tx.GetTwin(it.twin)
			switch {
			case errors.Is(err, store.ErrNotFound):
				if it.is.TwinID == it.twin {
					// Created by sync and not linked yet: the applier that
					// created it links it (or finds it after a crash).
					continue
				}
				if _, err := tx.TwinByKey(it.is.Key); err == nil {
					// Linked meanwhile by another pass, which shared it.
					continue
				}
				tw = &store.Twin{ID: it.twin, LocalKey: it.is.Key, Created: now}
			case err != nil:
				return err
			}
			if tw.LocalKey == "" {
				tw.LocalKey = it.is.Key
			}
			dirty := false
			// One clock for every link and field this issue's local edit
			// reaches.
			var clk replica.Clock
			clock := func() replica.Clock {
				if clk.IsZero() {
					clk = n.hlc.Now()
				}
				return clk
			}
			for j, p := range peers {
				o := outcomes[i][j]
				l := tw.Links[p]
				unsynced, manual := l != nil && l.Unsynced, l != nil && l.Manual
				if unsynced || (!manual && !o.match) {
					// Not (or no longer) under sync with this peer: an issue
					// that stops matching the trigger is no longer updated.
					continue
				}
				if engine.IsBlockedOut(tx, tw.ID, engine.LinkKey(p)) {
					continue // until retried
				}
				out, skip, err := o.out, o.skip, o.err
				if errors.Is(err, errRulesBroken) || skip {
					continue
				}
				if err == nil {
					var agreed *replica.Replica
					if l != nil {
						agreed = &l.Agreed
					}
					err = checkEventSize(tw.LocalKey, out, agreed)
				}
				if err != nil {
					n.log.Warn("the twin is blocked for that link until retried: its outgoing rules or its size refuse it", "peer", p, "key", tw.LocalKey, "err", err)
					if err := engine.BlockOut(tx, tw, engine.LinkKey(p), err); err != nil {
						return err
					}
					dirty = true
					continue
				}
				if l == nil {
					l = tw.Link(p)
				}
				baseline := l.Baseline
				if own, ok := owns[p]; ok {
					var reverted []string
					if out, reverted = own.keepOwned(n.self.String(), out, l.Baseline); len(reverted) > 0 {
						restores = append(restores, ownedRestore{link: p, twin: tw.ID, key: tw.LocalKey, fields: reverted})
					}
				}
				// Values of received events not recorded yet keep their
				// clocks (unrecorded.go).
				hs := append(heldBy(tw, p, all, outcomes[i]), n.unrec.held(tw.ID, out)...)
				changed := stamp(&l.Agreed, l.Baseline, out, clock, hs)
				// A network learns each member's key from its events: a
				// member that has not told its key yet sends its state.
				announce := isNetLink(p) && l.Keys[n.self.String()] != tw.LocalKey
				if len(changed) == 0 && !announce {
					if !replica.SameValues(l.Baseline, out) {
						l.Baseline, dirty = out, true
					}
					continue
				}
				l.Baseline = out
				if err := n.queueEvent(tx, tw, p, l, changed, now); err != nil {
					if !errors.Is(err, replica.ErrMalformed) {
						return err
					}
					// The codec refused the event (a limit checkEventSize
					// does not know): block this twin alone. The old
					// baseline makes the retry send the same fields again.
					l.Baseline = baseline
					n.log.Warn("the event cannot be sent; the twin is blocked for that link until retried", "peer", p, "key", tw.LocalKey, "err", err)
					if err := engine.BlockOut(tx, tw, engine.LinkKey(p), fmt.Errorf("issue %s: the event cannot be sent: %w", tw.LocalKey, err)); err != nil {
						return err
					}
					dirty = true
					continue
				}
				touched[p] = true
				dirty = true
			}
			if dirty {
				if err := tx.PutTwin(tw); err != nil {
					return err
				}
			}
			tx.Checkpoint() // each twin on its own if the pass is too big
		}
		return nil
	})
	if err != nil {
		return err
	}
	for p := range touched {
		n.wakeLink(p)
	}
	for _, r := range restores {
		n.restoreOwned(ctx, r) // under the twin's lock, still held
	}
	return nil
}

// queueEvent appends an event with the twin's agreed state on link p to
// the link's outgoing log (a peer's, or this node's author log of a
// network) and records it in the twin's history. It runs inside an update.
func (n *Node) queueEvent(tx *store.Tx, tw *store.Twin, p string, l *store.Link, changed []string, now time.Time) error {
	if !isNetLink(p) {
		raiseFloors(&l.Agreed) // prune.go
	}
	ev := replica.Event{
		V: replica.Version, ID: newID(), Twin: tw.ID, Origin: n.self.String(),
		SourceKey: tw.LocalKey, Sent: now.UnixNano(), Replica: l.Agreed.Clone(),
	}
	var seq uint64
	var err error
	if isNetLink(p) {
		seq, err = n.appendNet(tx, p, l, &ev)
	} else {
		seq, err = tx.Append(p, &ev)
	}
	if err != nil {
		return err
	}
	return engine.AddSent(tx, tw, now, engine.Sent{Link: engine.LinkKey(p), Seq: seq, EventID: ev.ID, What: engine.Queued, Fields: changed, LocalKey: tw.LocalKey})
}

// linkOutcome is what a link's trigger and outgoing rules make of an issue.
type linkOutcome struct {
	match bool
	out   replica.Replica
	skip  bool
	err   error
}

// heldBy lists the twin's links other than p, among links (whose outcomes
// are outs), with what they agreed and hold: the sources of the clocks that
// stamp passes on.
func heldBy(tw *store.Twin, p string, links []string, outs []linkOutcome) []held {
	var hs []held
	for j, q := range links {
		l := tw.Links[q]
		if q == p || l == nil || l.Unsynced || outs[j].err != nil || outs[j].skip {
			continue
		}
		hs = append(hs, held{agreed: l.Agreed, baseline: l.Baseline, out: outs[j].out})
	}
	return hs
}

// transient reports whether an error is worth retrying as it is.
func transient(err error) bool {
	return errors.Is(err, adapters.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// applyOne merges one received event into its twin's link, applies the
// result to the tracker and records the outcome. It returns the ack to send,
// or an error when the event must be tried again later (transient). The
// caller holds the twin's lock. tw is the twin as stored, if the caller read
// it under that lock (nil: read here). With later, an applied or skipped
// event's finish write is not committed but handed to the caller in later,
// which commits it before it sends the ack or releases the lock; a failed
// event is recorded at once.
func (n *Node) applyOne(ctx context.Context, src *source, seq uint64, ev replica.Event, tw *store.Twin, later *deferredFinish) (replica.Ack, error) {
	pid := src.link
	ack := replica.Ack{Seq: seq, EventID: ev.ID, Twin: ev.Twin}
	// Until its outcome is recorded, the event's values may be in the
	// tracker with the link still as before (unrecorded.go).
	n.unrec.add(ev.Twin, src.key, seq, ev.Replica)

	var err error
	if tw == nil {
		err = n.store.View(func(tx *store.Tx) (err error) { tw, err = tx.GetTwin(ev.Twin); return })
		if errors.Is(err, store.ErrNotFound) {
			tw, err = &store.Twin{ID: ev.Twin, Created: time.Now()}, nil
		}
		if err != nil {
			return ack, err
		}
	}
	l := tw.Link(pid)
	ack.LocalKey = tw.LocalKey
	switch {
	case ev.Op == replica.OpUnsync:
		ack.Result = replica.ResultApplied
		return ack, n.finish(ctx, later, src, seq, ev, ack, func(_ *store.Tx, tw *store.Twin) error { tw.Link(pid).Unsynced = true; return nil }, nil, engine.Unsynced)
	case ev.Op == replica.OpLink:
		if err := n.checkLink(ev, tw); err != nil {
			ack.Result, ack.Error = replica.ResultFailed, err.Error()
			return ack, n.fail(ctx, src, seq, ev, ack)
		}
		// Linking (again) starts from scratch: the peer's state lands on
		// the existing issue, field by field.
		tw.LocalKey = ev.LinkKey
		l.Agreed, l.Baseline = replica.Replica{}, replica.Replica{}
	case l.Unsynced:
		ack.Result = replica.ResultSkipped
		return ack, n.finish(ctx, later, src, seq, ev, ack, nil, nil, "")
	}
	for _, v := range ev.Replica.Fields {
		n.hlc.Observe(v.Clock)
	}
	set, _, err := n.linkRules(pid)
	if err != nil {
		return ack, err // transient: waits until the rule files are fixed
	}
	previous := l.Agreed
	merged, ch := replica.Merge(l.Agreed, n.ownershipOf(pid).filter(ev.Replica))
	if !src.net() {
		pruneSets(&merged, ev.Replica) // prune.go
	}
	// kept: fields where the issue keeps a newer value that came by another
	// link (or was edited here) than the one this event brings.
	var kept []string
	var newer map[string]replica.Clock
	if tw.LocalKey != "" && ev.Op != replica.OpLink {
		newer, kept = keepNewer(tw, pid, &merged, ch, n.hlc.Now)
	}
	var issue adapters.Issue
	var before *replica.Replica // the peer's view of the issue before the change
	full := false
	skipped := ""
	var attach []adapters.Attachment // the files the rules attach (attach.go)
	// apply runs the incoming rules on the current issue (nil: none here
	// yet) and applies their result.
	apply := func(cur *adapters.Issue, ch replica.Changes, first bool) (adapters.Issue, error) {
		in := rules.Incoming{Replica: merged, Changed: ch, Issue: cur}
		if !first {
			in.Previous = &previous
		}
		res, err := set.Incoming(in)
		if err != nil {
			return adapters.Issue{}, fmt.Errorf("%w: %w", adapters.ErrRejected, err)
		}
		if res.Skip {
			skipped = res.Reason
			if skipped == "" {
				skipped = "skipped by the incoming rules"
			}
			if cur == nil {
				return adapters.Issue{}, nil
			}
			return *cur, nil
		}
		attach = res.Attach
		if cur == nil {
			c := adapters.Issue{}
			if res.Create != nil {
				c = *res.Create
			}
			c.TwinID = ev.Twin
			return n.tracker.Create(ctx, c)
		}
		patch := res.Patch
		if res.Create != nil { // rules that create on a first sync of an issue found here
			patch = patchFrom(*cur, *res.Create)
		}
		if cur.TwinID != ev.Twin {
			patch.TwinID = &ev.Twin
		}
		if patch.Empty() {
			return *cur, nil
		}
		return n.tracker.Update(ctx, cur.Key, patch)
	}
	switch {
	case ev.Op == replica.OpLink:
		if issue, err = n.tracker.Get(ctx, tw.LocalKey); err == nil {
			issue, err = apply(&issue, allChanges(merged), false)
		}
		full = true
	case tw.LocalKey == "":
		// First sync of this twin here. A crash after an earlier create but
		// before its link was stored left the twin marker on the issue:
		// find it instead of creating a second one.
		issue, err = n.tracker.FindByTwin(ctx, ev.Twin)
		switch {
		case err == nil:
			issue, err = apply(&issue, allChanges(merged), true)
		case errors.Is(err, adapters.ErrNotFound):
			if err = n.notLinkedYet(src, ev); err == nil { // lostlink.go
				issue, err = apply(nil, ch, true)
			}
		}
		full = true
	default:
		if issue, err = n.tracker.Get(ctx, tw.LocalKey); err == nil {
			// What the issue is to this peer before the change: what the
			// change alters is told apart from local edits not shared yet.
			if b, skip, err := n.outgoingLink(pid, issue); err == nil && !skip {
				before = &b
			}
			if len(newer) > 0 && before != nil {
				var k []string
				ch, k = keepFields(*before, &merged, ch, newer)
				kept = append(kept, k...)
			}
			issue, err = apply(&issue, ch, false)
		}
	}
	if err == nil && len(attach) > 0 && issue.Key != "" {
		issue, err = n.attachFiles(ctx, ev, issue, attach)
	}
	if err == nil && skipped != "" && issue.Key == "" {
		// The rules skip a twin not created here: acknowledge, keep nothing.
		ack.Result, ack.Error = replica.ResultSkipped, skipped
		return ack, n.finish(ctx, later, src, seq, ev, ack, func(_ *store.Tx, tw *store.Twin) error {
			l := tw.Link(pid)
			l.Agreed = merged
			if src.net() {
				l.SetKey(ev.Origin, ev.SourceKey)
			}
			return nil
		}, engine.ChangeNames(ch), engine.Skipped)
	}
	if err != nil {
		if transient(err) {
			return ack, err
		}
		ack.Result = replica.ResultFailed
		ack.Error = err.Error()
		ack.LocalKey = tw.LocalKey
		n.log.Warn("event could not be applied; the twin is blocked until retried", "peer", src.key, "twin", ev.Twin, "key", tw.LocalKey, "err", err)
		return ack, n.fail(ctx, src, seq, ev, ack)
	}
	ack.Result = replica.ResultApplied
	ack.LocalKey = issue.Key
	out, _, oerr := n.outgoingLink(pid, issue)
	if oerr != nil {
		// Without a baseline from the outgoing rules, the next local change
		// of this issue is compared with the previous one: at worst a field
		// is sent once more.
		n.log.Warn("outgoing rules failed after applying an incoming change", "peer", pid, "key", issue.Key, "err", oerr)
		out = tw.Link(pid).Baseline
	}
	err = n.finish(ctx, later, src, seq, ev, ack, func(tx *store.Tx, tw *store.Twin) error {
		tw.LocalKey = issue.Key
		l := tw.Link(pid)
		l.Unsynced = false
		switch {
		case src.net():
			l.SetKey(ev.Origin, ev.SourceKey)
		case ev.SourceKey != "":
			l.RemoteKey = ev.SourceKey
		}
		l.Agreed = merged
		if full {
			// An issue that arrived from the peer (or that it linked)
			// keeps syncing back with it, whatever this side's trigger says.
			l.Baseline, l.Manual = out, true
			return nil
		}
		rebase(&l.Baseline, before, out, replica.Changes{Fields: append(slices.Clone(ch.Fields), kept...), Comments: ch.Comments, Attachments: ch.Attachments})
		if len(kept) == 0 {
			return nil
		}
		// The peer sent older values than the issue holds: tell it.
		return n.queueEvent(tx, tw, pid, l, kept, time.Now())
	}, engine.ChangeNames(ch), "")
	if err == nil && len(kept) > 0 {
		if later != nil {
			later.wake = pid // once committed
		} else {
			n.wakeLink(pid)
		}
	}
	return ack, err
}

// checkLink refuses a link request for an issue that does not exist here or
// that is already synced as another twin.
func (n *Node) checkLink(ev replica.Event, tw *store.Twin) error {
	if tw.LocalKey != "" && tw.LocalKey != ev.LinkKey {
		return fmt.Errorf("this twin is already %s here, not %s: %w", tw.LocalKey, ev.LinkKey, adapters.ErrRejected)
	}
	var other *store.Twin
	err := n.store.View(func(tx *store.Tx) (err error) { other, err = tx.TwinByKey(ev.LinkKey); return })
	if err == nil && other.ID != ev.Twin {
		return fmt.Errorf("%s is already synced as another twin (%s); unsync it first: %w", ev.LinkKey, other.ID, adapters.ErrRejected)
	}
	return nil
}

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

// deferredFinish is the finish write of an event applied in a batch, left
// for applyBatch to commit together with the batch's others.
type deferredFinish struct {
	// fn is the write; nil when the event was recorded already (failed).
	fn  func(*store.Tx) error
	ack replica.Ack
	// wake is a link to wake once fn is committed (an event was queued to
	// it), or "".
	wake string
	// recorded is called once fn is committed.
	recorded func()
}

// finish records an applied or skipped event: the twin update (done on the
// twin as stored at commit time, so that concurrent ack bookkeeping is
// kept), the history line, the ack to answer retransmissions with, and the
// removal from the incoming log. With later, the write is handed over in
// later.fn instead of committed.
func (n *Node) finish(ctx context.Context, later *deferredFinish, src *source, seq uint64, ev replica.Event, ack replica.Ack, update func(*store.Tx, *store.Twin) error, fields []string, what engine.Outcome) error {
	pid := src.key
	fn := func(tx *store.Tx) error {
		tw, err := tx.GetTwin(ev.Twin)
		if errors.Is(err, store.ErrNotFound) {
			tw, err = &store.Twin{ID: ev.Twin, Created: time.Now()}, nil
		}
		if err != nil {
			return err
		}
		if update != nil {
			if err := update(tx, tw); err != nil {
				return err
			}
		}
		engine.Unblock(tx, ev.Twin, store.BlockIn, pid)
		if what == "" {
			what = engine.Applied
			if ack.Result == replica.ResultSkipped {
				what = engine.Skipped
			}
		}
		if err := engine.AddReceived(tx, tw, time.Now(), engine.Received{Source: engine.SourceKey(pid), Seq: seq, EventID: ev.ID, What: what, Fields: fields, LocalKey: tw.LocalKey}); err != nil {
			return err
		}
		if err := tx.PutTwin(tw); err != nil {
			return err
		}
		return tx.FinishIn(pid, seq, ack)
	}
	result := string(what)
	if result == "" {
		result = resultLabel(ack.Result)
	}
	recorded := func() {
		n.unrec.done(ev.Twin, pid, seq)
		n.metrics.recorded(pid, result)
	}
	if later != nil {
		later.fn, later.ack, later.recorded = fn, ack, recorded
		return nil
	}
	if err := n.store.Update(ctx, fn); err != nil {
		return err
	}
	recorded()
	return nil
}

// fail blocks the twin for events from src (blockIn): the event stays in
// the incoming log, and so do the twin's later events from src, until an
// operator retries it. The twin's other links are not touched.
func (n *Node) fail(ctx context.Context, src *source, seq uint64, ev replica.Event, ack replica.Ack) error {
	pid := src.key
	return n.store.Update(ctx, func(tx *store.Tx) error {
		if err := engine.BlockIn(tx, ev.Twin, ack.LocalKey, engine.SourceKey(pid), seq, ack.Error); err != nil {
			return err
		}
		tw, err := tx.GetTwin(ev.Twin)
		if err != nil {
			return nil // never linked here: the blocked record says it all
		}
		if err := engine.AddReceived(tx, tw, time.Now(), engine.Received{Source: engine.SourceKey(pid), Seq: seq, EventID: ev.ID, What: engine.Failed, LocalKey: tw.LocalKey, Error: ack.Error}); err != nil {
			return err
		}
		return tx.PutTwin(tw)
	})
}

// runApplier applies the events received from one peer, in order. A
// transient error (tracker down) stops the pass and retries it with capped
// exponential backoff and jitter; a permanent error blocks only its twin.
func (n *Node) runApplier(ctx context.Context, ps *peerState) error {
	return n.retryLoop(ctx, ps.wakeApply, slog.LevelWarn, "applying received events failed; retrying", []any{"peer", ps.id},
		func(ctx context.Context) error { return n.applyPending(ctx, ps.source()) })
}

// retryLoop runs pass until ctx ends. After a failed pass it logs the error
// and runs it again after a doubling, capped and jittered backoff; after a
// good pass it waits until woken.
func (n *Node) retryLoop(ctx context.Context, wake <-chan struct{}, level slog.Level, msg string, attrs []any, pass func(context.Context) error) error {
	return backoff.Retry(ctx, n.backoff(), pass, backoff.OnWake(wake), func(ctx context.Context, err error, b *backoff.Backoff) bool {
		if errors.Is(err, diskspace.ErrLow) {
			// Resume as soon as there is room, not after a backoff.
			return n.waitSpace(ctx)
		}
		n.log.Log(ctx, level, msg, append(attrs, "err", err, "in", b.Current())...)
		return b.Wait(ctx)
	})
}

// backoff is the retry policy of the node's loops (Options.RetryMin and
// RetryMax).
func (n *Node) backoff() *backoff.Backoff { return backoff.New(n.opts.RetryMin, n.opts.RetryMax) }

func (n *Node) applyPending(ctx context.Context, src *source) error {
	pid := src.key
	var after uint64
	for {
		// Not a tracker write that could not be recorded (space.go).
		if err := n.space.Check(); err != nil {
			return err
		}
		var entries []store.InEntry
		var blocked map[string]bool
		err := n.store.View(func(tx *store.Tx) error {
			var err error
			if entries, err = tx.PendingIn(pid, after, 256); err != nil {
				return err
			}
			blocked, err = engine.BlockedIn(tx, engine.SourceKey(pid))
			return err
		})
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		after = entries[len(entries)-1].Seq
		if err := n.applyBatch(ctx, src, entries, blocked); err != nil {
			return err
		}
	}
}

// applyWorkers bounds how many twins of one peer are applied at once.
const applyWorkers = 128

// applyBatch applies a batch of received events: the events of one twin one
// after another, in order, and different twins concurrently, so that their
// tracker commits share fsyncs (group commit). A twin whose event fails
// permanently is blocked and its later events wait; a transient error stops
// that twin's chain and is returned, so the batch is retried from the oldest
// event left in the incoming log.
//
// The last event of every chain is recorded in one sync-log write for the
// whole batch (commitFinishes) instead of a commit of its own: serial
// durable commits per event, not CPU, bounded how many events a peer's
// applier carried. Hence the batch holds the locks of all its twins until
// that commit (else a trigger pass would see an applied change before its
// baseline is stored and send it back), taken up front in twin ID order as
// share takes them (a lock held while waiting for one lower in the order
// deadlocks against share). With the locks held, the batch's twins are read
// in one transaction.
func (n *Node) applyBatch(ctx context.Context, src *source, entries []store.InEntry, blocked map[string]bool) error {
	chains := map[string][]store.InEntry{}
	var order []string
	for _, e := range entries {
		t := e.Event.Twin
		if blocked[t] {
			continue // keeps its place in order until retried
		}
		if _, ok := chains[t]; !ok {
			order = append(order, t)
		}
		chains[t] = append(chains[t], e)
	}
	if len(order) == 0 {
		return nil
	}
	sorted := slices.Sorted(maps.Keys(chains))
	unlocks := make([]func(), 0, len(sorted))
	defer func() {
		for _, unlock := range unlocks {
			unlock()
		}
	}()
	for _, t := range sorted {
		unlocks = append(unlocks, n.locks.Lock(t))
	}
	// A twin that cannot be read here is left out (nil): applyOne reads it
	// again and fails that twin's chain alone.
	twins := make(map[string]*store.Twin, len(order))
	_ = n.store.View(func(tx *store.Tx) error {
		for _, t := range order {
			tw, err := tx.GetTwin(t)
			switch {
			case errors.Is(err, store.ErrNotFound):
				tw = &store.Twin{ID: t, Created: time.Now()}
			case err != nil:
				continue
			}
			twins[t] = tw
		}
		return nil
	})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, applyWorkers)
		finishes []*deferredFinish
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, t := range order {
		chain := chains[t]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			tw := twins[t]
			for i, e := range chain {
				var later *deferredFinish
				if i == len(chain)-1 {
					later = &deferredFinish{}
				}
				// An event clocked too far ahead is refused, not applied,
				// and does not hold the twin's next events (refusals.go).
				ack, refused, err := n.refuseAhead(ctx, later, src, e.Seq, e.Event)
				if !refused && err == nil {
					ack, err = n.applyOne(ctx, src, e.Seq, e.Event, tw, later)
				}
				tw = nil // the next event reads the twin its predecessor stored
				if err != nil {
					fail(err)
					return
				}
				if later != nil && later.fn != nil {
					mu.Lock()
					finishes = append(finishes, later)
					mu.Unlock()
					return
				}
				if src.ack != nil {
					src.ack(ack)
				}
				if ack.Result == replica.ResultFailed && !refused {
					mu.Lock()
					blocked[e.Event.Twin] = true
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := n.commitFinishes(ctx, src, finishes); err != nil {
		fail(err)
	}
	return firstErr
}

// commitFinishes commits the deferred finish writes of a batch in one
// sync-log write, then sends their acks. If that write fails, each is tried
// alone, so that a twin whose write fails holds back only itself.
func (n *Node) commitFinishes(ctx context.Context, src *source, fs []*deferredFinish) error {
	if len(fs) == 0 {
		return nil
	}
	done := func(f *deferredFinish) {
		if f.recorded != nil {
			f.recorded()
		}
		if src.ack != nil {
			src.ack(f.ack)
		}
		if f.wake != "" {
			n.wakeLink(f.wake)
		}
	}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		for _, f := range fs {
			if err := f.fn(tx); err != nil {
				return err
			}
			tx.Checkpoint() // each finish on its own if the batch is too big
		}
		return nil
	})
	if err == nil {
		for _, f := range fs {
			done(f)
		}
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	n.log.Debug("recording a batch of applied events failed; recording them one by one", "peer", src.key, "events", len(fs), "err", err)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, f := range fs {
		wg.Go(func() {
			if err := n.store.Update(ctx, f.fn); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			done(f)
		})
	}
	wg.Wait()
	return firstErr
}

// resumeIncoming wakes the appliers of peers with events left in the
// incoming log by an earlier run.
func (n *Node) resumeIncoming(ctx context.Context) {
	var peers []string
	if err := n.store.View(func(tx *store.Tx) (err error) { peers, err = tx.InPeers(); return }); err != nil {
		n.log.Error("reading the incoming log failed", "err", err)
		return
	}
	for _, p := range peers {
		id, err := peer.Decode(p)
		if err != nil {
			continue
		}
		if ps := n.peer(id); ps != nil {
			ps.kick(ps.wakeApply)
		}
	}
}
