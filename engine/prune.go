package engine

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
// v (keepNewer): the marks of a belong to its own link and are left out. An
// element of a that would win but is clocked at or under v's floor, which no
// side of this link mints under any more, is stamped now(), as stampSet does:
// v's marks say nothing of elements that came by another link, and the
// other link holds it as the issue has it. An element v holds as new or
// newer, and a removal of one v lacks, are left out.
func foreignSet(a, v replica.Value, now func() replica.Clock) replica.Value {
	f := v.Floor()
	out := a
	out.E = make(map[string]replica.Elem, len(a.E))
	var clk replica.Clock
	for s, el := range a.E {
		if s == replica.FloorMark || s == replica.PrunedMark {
			continue
		}
		cur, ok := v.E[s]
		switch {
		case f.IsZero() || f.Less(el.Clock):
		case ok && !cur.Clock.Less(el.Clock):
			continue // v keeps its own
		case !ok && el.Del:
			continue // nothing to remove
		default:
			if clk.IsZero() {
				if clk = now(); !f.Less(clk) {
					clk = replica.Clock{Wall: f.Wall, Logical: f.Logical + 1, Peer: clk.Peer}
				}
			}
			el.Clock = clk
		}
		out.E[s] = el
	}
	return out
}
