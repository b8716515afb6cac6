package node

import "github.com/issuemesh/issuemesh/replica"

// Pruning of removed labels on a link with one peer (replica/prune.go,
// docs/engine.md "Pruning removed labels"). Every event sent to a peer
// raises each label set's floor to its newest tombstone: this node mints no
// element clock at or under it any more (stampSet). An event received from
// the peer carries the floor the peer had adopted when it sent it; every
// element the peer minted at or under that floor is in the event, so the
// tombstones at or under it are dropped here. Network links are not pruned
// (their members never raise floors).

// raiseFloors raises the floor of every label set of r to its newest
// tombstone.
func raiseFloors(r *replica.Replica) {
	for name, v := range r.Fields {
		if len(v.E) > 0 {
			r.Fields[name] = replica.RaiseFloor(v, v.NewestTombstone())
		}
	}
}

// pruneSets drops from every label set of merged the tombstones at or under
// the floor that the peer's event in carried for it.
func pruneSets(merged *replica.Replica, in replica.Replica) {
	for name, v := range merged.Fields {
		if len(v.E) == 0 {
			continue
		}
		f := in.Fields[name].Floor()
		if f.IsZero() {
			continue
		}
		merged.Fields[name], _ = replica.Prune(v, f)
	}
}

// foreignSet prepares another link's set a for merging into this link's set
// v (keepNewer): the marks of a belong to its own link and are left out, and
// so is what v's marks say about elements under them. An element of a that
// v lacks, clocked at or under v's pruned mark, was removed on this link
// (its tombstone pruned): it is left out. One that would win but is clocked
// at or under v's floor, which no side of this link mints under any more, is
// stamped now(), as stampSet does.
func foreignSet(a, v replica.Value, now func() replica.Clock) replica.Value {
	w, f := v.Pruned(), v.Floor()
	out := a
	out.E = make(map[string]replica.Elem, len(a.E))
	var clk replica.Clock
	for s, el := range a.E {
		if s == replica.FloorMark || s == replica.PrunedMark {
			continue
		}
		cur, ok := v.E[s]
		switch {
		case !ok && !w.IsZero() && !w.Less(el.Clock):
			continue
		case f.IsZero() || f.Less(el.Clock):
		case ok && !cur.Clock.Less(el.Clock):
			continue // v keeps its own
		case !ok && el.Del:
			continue // nothing to remove
		default:
			if clk.IsZero() {
				clk = now()
			}
			el.Clock = clk
		}
		out.E[s] = el
	}
	return out
}
