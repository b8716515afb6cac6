package store

import "sync/atomic"

// WriteStats counts what the sync log was asked to write since it opened:
// the commits of the writer and the keys and bytes (keys and values) of the
// updates in them. It is the cost of the durable path that does not move
// with the machine's load, which wall time does: the engine's benchmarks
// report it per event.
type WriteStats struct {
	Commits uint64
	Updates uint64
	Sets    uint64
	Deletes uint64
	Bytes   uint64
}

type writeStats struct {
	commits, updates, sets, deletes, bytes atomic.Uint64
}

// count adds one update's writes; commits is 1 for the first update of a
// commit, else 0. Updates committed in parts or re-run after a transaction
// grew too big are not counted.
func (w *writeStats) count(tx *Tx, commits int) {
	w.commits.Add(uint64(commits))
	w.updates.Add(1)
	var sets, dels, n uint64
	for _, k := range tx.order {
		n += uint64(len(k))
		if tx.dels[k] {
			dels++
			continue
		}
		sets++
		n += uint64(len(tx.sets[k]))
	}
	w.sets.Add(sets)
	w.deletes.Add(dels)
	w.bytes.Add(n)
}

// Written returns what the sync log was asked to write since it opened.
func (s *Store) Written() WriteStats {
	w := &s.written
	return WriteStats{Commits: w.commits.Load(), Updates: w.updates.Load(), Sets: w.sets.Load(), Deletes: w.deletes.Load(), Bytes: w.bytes.Load()}
}
