package engine

// Relations between twins (issue 16). Outgoing, a relation to an issue
// that has a twin leaves addressed by the twin ID (replica.Relation.Twin);
// to another issue it leaves as a reference (its key and summary here).
// Incoming, the rules land a relation whose other issue is here (by twin
// ID, or a reference by the sender's key of an issue that came from it) as
// the same relation between the local issues, and show the others as
// references. A relation whose other issue is not here yet waits in
// pendingRelations: when that issue lands, the relation is added. The wait
// is in memory: after a restart, the next change of the issue lands it.

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// pendingRelations are relations whose other issue is not here yet, by
// what will name it: "t/"+twin ID or "k/"+link+"/"+the sender's key.
//
// landed remembers the last issues that landed (by the same names, to
// their local keys), for a relation resolved while the other issue's link
// is not committed yet (both in one batch).
type pendingRelations struct {
	mu      sync.Mutex
	waiting map[string][]pendingRelation
	landed  map[string]string
	order   []string // landed's names, oldest first
}

// maxLanded bounds pendingRelations.landed.
const maxLanded = 4096

func (p *pendingRelations) land(key string, names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.landed == nil {
		p.landed = map[string]string{}
	}
	for _, name := range names {
		if _, ok := p.landed[name]; !ok {
			p.order = append(p.order, name)
		}
		p.landed[name] = key
	}
	for len(p.order) > maxLanded {
		delete(p.landed, p.order[0])
		p.order = p.order[1:]
	}
}

func (p *pendingRelations) landedKey(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.landed[name]
}

type pendingRelation struct {
	twin string // the twin whose issue gets the relation
	kind string
}

func (p *pendingRelations) add(name string, r pendingRelation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting == nil {
		p.waiting = map[string][]pendingRelation{}
	}
	for _, w := range p.waiting[name] {
		if w == r {
			return
		}
	}
	p.waiting[name] = append(p.waiting[name], r)
}

func (p *pendingRelations) take(names ...string) []pendingRelation {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []pendingRelation
	for _, name := range names {
		out = append(out, p.waiting[name]...)
		delete(p.waiting, name)
	}
	return out
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

// relationResolver finds the local issue of a relation received from link
// for twin; what it cannot find waits in e.rels.
func (e *Engine) relationResolver(ctx context.Context, link, twin string) func(replica.Relation) (string, bool) {
	return func(rel replica.Relation) (string, bool) {
		name := "t/" + rel.Twin
		if rel.Twin == "" {
			name = "k/" + link + "/" + rel.Key
		}
		if key := e.findRelated(ctx, link, rel); key != "" {
			return key, true
		}
		if key := e.rels.landedKey(name); key != "" {
			return key, true
		}
		e.rels.add(name, pendingRelation{twin: twin, kind: string(rel.Kind)})
		// It may have landed meanwhile, before it could see the wait.
		if key := e.rels.landedKey(name); key != "" {
			e.rels.take(name)
			return key, true
		}
		return "", false
	}
}

// findRelated is the local key of a relation's other issue, "" if it is
// not here.
func (e *Engine) findRelated(ctx context.Context, link string, rel replica.Relation) string {
	var key string
	_ = e.cfg.Store.View(func(tx *store.Tx) error {
		var tw *store.Twin
		var err error
		if rel.Twin != "" {
			tw, err = tx.GetTwin(rel.Twin)
		} else {
			tw, err = tx.TwinByRemoteKey(link, rel.Key)
		}
		if err == nil {
			key = tw.LocalKey
		}
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

// landWaitingRelations adds the relations that waited for the issue key,
// just landed as twin (its key at link being sourceKey).
func (e *Engine) landWaitingRelations(ctx context.Context, link, twin, sourceKey, key string) {
	names := []string{"t/" + twin}
	if sourceKey != "" {
		names = append(names, "k/"+link+"/"+sourceKey)
	}
	e.rels.land(key, names...)
	for _, w := range e.rels.take(names...) {
		var local string
		_ = e.cfg.Store.View(func(tx *store.Tx) error {
			if tw, err := tx.GetTwin(w.twin); err == nil {
				local = tw.LocalKey
			}
			return nil
		})
		if local == "" { // created in the same batch, not linked yet: its marker says
			if is, err := e.cfg.Tracker.FindByTwin(ctx, w.twin); err == nil {
				local = is.Key
			}
		}
		if local == "" || local == key {
			continue
		}
		p := adapters.Patch{AddRelations: []adapters.Relation{{Kind: w.kind, Key: key}}}
		if sourceKey != "" { // the reference shown for it goes
			if is, err := e.cfg.Tracker.Get(ctx, local); err == nil {
				p.Extra = dropReference(is.Extra, w.kind+" "+sourceKey)
			}
		}
		if _, err := e.cfg.Tracker.Update(ctx, local, p); err != nil {
			e.log.Warn("a relation that waited for its other issue could not be added", "key", local, "kind", w.kind, "other", key, "err", err)
		}
	}
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
