package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Gossip: the topic validator, the receiver and ingest of gossiped events,
// and the publisher of this node's own.

// netValidator admits to a network's topic only well-formed events of the
// network whose author is the message's signed author and a current member.
// A message is one event's envelope or a bundle of its author's envelopes
// (p2p.Bundle), and every envelope of a bundle is checked: one malformed or
// forged, or of another author, rejects the whole message, which costs the
// peer that forwarded it (p2p.InvalidPenalty). An event whose author is no
// member here is ignored (neither forwarded nor applied) without a
// penalty: it may be a new member whose join has not reached this node
// yet, forwarded by members who know of it, and its events then come by
// catch-up.
func (n *Mesh) netValidator(ns *netState) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		items, level, result, err := n.checkNetMessage(ns, from, m)
		if err != nil {
			ns.rejected.Add(1)
			n.gossiped(ns.name, validationLabel(result))
			n.log.Log(context.Background(), level, "refused a network message", "network", ns.name, "author", m.GetFrom(), "from", from, "err", err)
			return result
		}
		m.ValidatorData = items
		return pubsub.ValidationAccept
	}
}

// checkNetMessage verifies every event of a gossipsub message (see
// netValidator) and returns them, or the level to log its refusal at and
// whether it is rejected or ignored. An event clocked too far ahead is
// refused (refusedNet) and the others of its bundle are taken; a message
// of only such an event is ignored (not the forwarder's fault: its clock
// may differ a little).
func (n *Mesh) checkNetMessage(ns *netState, from peer.ID, m *pubsub.Message) ([]netItem, slog.Level, pubsub.ValidationResult, error) {
	author := m.GetFrom()
	envs := [][]byte{m.Data}
	if p2p.IsBundle(m.Data) {
		var err error
		if envs, err = p2p.OpenBundle(m.Data); err != nil {
			return nil, slog.LevelWarn, pubsub.ValidationReject, err
		}
	}
	items := make([]netItem, 0, len(envs))
	var ahead error
	for _, env := range envs {
		it, err := n.verifyNetEvent(ns, env)
		switch {
		case errors.Is(err, replica.ErrClockAhead):
			n.refusedNet(ns, from, &it.ev, err)
			ahead = err
			continue
		case err != nil:
			return nil, slog.LevelWarn, pubsub.ValidationReject, err
		case it.ev.Origin != author.String():
			return nil, slog.LevelWarn, pubsub.ValidationReject, fmt.Errorf("event %s claims author %s but is published by %s: %w", it.ev.ID, it.ev.Origin, author, errWrongOrigin)
		}
		items = append(items, it)
	}
	switch {
	case len(items) == 0:
		return nil, slog.LevelWarn, pubsub.ValidationIgnore, ahead
	case !ns.isJoined(author):
		return nil, slog.LevelInfo, pubsub.ValidationIgnore, fmt.Errorf("author %s is not a member here", author)
	}
	return items, 0, pubsub.ValidationAccept, nil
}

