package engine

// Relations between twins (issue 16). Outgoing, a relation to an issue
// that has a twin leaves addressed by the twin ID (replica.Relation.Twin);
// to another issue it leaves as a reference (its key and summary here).
// Incoming, the rules land a relation whose other issue is here (by twin
// ID, or a reference by the sender's key of an issue that came from it) as
// the same relation between the local issues, and show the others as
// references.
//
// A relation whose other issue is not here (it has not arrived yet, or it
// is not synced at all) waits in the sync log (store.RelationWait), written
// in the write that records the event, under the name the other issue will
// land with: "t/"+twin ID, or "k/"+link+"/"+the sender's key. When an
// issue lands, the waits for its names are looked at once the write that
// links it is committed (after the batch, outside its locks): the relation
// is added between the local issues, the reference shown for it goes, and
// the wait is deleted. The relating issue's own waits are looked at after
// its write too, for an issue that landed between its rules and its write.
// A run that stopped in between looks at every wait on its first apply
// pass, so a restart loses none (TestRelationWaitSurvivesRestart).

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// waitingRelations is the engine's in-memory side of the waits: the names
// whose waits are due to be looked at, whether the waits a previous run
// left were looked at, and whether the sync log may hold any wait at all
// (until one is written, landing an issue looks for none).
type waitingRelations struct {
	mu    sync.Mutex
	due   map[string]bool
	swept bool
	some  bool
}

// unswept makes the next take return all again.
func (w *waitingRelations) unswept() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.swept = false
}

// stored records that waits were written (or are about to be).
func (w *waitingRelations) stored() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.some = true
}

// mark makes the waits for names due.
func (w *waitingRelations) mark(names ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.due == nil {
		w.due = map[string]bool{}
	}
	for _, n := range names {
		w.due[n] = true
	}
}

// take returns the due names (sorted) and clears them; all says the
// stored waits of a previous run were not looked at yet (then every wait
// is due). With no wait written in this run nor found of the last, no
// name is due.
func (w *waitingRelations) take() (names []string, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	all, w.swept = !w.swept, true
	if w.some {
		for n := range w.due {
			names = append(names, n)
		}
	}
	clear(w.due)
	slices.Sort(names)
	return names, all
}

// twinName and keyName are the names an issue lands with.
func twinName(twin string) string             { return "t/" + twin }
func keyName(link LinkKey, key string) string { return "k/" + string(link) + "/" + key }

// relationName is the name of a relation's other issue.
func relationName(link LinkKey, rel replica.Relation) string {
	if rel.Twin != "" {
		return twinName(rel.Twin)
	}
	return keyName(link, rel.Key)
}

// landedNames are the names of the issue of twin that just landed from
// link, where its key is sourceKey ("" if not known).
func landedNames(link LinkKey, twin, sourceKey string) []string {
	names := []string{twinName(twin)}
	if sourceKey != "" {
		names = append(names, keyName(link, sourceKey))
	}
	return names
}

// RelationsToTwins rewrites the references of an outgoing replica whose
// issue has a twin into relations to that twin (the node calls it on what
// the outgoing rules give).
func RelationsToTwins(st *store.Store, r *replica.Replica) {
	rels := r.Relations()
	if len(rels) == 0 {
		return
	}
	changed := false
	_ = st.View(func(tx *store.Tx) error {
		for i, rel := range rels {
			if rel.Key == "" {
				continue
			}
			if tw, err := tx.TwinByKey(rel.Key); err == nil {
				rels[i] = replica.Relation{Kind: rel.Kind, Twin: tw.ID}
				changed = true
			}
		}
		return nil
	})
	if changed {
		r.Set(replica.FieldRelations, replica.RelationsValue(rels))
	}
}

