package replica

// Pruning of a list field's tombstones (docs/engine.md, "Pruning removed
// labels"). A set (Value.E) keeps every removed element as a tombstone so
// that an older add arriving late stays removed. Two marks, kept in the set
// itself under reserved element names (so that every codec and store
// carries them unchanged, and they merge like any element: the greater clock
// wins), let a link drop them:
//
//   - the floor F: no node holding the field mints an element clock at or
//     under F any more (node/links.go stampSet takes a fresh clock instead).
//     Raising it is always safe; it only constrains future edits.
//   - the pruned mark W (W <= F): every element clocked at or under W that
//     either side of the link will ever send has already been merged by the
//     side holding W. Tombstones at or under W are dropped, and Merge drops
//     an element that only one side holds when it is clocked at or under
//     the other side's W: that side has seen it and dropped it as removed.
//
// A node may set W to t only when t <= its own F and it has merged an event
// from the other side whose set carried F >= t (Prune's caller checks this):
// the other side had then adopted the floor, so each element it minted at
// or under t was already in that event's state (events carry the link's
// whole state), and every later one is clocked above t.

// FloorMark and PrunedMark are the reserved element names of the marks.
const (
	FloorMark  = "\x00floor"
	PrunedMark = "\x00pruned"

	floorKey  = FloorMark
	prunedKey = PrunedMark
)

// reserved reports whether e is one of the marks, not an element.
func reserved(e string) bool { return e == floorKey || e == prunedKey }

// Floor returns the field's floor: no element is minted at or under it.
func (v Value) Floor() Clock { return v.E[floorKey].Clock }

// Pruned returns the field's pruned mark: tombstones at or under it were
// dropped, and an element at or under it that this side lacks was removed.
func (v Value) Pruned() Clock { return v.E[prunedKey].Clock }

// Tombstones counts the removed elements the set still holds.
func (v Value) Tombstones() int {
	n := 0
	for e, el := range v.E {
		if el.Del && !reserved(e) {
			n++
		}
	}
	return n
}

// NewestTombstone returns the greatest clock of a tombstone in the set (zero
// if none): the floor that lets every present tombstone be pruned.
func (v Value) NewestTombstone() Clock {
	var c Clock
	for e, el := range v.E {
		if el.Del && !reserved(e) && c.Less(el.Clock) {
			c = el.Clock
		}
	}
	return c
}

// RaiseFloor returns v with its floor at least t. v must hold a set.
func RaiseFloor(v Value, t Clock) Value {
	if len(v.E) == 0 || !v.Floor().Less(t) {
		return v
	}
	v = cloneValue(v)
	v.E[floorKey] = Elem{Del: true, Clock: t}
	return v
}

// Prune returns v with its pruned mark at least t, capped by its floor, and
// every tombstone at or under the mark dropped, and how many were dropped.
// The caller must know that the other side of the link adopted a floor of
// at least t (see the package notes above).
func Prune(v Value, t Clock) (Value, int) {
	if len(v.E) == 0 {
		return v, 0
	}
	if f := v.Floor(); f.Less(t) {
		t = f
	}
	if t.IsZero() {
		return v, 0
	}
	v = cloneValue(v)
	if v.Pruned().Less(t) {
		v.E[prunedKey] = Elem{Del: true, Clock: t}
	}
	return v, dropTombstones(v.E, v.Pruned())
}

// dropTombstones deletes the tombstones clocked at or under w.
func dropTombstones(e map[string]Elem, w Clock) int {
	if w.IsZero() {
		return 0
	}
	n := 0
	for s, el := range e {
		if el.Del && !reserved(s) && !w.Less(el.Clock) {
			delete(e, s)
			n++
		}
	}
	return n
}
