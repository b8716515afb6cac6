package replica

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClockCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b Clock
		want int
	}{
		{"equal", Clock{5, 1, "a"}, Clock{5, 1, "a"}, 0},
		{"zero", Clock{}, Clock{}, 0},
		{"wall first", Clock{4, 9, "z"}, Clock{5, 0, "a"}, -1},
		{"then logical", Clock{5, 2, "a"}, Clock{5, 1, "z"}, 1},
		{"then peer", Clock{5, 1, "a"}, Clock{5, 1, "b"}, -1},
		{"negative wall", Clock{-1, 0, ""}, Clock{}, -1},
		{"logical is unsigned", Clock{0, math.MaxUint32, ""}, Clock{0, 1, ""}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("Compare = %d, want %d", got, tt.want)
			}
			if got := tt.b.Compare(tt.a); got != -tt.want {
				t.Errorf("reverse Compare = %d, want %d", got, -tt.want)
			}
			if got := tt.a.Less(tt.b); got != (tt.want < 0) {
				t.Errorf("Less = %v, want %v", got, tt.want < 0)
			}
		})
	}
}

func TestClockIsZeroAndString(t *testing.T) {
	tests := []struct {
		c        Clock
		zero     bool
		wantText string
	}{
		{Clock{}, true, "zero"},
		{Clock{Peer: "p"}, false, "1970-01-01T00:00:00.000Z+0@p"},
		{Clock{Wall: 1_735_787_045_678, Logical: 2, Peer: "12D3KooW"}, false, "2025-01-02T03:04:05.678Z+2@12D3KooW"},
	}
	for _, tt := range tests {
		if got := tt.c.IsZero(); got != tt.zero {
			t.Errorf("%#v.IsZero() = %v", tt.c, got)
		}
		if got := tt.c.String(); got != tt.wantText {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.wantText)
		}
	}
}

// fakeTime is a wall clock the test moves by hand.
type fakeTime struct{ ms int64 }

func (f *fakeTime) now() time.Time { return time.UnixMilli(f.ms) }

func TestHLCMonotonicWhenWallClockMovesBack(t *testing.T) {
	steps := []struct {
		name string
		move int64 // ms added to the wall clock before Now
	}{
		{"start", 0},
		{"same millisecond", 0},
		{"forward", 5},
		{"back one second", -1000},
		{"still behind", 10},
		{"back again", -5000},
		{"ahead of everything", 10_000},
		{"same millisecond again", 0},
	}
	ft := &fakeTime{ms: 1_750_000_000_000}
	h := NewHLC("p", ft.now)
	var prev Clock
	maxWall := int64(0)
	for _, s := range steps {
		ft.ms += s.move
		maxWall = max(maxWall, ft.ms)
		for range 3 {
			c := h.Now()
			if !prev.Less(c) {
				t.Fatalf("%s: Now() = %v, not after %v", s.name, c, prev)
			}
			if c.Peer != "p" {
				t.Fatalf("%s: peer %q", s.name, c.Peer)
			}
			if c.Wall != maxWall {
				t.Fatalf("%s: wall %d, want the greatest wall time seen, %d", s.name, c.Wall, maxWall)
			}
			prev = c
		}
	}
}

func TestHLCObserve(t *testing.T) {
	const now = 1_750_000_000_000
	day := MaxClockSkew.Milliseconds()
	tests := []struct {
		name       string
		seen       Clock
		wantAfter  bool // next Now is after seen
		wantIgnore bool // next Now is what it would have been without seen
	}{
		{"behind", Clock{now - 100, 7, "q"}, true, false},
		{"same millisecond, higher counter", Clock{now, 50, "q"}, true, false},
		{"same millisecond and counter, greater peer", Clock{now, 0, "zzz"}, true, false},
		{"ahead", Clock{now + 3000, 2, "q"}, true, false},
		{"ahead at the counter's end", Clock{now + 3000, math.MaxUint32, "q"}, true, false},
		{"almost a day ahead", Clock{now + day, 0, "q"}, true, false},
		{"more than a day ahead", Clock{now + day + 1, 0, "q"}, false, true},
		{"far future", Clock{math.MaxInt64, 0, "q"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTime{ms: now}
			h := NewHLC("p", ft.now)
			h.Now()
			h.Observe(tt.seen)
			got := h.Now()
			if after := tt.seen.Less(got); after != tt.wantAfter {
				t.Errorf("Now() = %v after observing %v: after = %v, want %v", got, tt.seen, after, tt.wantAfter)
			}
			if want := (Clock{now, 1, "p"}); tt.wantIgnore && got != want {
				t.Errorf("Now() = %v, want %v as if nothing was observed", got, want)
			}
		})
	}
}

func TestHLCLogicalOverflow(t *testing.T) {
	ft := &fakeTime{ms: 1000}
	h := NewHLC("p", ft.now)
	h.Observe(Clock{Wall: 1000, Logical: math.MaxUint32 - 1, Peer: "q"})
	// The observation leaves the state at the counter's last value.
	a, b := h.Now(), h.Now()
	if !a.Less(b) || a.Wall != 1001 || a.Logical != 0 {
		t.Fatalf("at the end of the counter: %v then %v, want the wall to move to 1001", a, b)
	}
}

func TestHLCConcurrentUse(t *testing.T) {
	h := NewHLC("p", nil)
	const workers, each = 4, 1000
	seen := make([][]Clock, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				seen[w] = append(seen[w], h.Now())
			}
		})
	}
	wg.Wait()
	unique := make(map[Clock]bool)
	for _, cs := range seen {
		for i, c := range cs {
			if i > 0 && !cs[i-1].Less(c) {
				t.Fatalf("not increasing within a goroutine: %v then %v", cs[i-1], c)
			}
			unique[c] = true
		}
	}
	if len(unique) != workers*each {
		t.Fatalf("%d distinct clocks, want %d", len(unique), workers*each)
	}
}

func TestCheckSkew(t *testing.T) {
	now := time.UnixMilli(1_750_000_000_000)
	ok := Clock{Wall: now.Add(DefaultMaxSkew).UnixMilli(), Peer: "p"}
	far := Clock{Wall: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Peer: "p"}
	var r Replica
	r.Set(FieldSummary, Value{S: "x", Clock: ok})
	if err := CheckSkew(&r, now, 0); err != nil {
		t.Fatalf("a clock at the limit: %v", err)
	}
	for name, mk := range map[string]func(*Replica){
		"field":   func(r *Replica) { r.Set(FieldStatus, Value{S: "Done", Clock: far}) },
		"element": func(r *Replica) { r.Set("labels", Value{E: map[string]Elem{"a": {Clock: far}}, Clock: ok}) },
		"comment": func(r *Replica) { r.Comments = []Comment{{ID: "p/1", Body: "b", Clock: far}} },
	} {
		t.Run(name, func(t *testing.T) {
			var r Replica
			r.Set(FieldSummary, Value{S: "x", Clock: ok})
			mk(&r)
			err := CheckSkew(&r, now, 0)
			var se *SkewError
			if !errors.As(err, &se) || !errors.Is(err, ErrClockAhead) || !strings.Contains(err.Error(), "2100-01-01") {
				t.Fatalf("CheckSkew = %v, want a SkewError naming the clock", err)
			}
		})
	}
}