// resolveRelation finds the local issue of a relation received in the
// event being applied; one it cannot find is remembered, to wait in the
// sync log (waitsOf).
func (a *applying) resolveRelation(rel replica.Relation) (string, bool) {
	a.relsLanded = true
	if key := a.e.findRelated(a.ctxt, string(a.link), rel); key != "" {
		return key, true
	}
	if a.unresolved == nil {
		a.unresolved = map[replica.Relation]bool{}
	}
	a.unresolved[rel] = true
	return "", false
}

// waitsOf returns the waits of the twin after this event: the relations
// of the merged replica the rules could not land. ok is false when the
// rules did not land relations this time (they did not change): the
// twin's waits stay as they are.
func (a *applying) waitsOf() (waits []store.RelationWait, ok bool) {
	if !a.relsLanded {
		return nil, false
	}
	for _, rel := range a.merged.Relations() {
		if a.unresolved[rel] && (rel.Twin != "" || rel.Key != "") {
			waits = append(waits, store.RelationWait{Name: relationName(a.link, rel), Twin: a.ev.Twin, Kind: string(rel.Kind)})
		}
	}
	return waits, true
}

// findRelated is the local key of a relation's other issue, "" if it is
// not here.
func (e *Engine) findRelated(ctx context.Context, link string, rel replica.Relation) string {
	var key string
	_ = e.cfg.Store.View(func(tx *store.Tx) error {
		key = landedKey(tx, relationName(LinkKey(link), rel))
		return nil
	})
	if key == "" && rel.Twin != "" {
		// Created in the same batch, not linked yet: its marker says.
		if is, err := e.cfg.Tracker.FindByTwin(ctx, rel.Twin); err == nil {
			key = is.Key
		}
	}
	return key
}

// landedKey is the local key of the issue named name, "" if it has not
// landed (as committed).
func landedKey(tx *store.Tx, name string) string {
	var tw *store.Twin
	var err error
	if twin, ok := strings.CutPrefix(name, "t/"); ok {
		tw, err = tx.GetTwin(twin)
	} else if rest, ok := strings.CutPrefix(name, "k/"); ok {
		link, key, _ := strings.Cut(rest, "/")
		tw, err = tx.TwinByRemoteKey(link, key)
	} else {
		return ""
	}
	if err != nil {
		return ""
	}
	return tw.LocalKey
}

