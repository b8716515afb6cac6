package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// api calls a running node's admin API over its unix socket, with the
// client the command line uses.
func (p *proc) api(method, path string, in, out any) error {
	c := api.NewSocketClient(filepath.Join(p.home, "admin.sock"))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Do(ctx, method, path, in, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// TestKill9NothingLostNothingDuplicated streams 2,000 changes from A to B
// while B is killed with SIGKILL at several random points and A once, each
// restarted; in the end B's tracker holds every change exactly once and no
// twin exists twice on either side.
func TestKill9NothingLostNothingDuplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test; skipped with -short")
	}
	const issues, changes = 100, 2000
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	killB := map[int]bool{}
	for len(killB) < 4 {
		killB[200+rng.IntN(changes-400)] = true
	}
	killA := 600 + rng.IntN(800)
	t.Logf("killing B before changes %v and A before change %d", slices.Sorted(mapKeys(killB)), killA)

	// Each change goes through A's admin API; a call that fails because A
	// is down is retried once A is back (A is only killed between calls, so
	// no change is ever applied twice by the retry).
	do := func(method, path string, in any, out any) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := a.api(method, path, in, out)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("change on A: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var bDown sync.WaitGroup
	keys := make([]string, 0, issues)
	for i := range changes {
		if killB[i] {
			b.kill()
			bDown.Add(1)
			go func(d time.Duration) { // B stays down while A keeps changing
				defer bDown.Done()
				time.Sleep(d)
				b.start()
			}(time.Duration(50+rng.IntN(400)) * time.Millisecond)
			bDown.Wait()
		}
		if i == killA {
			a.kill()
			a.start()
		}
		switch {
		case i < issues:
			var v struct{ Key string }
			s := fmt.Sprintf("issue %03d", i)
			do("POST", "/v1/issues", map[string]any{"summary": s, "description": "d0"}, &v)
			keys = append(keys, v.Key)
		case i%3 == 0:
			do("PATCH", "/v1/issues/"+keys[i%issues], map[string]any{"description": fmt.Sprintf("d%d", i)}, nil)
		case i%3 == 1:
			do("POST", "/v1/issues/"+keys[i%issues]+"/comments", map[string]any{"body": fmt.Sprintf("comment %d", i), "author": "alice"}, nil)
		default:
			do("PATCH", "/v1/issues/"+keys[i%issues], map[string]any{"status": fmt.Sprintf("s%d", i%7), "labels": []string{fmt.Sprintf("l%d", i%5)}}, nil)
		}
	}

	// Everything drains.
	testutil.WaitFor(t, 90*time.Second, "both queues are empty and B has every issue", func() bool {
		var sa, sb struct{ Pending, Incoming, Blocked, Twins int }
		if a.api("GET", "/v1/status", nil, &sa) != nil || b.api("GET", "/v1/status", nil, &sb) != nil {
			return false
		}
		return sa.Pending == 0 && sb.Incoming == 0 && sa.Blocked == 0 && sb.Blocked == 0 && sb.Twins == issues
	})
	var la, lb []issue
	if err := a.api("GET", "/v1/issues", nil, &la); err != nil {
		t.Fatal(err)
	}
	if err := b.api("GET", "/v1/issues", nil, &lb); err != nil {
		t.Fatal(err)
	}
	if len(la) != issues || len(lb) != issues {
		t.Fatalf("A has %d issues and B has %d, want %d each", len(la), len(lb), issues)
	}
	byTwin := map[string]issue{}
	for _, is := range lb {
		if _, dup := byTwin[is.Twin]; dup || is.Twin == "" {
			t.Fatalf("twin %q exists twice (or unlinked) on B", is.Twin)
		}
		byTwin[is.Twin] = is
	}
	seenA := map[string]bool{}
	comments := 0
	for _, x := range la {
		if seenA[x.Twin] {
			t.Fatalf("twin %s exists twice on A", x.Twin)
		}
		seenA[x.Twin] = true
		y, ok := byTwin[x.Twin]
		if !ok {
			t.Fatalf("%s (%s) never reached B", x.Key, x.Summary)
		}
		if x.Summary != y.Summary || x.Description != y.Description || x.Status != y.Status || !slices.Equal(x.Labels, y.Labels) {
			t.Fatalf("%s differs: A %+v, B %+v", x.Key, x, y)
		}
		if len(x.Comments) != len(y.Comments) {
			t.Fatalf("%s: A has %d comments, B %d", x.Key, len(x.Comments), len(y.Comments))
		}
		for i := range x.Comments {
			if x.Comments[i].Body != y.Comments[i].Body {
				t.Fatalf("%s comment %d: A %q, B %q", x.Key, i, x.Comments[i].Body, y.Comments[i].Body)
			}
		}
		comments += len(x.Comments)
		if len(x.Twins) != 1 || x.Twins[0].Key != y.Key {
			t.Fatalf("%s: link to B is %+v, want %s", x.Key, x.Twins, y.Key)
		}
	}
	if want := (changes - issues + 1) / 3; comments < want-1 || comments > want+1 {
		t.Fatalf("%d comments in all, want about %d", comments, want)
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
