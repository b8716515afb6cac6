package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// pruneSim is two sides of a link holding one label set, with the events
// between them in flight (reordered, duplicated). sys[0] prunes, sys[1] is
// the same history without pruning: the reference.
type pruneSim struct {
	state [2][2]Value   // [system][side]
	queue [2][][2]Value // [system] events in flight: [0] state sent; side in to
	to    [][2]int      // destination side of queue[*][i] (same for both systems)
	seen  [2]Clock      // per side, greatest floor carried by an event merged from the other side
	clock int64         // global: every minted clock is fresh
	r     *rand.Rand
}

func (s *pruneSim) edit(side int, label string, del bool) {
	s.clock++
	c := Clock{Wall: s.clock, Peer: fmt.Sprint("p", side)}
	for sys := range 2 {
		v := s.state[sys][side]
		el, ok := v.E[label]
		if (ok && el.Del == del) || (!ok && del) {
			continue
		}
		v = cloneValue(v)
		if v.E == nil {
			v.E = map[string]Elem{}
		}
		v.E[label] = Elem{Del: del, Clock: c}
		v.L, v.Clock = present(v.E), c
		s.state[sys][side] = v
	}
}

func (s *pruneSim) send(side int) {
	for sys := range 2 {
		s.queue[sys] = append(s.queue[sys], [2]Value{cloneValue(s.state[sys][side])})
	}
	s.to = append(s.to, [2]int{1 - side})
}

func (s *pruneSim) deliver(i int, keep bool) {
	dst := s.to[i][0]
	for sys := range 2 {
		in := s.queue[sys][i][0]
		s.state[sys][dst] = mergeValue(s.state[sys][dst], in)
		if sys == 0 && s.seen[dst].Less(in.Floor()) {
			s.seen[dst] = in.Floor()
		}
	}
	if !keep {
		for sys := range 2 {
			s.queue[sys] = slices.Delete(s.queue[sys], i, i+1)
		}
		s.to = slices.Delete(s.to, i, i+1)
	}
}

func (s *pruneSim) prune(side int) int {
	v := s.state[0][side]
	v = RaiseFloor(v, v.NewestTombstone())
	t := s.seen[side]
	var n int
	v, n = Prune(v, t)
	s.state[0][side] = v
	return n
}

func (s *pruneSim) check(t *testing.T, step int) {
	t.Helper()
	for side := range 2 {
		if got, want := s.state[0][side].L, s.state[1][side].L; !slices.Equal(got, want) {
			t.Fatalf("step %d side %d: labels with pruning %v, without %v", step, side, got, want)
		}
	}
}

// TestPruneConverges runs random edits on both sides of a link with events
// reordered and duplicated, one system pruning as the protocol allows and
// one not: the labels are the same at every step, both sides converge, and
// the pruning side holds a bounded number of tombstones.
func TestPruneConverges(t *testing.T) {
	labels := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for seed := range uint64(200) {
		s := &pruneSim{r: rand.New(rand.NewPCG(seed, 7))}
		pruned := 0
		for step := range 400 {
			side := s.r.IntN(2)
			switch k := s.r.IntN(10); {
			case k < 4:
				s.edit(side, labels[s.r.IntN(len(labels))], s.r.IntN(2) == 0)
			case k < 6:
				s.send(side)
			case k < 9 && len(s.to) > 0:
				s.deliver(s.r.IntN(len(s.to)), s.r.IntN(4) == 0)
			default:
				pruned += s.prune(side)
			}
			s.check(t, step)
		}
		// Quiesce: everything in flight arrives (the duplicates too), then
		// two rounds of full exchange and pruning.
		for len(s.to) > 0 {
			s.deliver(s.r.IntN(len(s.to)), false)
		}
		for range 3 {
			for side := range 2 {
				s.send(side)
				s.deliver(len(s.to)-1, false)
				pruned += s.prune(side)
			}
		}
		s.check(t, -1)
		a, b := s.state[0][0], s.state[0][1]
		if !slices.Equal(a.L, b.L) || !slices.Equal(a.L, s.state[1][0].L) {
			t.Fatalf("seed %d: not converged: %v, %v (reference %v)", seed, a.L, b.L, s.state[1][0].L)
		}
		if a.Tombstones() != 0 || b.Tombstones() != 0 {
			t.Fatalf("seed %d: tombstones left after quiescence: %d and %d (reference %d)", seed, a.Tombstones(), b.Tombstones(), s.state[1][0].Tombstones())
		}
		if seed == 0 && pruned == 0 {
			t.Fatal("nothing was pruned")
		}
	}
}

// TestPruneOldAddStaysRemoved: an add older than a pruned tombstone,
// delivered late, does not bring the label back on either side.
func TestPruneOldAddStaysRemoved(t *testing.T) {
	s := &pruneSim{r: rand.New(rand.NewPCG(1, 1))}
	s.edit(1, "x", false) // side 1 adds x at clock 1
	s.send(1)             // the add is in flight to side 0 (delivered late)
	old := 0
	s.send(1)
	s.deliver(1, false)  // a copy arrives: side 0 has x
	s.edit(0, "x", true) // side 0 removes x
	for range 3 {
		for side := range 2 {
			s.send(side)
			s.deliver(len(s.to)-1, false)
			s.prune(side)
		}
	}
	for side := range 2 {
		if n := s.state[0][side].Tombstones(); n != 0 {
			t.Fatalf("side %d keeps %d tombstones", side, n)
		}
	}
	s.deliver(old, false) // the old add arrives now
	s.check(t, 0)
	for side := range 2 {
		if l := s.state[0][side].L; len(l) != 0 {
			t.Fatalf("side %d: the old add brought back %v", side, l)
		}
	}
	// And relayed to the other side again, it stays out there too.
	s.send(0)
	s.deliver(len(s.to)-1, false)
	if l := s.state[0][1].L; len(l) != 0 {
		t.Fatalf("side 1: %v after the exchange", l)
	}
	// A new add after the pruning is kept.
	s.edit(1, "x", false)
	s.send(1)
	s.deliver(len(s.to)-1, false)
	if l := s.state[0][0].L; !slices.Equal(l, []string{"x"}) {
		t.Fatalf("side 0: a fresh add gave %v", l)
	}
}

// TestPruneCodec: the marks survive the wire codec.
func TestPruneCodec(t *testing.T) {
	v := Value{E: map[string]Elem{"x": {Del: true, Clock: Clock{Wall: 5, Peer: "a"}}}}
	v = RaiseFloor(v, v.NewestTombstone())
	v, n := Prune(v, v.Floor())
	if n != 1 || v.Tombstones() != 0 || v.Pruned() != (Clock{Wall: 5, Peer: "a"}) {
		t.Fatalf("prune: %d dropped, %+v", n, v)
	}
	ev := Event{V: Version, ID: "e", Twin: "t", Origin: "a", Seq: 1}
	ev.Replica.Set(FieldLabels, v)
	b, err := MarshalEvent(&ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	g := got.Replica.Fields[FieldLabels]
	if g.Pruned() != v.Pruned() || g.Floor() != v.Floor() || len(g.L) != 0 {
		t.Fatalf("after the codec: %+v", g)
	}
}