// landWaitingRelations looks at the waits that are due (every stored wait
// on the first call of a run): each whose other issue has landed is added
// to its issue as a relation, and deleted. A tracker that is down leaves
// the wait due for the next pass; one that refuses the relation drops it,
// logged.
func (e *Engine) landWaitingRelations(ctx context.Context) {
	names, all := e.rels.take()
	if all {
		seen := map[string]bool{}
		err := e.cfg.Store.View(func(tx *store.Tx) error {
			return tx.RelationWaits(func(w store.RelationWait) error {
				e.rels.stored()
				if !seen[w.Name] {
					seen[w.Name] = true
					names = append(names, w.Name)
				}
				return nil
			})
		})
		if err != nil {
			e.log.Warn("reading the relations a previous run left waiting failed; they are read again after the next apply", "err", err)
			e.rels.unswept()
		}
	}
	if len(names) == 0 {
		return
	}
	// One read for every name: most landed issues have nothing waiting
	// for them, which costs a key scan and no twin read.
	type due struct {
		name, other string
		waits       []store.RelationWait
	}
	var found []due
	err := e.cfg.Store.View(func(tx *store.Tx) error {
		for _, name := range names {
			waits, err := tx.RelationWaitsFor(name)
			if err != nil {
				return err
			}
			if len(waits) == 0 {
				continue
			}
			if other := landedKey(tx, name); other != "" {
				found = append(found, due{name, other, waits})
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("reading the relations that wait for their other issue failed; they are looked at again after the next apply", "err", err)
		e.rels.mark(names...)
		return
	}
	for _, d := range found {
		for _, w := range d.waits {
			if ctx.Err() != nil {
				e.rels.mark(d.name)
				return
			}
			if err := e.landWait(ctx, w, d.other); err != nil {
				e.log.Warn("a relation that waited for its other issue could not be added; it is tried again after the next apply", "twin", w.Twin, "kind", w.Kind, "other", d.other, "err", err)
				e.rels.mark(d.name)
			}
		}
	}
}

// landWait adds the relation w to the issue of its twin, other being the
// local key of its other issue, and deletes the wait. The twin's lock is
// held meanwhile, as for an apply.
func (e *Engine) landWait(ctx context.Context, w store.RelationWait, other string) error {
	unlock := e.locks.Lock(w.Twin)
	defer unlock()
	var local string
	gone := false
	err := e.cfg.Store.View(func(tx *store.Tx) error {
		tw, err := tx.GetTwin(w.Twin)
		switch {
		case errors.Is(err, store.ErrNotFound):
			gone = true
		case err == nil:
			local = tw.LocalKey
		}
		return err
	})
	if err != nil && !gone {
		return err
	}
	drop := func() error {
		return e.cfg.Store.Update(ctx, func(tx *store.Tx) error { tx.DeleteRelationWait(w); return nil })
	}
	if gone || local == other {
		return drop()
	}
	if local == "" {
		return nil // its issue is not here (skipped): nothing to add it to yet
	}
	p := adapters.Patch{AddRelations: []adapters.Relation{{Kind: w.Kind, Key: other}}}
	if rest, ok := strings.CutPrefix(w.Name, "k/"); ok { // the reference shown for it goes
		_, key, _ := strings.Cut(rest, "/")
		if is, err := e.cfg.Tracker.Get(ctx, local); err == nil {
			p.Extra = dropReference(is.Extra, w.Kind+" "+key)
		}
	}
	_, err = e.cfg.Tracker.Update(ctx, local, p)
	e.fresh.written(w.Twin) // a feed's read of the issue before this is stale (trigger.go)
	if errors.Is(err, adapters.ErrRejected) {
		e.log.Warn("the tracker refuses a relation that waited for its other issue; it is dropped", "key", local, "kind", w.Kind, "other", other, "err", err)
		return drop()
	}
	if err != nil {
		return err
	}
	return drop()
}

// stampDeletedComments marks in the agreed replica, as deleted with a new
// clock, the comments the link was sent (they are in baseline) that the
// issue no longer has, and returns their "comment:ID" changes. Comments the
// rules stopped sharing but the issue still has are not deleted.
func stampDeletedComments(agreed *replica.Replica, baseline replica.Replica, is adapters.Issue, self string, now func() replica.Clock) []string {
	if len(baseline.Comments) == 0 {
		return nil
	}
	have := make(map[string]bool, len(is.Comments))
	for _, c := range is.Comments {
		id := c.SyncID
		if id == "" {
			id = self + "/" + c.ID
		}
		have[id] = true
	}
	var changed []string
	for _, c := range baseline.Comments {
		if have[c.ID] {
			continue
		}
		cur, ok := agreed.Comment(c.ID)
		if !ok || cur.Deleted {
			continue
		}
		cur.Deleted, cur.Clock = true, now()
		for i := range agreed.Comments {
			if agreed.Comments[i].ID == c.ID {
				agreed.Comments[i] = cur
			}
		}
		changed = append(changed, "comment:"+c.ID)
	}
	return changed
}

// dropReference returns the "relations at PEER" notes of extra without the
// reference that starts with ref (nil when none changes).
func dropReference(extra map[string]string, ref string) map[string]string {
	var out map[string]string
	for k, v := range extra {
		if !strings.HasPrefix(k, "relations at ") {
			continue
		}
		parts := strings.Split(v, "; ")
		kept := slices.DeleteFunc(slices.Clone(parts), func(p string) bool { return p == ref || strings.HasPrefix(p, ref+" (") })
		if len(kept) != len(parts) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = strings.Join(kept, "; ")
		}
	}
	return out
}
