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
