package feed

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// fake is a tracker with one-second stamps and a settable clock.
type fake struct {
	now   time.Time
	items map[string]time.Time // key -> last update
	rev   map[string]int       // key -> number of changes (to see which state was read)
	calls int
}

type it struct {
	key string
	at  time.Time
	rev int
}

func newFake() *fake {
	return &fake{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), items: map[string]time.Time{}, rev: map[string]int{}}
}

func (f *fake) change(key string) {
	f.items[key] = f.now.Truncate(time.Second)
	f.rev[key]++
}

func (f *fake) tick(d time.Duration) { f.now = f.now.Add(d) }

func (f *fake) page(_ context.Context, since time.Time, offset, limit int) ([]it, time.Time, error) {
	f.calls++
	var all []it
	for k, at := range f.items {
		if !at.Before(since) {
			all = append(all, it{k, at, f.rev[k]})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].at.Equal(all[j].at) {
			return all[i].at.Before(all[j].at)
		}
		a, _ := strconv.Atoi(all[i].key)
		b, _ := strconv.Atoi(all[j].key)
		return a < b
	})
	if offset >= len(all) {
		return nil, f.now, nil
	}
	return all[offset:min(len(all), offset+limit)], f.now, nil
}

func (f *fake) changes(t *testing.T, since adapters.Cursor, limit int) ([]it, adapters.Cursor) {
	t.Helper()
	out, next, err := Changes(context.Background(), since, limit, Options{Settle: 5 * time.Second, PageSize: 3}, f.page,
		func(i it) string { return i.key }, func(i it) time.Time { return i.at })
	if err != nil {
		t.Fatal(err)
	}
	return out, next
}

// drain calls Changes until a call returns fewer than limit, and returns
// the latest revision seen per key.
func (f *fake) drain(t *testing.T, since adapters.Cursor, limit int) (map[string]int, adapters.Cursor) {
	t.Helper()
	seen := map[string]int{}
	for range 100 {
		out, next := f.changes(t, since, limit)
		for _, i := range out {
			seen[i.key] = i.rev
		}
		since = next
		if len(out) < limit {
			return seen, since
		}
	}
	t.Fatal("no end")
	return nil, ""
}

func TestSameSecondTwice(t *testing.T) {
	f := newFake()
	f.change("1")
	seen, cur := f.drain(t, "", 10)
	if seen["1"] != 1 {
		t.Fatalf("first change: %v", seen)
	}
	f.tick(300 * time.Millisecond) // same second
	f.change("1")
	f.change("2") // in the cursor's second, after the cursor was taken
	seen, cur = f.drain(t, cur, 10)
	if seen["1"] != 2 || seen["2"] != 1 {
		t.Fatalf("changes within the cursor's second were lost: %v", seen)
	}
	// Once settled, nothing repeats.
	f.tick(6 * time.Second)
	_, cur = f.drain(t, cur, 10)
	if seen, _ := f.drain(t, cur, 10); len(seen) != 0 {
		t.Fatalf("settled changes repeat: %v (cursor %q)", seen, cur)
	}
}

// TestNothingLost changes random issues at random moments and checks that
// every final state is reported, whatever the limit.
func TestNothingLost(t *testing.T) {
	for _, limit := range []int{1, 2, 5, 100} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			f := newFake()
			var cur adapters.Cursor
			latest := map[string]int{}
			for step := range 400 {
				k := strconv.Itoa((step*7 + step/3) % 11)
				f.change(k)
				f.tick(time.Duration(step%5) * 170 * time.Millisecond)
				if step%3 == 0 {
					var seen map[string]int
					seen, cur = f.drain(t, cur, limit)
					for k, r := range seen {
						latest[k] = max(latest[k], r)
					}
				}
			}
			f.tick(10 * time.Second)
			seen, _ := f.drain(t, cur, limit)
			for k, r := range seen {
				latest[k] = max(latest[k], r)
			}
			for k, r := range f.rev {
				if latest[k] != r {
					t.Errorf("issue %s: last reported revision %d, final %d", k, latest[k], r)
				}
			}
		})
	}
}

// TestLimitProgress: more unsettled issues than the limit still page
// through (a round), and the next round reports them again.
func TestLimitProgress(t *testing.T) {
	f := newFake()
	for i := 1; i <= 7; i++ {
		f.change(strconv.Itoa(i)) // all in one second
	}
	var keys []string
	var cur adapters.Cursor
	for range 10 {
		out, next := f.changes(t, cur, 2)
		for _, i := range out {
			keys = append(keys, i.key)
		}
		cur = next
		if len(out) < 2 {
			break
		}
	}
	if !slices.Equal(keys, []string{"1", "2", "3", "4", "5", "6", "7"}) {
		t.Fatalf("paging with limit 2 gave %v", keys)
	}
	// Next round: all unsettled again.
	if out, _ := f.changes(t, cur, 100); len(out) != 7 {
		t.Fatalf("next round gave %d, want the 7 unsettled again", len(out))
	}
}

// TestManyInOneSecond: more issues in one settled second than a page holds.
func TestManyInOneSecond(t *testing.T) {
	f := newFake()
	for i := 1; i <= 10; i++ {
		f.change(strconv.Itoa(i))
	}
	f.tick(10 * time.Second)
	seen, cur := f.drain(t, "", 4)
	if len(seen) != 10 {
		t.Fatalf("got %d of 10: %v", len(seen), seen)
	}
	if again, _ := f.drain(t, cur, 4); len(again) != 0 {
		t.Fatalf("repeated: %v", again)
	}
}

func TestCursorCodec(t *testing.T) {
	for _, c := range []adapters.Cursor{"", "17:", "17:1,2", "17:1;3@18,4@19", "17:;3@18"} {
		p, err := Parse(c)
		if err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		if got := p.String(); got != c && !(c == "17:" && got == "17:") {
			t.Errorf("%q round-trips to %q", c, got)
		}
	}
	for _, bad := range []adapters.Cursor{"x", "-1:", "5:;a@b", "5:;a"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	f := newFake()
	if _, _, err := Changes(context.Background(), "garbage", 1, Options{}, f.page, func(i it) string { return i.key }, func(i it) time.Time { return i.at }); err == nil {
		t.Fatal("a garbage cursor was accepted")
	}
}
