package store

import (
	"errors"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The counts of what the sync log holds (twins, pending outgoing and
// waiting incoming events, per link) are kept in memory, so that status,
// the queue, the networks and the metrics answer without scanning whole
// key ranges (a scan of 14,000 pending events took 45 ms; of a million
// twins, seconds). They are counted once when the log opens, then moved
// by every commit: the single writer (commit) looks up, for each written
// key under a counted prefix, whether it existed in the transaction being
// committed, so a key set twice or deleted twice is counted once. A
// read-only Tx answers Count and QueueStats of a counted prefix from them;
// an update's Tx still scans, so that it sees its own writes.

// counted reports the counted range of a key: 'o' (outgoing log), 'i'
// (incoming log), 't' (twins), or 0.
func counted(key string) byte {
	if len(key) < 2 || key[1] != '/' {
		return 0
	}
	switch key[0] {
	case 'o', 'i', 't':
		return key[0]
	}
	return 0
}

// linkOf is the peer (or network link) of an outgoing or incoming log
// key: prefix, link, "/", 8 bytes of sequence.
func linkOf(key string) (string, bool) {
	if len(key) < 2+1+9 {
		return "", false
	}
	return key[2 : len(key)-9], true
}

// countDelta is what one update's writes change in the counts.
type countDelta struct {
	twins, out, in int
	outBy, inBy    map[string]int
}

func (d *countDelta) move(key string, by int) {
	switch counted(key) {
	case 't':
		d.twins += by
	case 'o':
		d.out += by
		if l, ok := linkOf(key); ok {
			if d.outBy == nil {
				d.outBy = map[string]int{}
			}
			d.outBy[l] += by
		}
	case 'i':
		d.in += by
		if l, ok := linkOf(key); ok {
			if d.inBy == nil {
				d.inBy = map[string]int{}
			}
			d.inBy[l] += by
		}
	}
}

// counter is the store's counts.
type counter struct {
	mu             sync.Mutex
	twins, out, in int
	outBy, inBy    map[string]int
}

func (c *counter) add(d *countDelta) {
	if c == nil || d == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.twins += d.twins
	c.out += d.out
	c.in += d.in
	for l, n := range d.outBy {
		if c.outBy[l] += n; c.outBy[l] <= 0 {
			delete(c.outBy, l)
		}
	}
	for l, n := range d.inBy {
		if c.inBy[l] += n; c.inBy[l] <= 0 {
			delete(c.inBy, l)
		}
	}
}

// count answers Count for a counted prefix: "t/", "o/", "i/", "o/LINK/",
// "i/LINK/".
func (c *counter) count(prefix string) (int, bool) {
	if c == nil || len(prefix) < 2 || counted(prefix) == 0 {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(prefix) == 2 {
		switch prefix[0] {
		case 't':
			return c.twins, true
		case 'o':
			return c.out, true
		default:
			return c.in, true
		}
	}
	if prefix[0] == 't' || prefix[len(prefix)-1] != '/' {
		return 0, false
	}
	l := prefix[2 : len(prefix)-1]
	if prefix[0] == 'o' {
		return c.outBy[l], true
	}
	return c.inBy[l], true
}

// pendingBy is a copy of the outgoing counts per link.
func (c *counter) pendingBy() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.outBy))
	for l, n := range c.outBy {
		out[l] = n
	}
	return out
}

// countAll counts the counted ranges (at open, before the writer runs).
func countAll(db *badger.DB) (*counter, error) {
	c := &counter{outBy: map[string]int{}, inBy: map[string]int{}}
	var d countDelta
	err := db.View(func(btx *badger.Txn) error {
		for _, p := range []string{"t/", "o/", "i/"} {
			o := badger.DefaultIteratorOptions
			o.Prefix = []byte(p)
			o.PrefetchValues = false
			it := btx.NewIterator(o)
			for it.Rewind(); it.Valid(); it.Next() {
				d.move(string(it.Item().Key()), 1)
			}
			it.Close()
		}
		return nil
	})
	c.add(&d)
	return c, err
}

// countWrite records, in d, what writing key in btx changes: a set of a
// key btx does not hold adds one, a delete of a key it holds removes one.
func countWrite(btx *badger.Txn, d *countDelta, key string, del bool) error {
	if counted(key) == 0 {
		return nil
	}
	_, err := btx.Get([]byte(key))
	exists := err == nil
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	switch {
	case del && exists:
		d.move(key, -1)
	case !del && !exists:
		d.move(key, 1)
	}
	return nil
}

// queueStats answers QueueStats from the counts: one seek per link for the
// oldest event's send time.
func (t *Tx) queueStats() map[string]*QueueStat {
	stats := map[string]*QueueStat{}
	for l, n := range t.cnt.pendingBy() {
		st := &QueueStat{Peer: l, Pending: n}
		o := badger.DefaultIteratorOptions
		o.Prefix = []byte("o/" + l + "/")
		o.PrefetchValues = false
		it := t.btx.NewIterator(o)
		it.Rewind()
		if it.Valid() {
			if ev, err := t.OutEvent(l, seqOf(string(it.Item().Key()))); err == nil && ev.Sent > 0 {
				st.Oldest = time.Unix(0, ev.Sent)
			}
		}
		it.Close()
		stats[l] = st
	}
	return stats
}