// netReceive hands the events delivered on a network's topic (validated)
// to the ingest loop.
func (n *Mesh) netReceive(ctx context.Context, ns *netState) error {
	for {
		m, err := ns.sub.Next(ctx)
		if err != nil {
			return nil // cancelled
		}
		if m.ReceivedFrom == n.self {
			continue // own event: logged and archived already
		}
		items, _ := m.ValidatorData.([]netItem)
		for _, it := range items {
			n.log.Debug("network event received", "network", ns.name, "author", it.ev.Origin, "seq", it.ev.Seq, "op", it.ev.Op, "from", m.ReceivedFrom, "bundled", len(items))
			select {
			case ns.inbox <- it:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// netIngestLoop logs received events in batches, one durable write each.
// Events lost to an error come again by catch-up.
func (n *Mesh) netIngestLoop(ctx context.Context, ns *netState) error {
	batch := make([]netItem, 0, netIngestBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-ns.inbox:
			batch = append(batch[:0], it)
		}
	fill:
		for len(batch) < netIngestBatch {
			select {
			case it := <-ns.inbox:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		if _, err := n.netIngest(ctx, ns, batch, false); err != nil && ctx.Err() == nil {
			n.log.Warn("logging received network events failed; they come again by catch-up", "network", ns.name, "events", len(batch), "err", err)
		}
	}
}

// netIngest logs received events of a network durably: membership events
// are applied to the member list at once (those whose author becomes a
// member by an earlier one in the batch too), the others go to the
// incoming log for the applier. Events of an author who is not a member
// are dropped: a current member for gossip, one that ever was for catch-up
// (whose answers hold what members wrote while they were members). It
// returns the authors whose events were taken.
func (n *Mesh) netIngest(ctx context.Context, ns *netState, items []netItem, catchUp bool) (map[string]bool, error) {
	var rec *store.Network
	members, queued := false, false
	took := map[string]bool{}
	type gap struct{ mark, seen uint64 }
	gaps := map[string]gap{} // authors of which an earlier event is missing
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		members, queued = false, false
		clear(took)
		clear(gaps)
		var err error
		if rec, err = tx.GetNetwork(ns.id); err != nil {
			return err
		}
		if rec.Left {
			return nil
		}
		authorOK := func(ev *replica.Event) bool { return memberAuthorOK(rec, ev, catchUp) }
		done := make([]bool, len(items))
		for progress := true; progress; {
			progress = false
			for i := range items {
				ev := &items[i].ev
				if done[i] || ev.Op != replica.OpMember || !authorOK(ev) {
					continue
				}
				done[i], progress = true, true
				if ev.Origin == n.self.String() {
					continue // own: applied when written
				}
				src := netSource(ns.id, ev.Origin)
				dup, err := tx.ReceiveNet(src, ev.Seq)
				if err != nil {
					return err
				}
				if dup {
					continue
				}
				if _, err := tx.ArchiveNet(ns.id, ev, items[i].env); err != nil {
					return err
				}
				if applyMember(rec, ev) {
					members = true
				}
				if _, err := tx.SetNetMark(ns.id, ev.Origin, src, 0); err != nil {
					return err
				}
				took[ev.Origin] = true
			}
		}
		for i := range items {
			ev := &items[i].ev
			if done[i] || ev.Op == replica.OpMember || ev.Origin == n.self.String() || !authorOK(ev) {
				continue
			}
			src := netSource(ns.id, ev.Origin)
			dup, err := tx.ReceiveNet(src, ev.Seq)
			if err != nil {
				return err
			}
			if dup {
				continue
			}
			kept, err := tx.ArchiveNet(ns.id, ev, items[i].env)
			if err != nil {
				return err
			}
			if kept { // else a newer event of that author and twin is here
				tx.EnqueueIn(src, ev.Seq, items[i].frame)
				queued = true
			}
			mark, err := tx.SetNetMark(ns.id, ev.Origin, src, 0)
			if err != nil {
				return err
			}
			if mark < ev.Seq {
				gaps[ev.Origin] = gap{mark, max(gaps[ev.Origin].seen, ev.Seq)}
			} else {
				delete(gaps, ev.Origin)
			}
			took[ev.Origin] = true
		}
		if members {
			return tx.PutNetwork(rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range items {
		if st, ok := items[i].ev.Replica.Fields[replica.MemberState]; ok && items[i].ev.Op == replica.OpMember {
			n.hlc.Observe(st.Clock)
		}
	}
	if members {
		n.membersChanged(rec)
		if m := rec.Member(n.self.String()); m != nil && !m.Joined() {
			n.log.Warn("a membership event says this node left the network", "network", rec.Name)
		}
	}
	if queued {
		kick(ns.wakeApply)
	}
	if !catchUp {
		for author, g := range gaps {
			if id, err := peer.Decode(author); err == nil {
				n.netSyncGap(ns, id, g.mark, g.seen)
			}
		}
	}
	return took, nil
}

// netPublisher publishes this node's events of a network in order; a
// published event leaves the outgoing log (the archive keeps it).
func (n *Mesh) netPublisher(ctx context.Context, ns *netState) error {
	b := n.cfg.Backoff()
	for {
		more, err := n.publishPending(ctx, ns)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			n.log.Debug("publishing network events failed; retrying", "network", ns.name, "err", err, "in", b.Current())
			if !b.Wait(ctx) {
				return nil
			}
			continue
		}
		b.Reset()
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ns.wakePub:
		}
	}
}

// publishPending publishes up to one batch of pending events and reports
// whether more wait. Events pending together go out as bundles (one
// gossipsub message for many, up to p2p.MaxBundle), a lone one as its bare
// envelope.
func (n *Mesh) publishPending(ctx context.Context, ns *netState) (bool, error) {
	var entries []store.OutEntry
	archived := map[uint64][]byte{} // the signed envelopes appendNet archived
	err := n.store.View(func(tx *store.Tx) (err error) {
		if entries, err = tx.PendingOut(ns.link, 0, publishBatch); err != nil {
			return err
		}
		self := n.self.String()
		for _, e := range entries {
			if env, err := tx.NetFrame(ns.id, self, e.Seq); err == nil && p2p.IsEnvelope(env) {
				archived[e.Seq] = env
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	var done, group []uint64 // published; in the bundle being filled
	var envs [][]byte
	size := 0
	publish := func() error {
		if len(envs) == 0 {
			return nil
		}
		data := envs[0]
		if len(envs) > 1 {
			data = p2p.Bundle(envs)
		}
		if err := ns.topic.Publish(ctx, data); err != nil {
			return fmt.Errorf("publish events %d to %d: %w", group[0], group[len(group)-1], err)
		}
		ns.pubMessages.Add(1)
		ns.pubEvents.Add(int64(len(envs)))
		for range envs {
			n.gossiped(ns.name, "published")
		}
		done = append(done, group...)
		envs, group, size = envs[:0], group[:0], 0
		return nil
	}
	var perr error
	for _, e := range entries {
		if err := n.checkOwnNet(ns, e.Frame); err != nil {
			done = append(done, e.Seq) // every member would refuse it
			continue
		}
		env := archived[e.Seq]
		if env == nil { // superseded in the archive by a newer event of the twin
			var err error
			if env, err = n.signNet(e.Frame); err != nil {
				perr = err
				break
			}
		}
		if len(envs) == p2p.MaxBundleEnvelopes || size+p2p.BundleEntryOverhead+len(env) > p2p.MaxBundle {
			if perr = publish(); perr != nil {
				break
			}
		}
		envs, group = append(envs, env), append(group, e.Seq)
		size += p2p.BundleEntryOverhead + len(env)
	}
	if perr == nil {
		perr = publish()
	}
	if len(done) > 0 {
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			for _, seq := range done {
				tx.DeleteOut(ns.link, seq)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	return perr == nil && len(entries) == publishBatch, perr
}

// Validator is the topic validator of a running network (nil if it does
// not run here).
func (n *Mesh) Validator(netID string) pubsub.ValidatorEx {
	if ns := n.netByID(netID); ns != nil {
		return n.netValidator(ns)
	}
	return nil
}

// gossiped tells Config.Gossiped, if set, of a message published or
// refused on a network's topic.
func (n *Mesh) gossiped(network, result string) {
	if n.cfg.Gossiped != nil {
		n.cfg.Gossiped(network, result)
	}
}

// validationLabel names a validator's refusal for Config.Gossiped.
func validationLabel(r pubsub.ValidationResult) string {
	if r == pubsub.ValidationIgnore {
		return "ignored"
	}
	return "rejected"
}
