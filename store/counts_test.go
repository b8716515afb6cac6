package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
)

// scanned is what the log holds, counted by scanning (an update's Tx
// scans; a read-only one answers from the counts).
type scanned struct {
	twins, out, in int
	outBy, inBy    map[string]int
	pendingBy      map[string]int // QueueStats
}

func scanCounts(t *testing.T, s *Store, links []string) scanned {
	t.Helper()
	c := scanned{outBy: map[string]int{}, inBy: map[string]int{}, pendingBy: map[string]int{}}
	err := s.Update(context.Background(), func(tx *Tx) (err error) {
		if c.twins, err = tx.Count("t/"); err != nil {
			return err
		}
		if c.out, err = tx.Count("o/"); err != nil {
			return err
		}
		if c.in, err = tx.Count("i/"); err != nil {
			return err
		}
		for _, l := range links {
			if c.outBy[l], err = tx.Count("o/" + l + "/"); err != nil {
				return err
			}
			if c.inBy[l], err = tx.Count("i/" + l + "/"); err != nil {
				return err
			}
		}
		st, err := tx.QueueStats()
		for l, q := range st {
			c.pendingBy[l] = q.Pending
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func viewCounts(t *testing.T, s *Store, links []string) scanned {
	t.Helper()
	c := scanned{outBy: map[string]int{}, inBy: map[string]int{}, pendingBy: map[string]int{}}
	err := s.View(func(tx *Tx) (err error) {
		if tx.cnt == nil {
			return errors.New("a read-only Tx without the store's counts")
		}
		if c.twins, err = tx.Count("t/"); err != nil {
			return err
		}
		if c.out, err = tx.Count("o/"); err != nil {
			return err
		}
		if c.in, err = tx.Count("i/"); err != nil {
			return err
		}
		for _, l := range links {
			if c.outBy[l], err = tx.Count("o/" + l + "/"); err != nil {
				return err
			}
			if c.inBy[l], err = tx.Count("i/" + l + "/"); err != nil {
				return err
			}
		}
		st, err := tx.QueueStats()
		for l, q := range st {
			c.pendingBy[l] = q.Pending
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameCounts(a, b scanned) bool {
	return a.twins == b.twins && a.out == b.out && a.in == b.in &&
		maps.Equal(a.outBy, b.outBy) && maps.Equal(a.inBy, b.inBy) && maps.Equal(a.pendingBy, b.pendingBy)
}

// TestCountsFollowEveryWrite checks that the kept counts (what status,
// the queue and the metrics read) equal a scan of the log after
// concurrent, batched updates that append, ack (some twice, some never
// appended), receive, finish, store new and old twins, delete twins, fail
// half-way, and after a reopen.
func TestCountsFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	links := []string{"peerA", "peerB", "net:n1"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 300 {
				l := links[r.IntN(len(links))]
				twin := fmt.Sprintf("tw-%d", r.IntN(40))
				err := s.Update(ctx, func(tx *Tx) error {
					switch r.IntN(7) {
					case 0, 1:
						_, err := tx.Append(l, event(twin, fmt.Sprint(w, i)))
						return err
					case 2: // ack, maybe of nothing, maybe twice
						seq := uint64(r.IntN(60) + 1)
						tx.DeleteOut(l, seq)
						tx.DeleteOut(l, seq)
					case 3:
						seq := uint64(r.IntN(80) + 1)
						if _, _, err := tx.Receive(l, seq, []byte("frame")); err != nil {
							return err
						}
						if r.IntN(2) == 0 {
							return tx.FinishIn(l, seq, replica.Ack{})
						}
					case 4:
						return tx.PutTwin(&Twin{ID: twin, LocalKey: "K-" + twin})
					case 5:
						tx.DeleteTwin(&Twin{ID: twin, LocalKey: "K-" + twin})
					case 6: // writes, then fails: none of it counts
						_ = tx.PutTwin(&Twin{ID: "failed-" + twin})
						_, _ = tx.Append(l, event(twin, "failed"))
						return errors.New("refused")
					}
					return nil
				})
				if err != nil && err.Error() != "refused" {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := scanCounts(t, s, links)
	if want.out == 0 || want.in == 0 || want.twins == 0 {
		t.Fatalf("the workload left an empty range, the test proves little: %+v", want)
	}
	if got := viewCounts(t, s, links); !sameCounts(got, want) {
		t.Fatalf("kept counts %+v, scan %+v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	if got := viewCounts(t, s, links); !sameCounts(got, want) {
		t.Fatalf("after reopen: kept counts %+v, scan %+v", got, want)
	}
}
