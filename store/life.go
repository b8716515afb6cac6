package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A sync log that runs for years: space reclaimed, backups and restores.
//
// Most of the sync log lives in Badger's LSM tree (see badgerOptions):
// every key is small and values are below ValueThreshold, so an event that
// is acked and deleted, a received marker that is pruned or a twin record
// that is rewritten is dropped by the LSM compactions that run anyway, and
// the disk follows the live data. Values over the threshold go to the value
// log, which nothing compacts: GC rewrites its files that are mostly
// garbage. The node runs GC on a schedule and after bulk work.

// GCResult is what one GC run did.
type GCResult struct {
	Start    time.Time     `json:"start"`
	Took     time.Duration `json:"took"`
	Rewrites int           `json:"rewrites"` // value-log files rewritten
	Before   int64         `json:"before"`   // bytes on disk before
	After    int64         `json:"after"`    // bytes on disk after
}

// gcDiscardRatio is the share of a value-log file that must be garbage for
// GC to rewrite it: half, as Badger suggests; lower ratios rewrite more
// live data for less space.
const gcDiscardRatio = 0.5

// maxRewrites bounds the value-log files one GC run rewrites, so that a run
// never holds the disk busy for long.
const maxRewrites = 64

// GC reclaims the space of deleted and overwritten values in the value log:
// it rewrites the value-log files that are mostly garbage, one after
// another, until none is left or ctx ends.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	res := GCResult{Start: time.Now()}
	res.Before, _ = DirSize(s.dir)
	var err error
	for res.Rewrites < maxRewrites && ctx.Err() == nil {
		err = s.db.RunValueLogGC(gcDiscardRatio)
		if err != nil {
			break
		}
		res.Rewrites++
	}
	if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
		// Nothing (more) to rewrite, or a GC already running.
		err = nil
	}
	res.After, _ = DirSize(s.dir)
	res.Took = time.Since(res.Start)
	if err != nil {
		return res, fmt.Errorf("garbage collection of the sync log's value log in %s: %w", s.dir, err)
	}
	return res, nil
}

// DirSize is the disk space taken by the files under dir, in bytes: the
// blocks allocated, not the apparent sizes (Badger preallocates and maps
// its files larger than what they hold).
func DirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed meanwhile (a compaction)
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// Backup writes a consistent snapshot of the whole sync log to w in
// Badger's backup format, while the store is in use.
func (s *Store) Backup(w io.Writer) error {
	if _, err := s.db.Backup(w, 0); err != nil {
		return fmt.Errorf("back up the sync log in %s: %w", s.dir, err)
	}
	return nil
}

// Restore creates a sync log in dir (which must not hold one) from a
// backup written by Backup, then moves every outgoing sequence past what
// the node may have sent since the backup was taken (see bumpSeqs).
func Restore(dir string, r io.Reader, o Options) error {
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
		return fmt.Errorf("restore the sync log: %s already holds one", dir)
	}
	s, err := Open(dir, o)
	if err != nil {
		return err
	}
	if err := s.db.Load(r, 256); err != nil {
		s.Close()
		return fmt.Errorf("restore the sync log into %s: %w", dir, err)
	}
	err = s.Update(context.Background(), func(tx *Tx) error { return tx.bumpSeqs(time.Now()) })
	return errors.Join(err, s.Close())
}

// bumpSeqs moves the last outgoing sequence of every peer and network
// (os/<link>) to at least the time now in microseconds. A node restored
// from a backup may have sent, before it was lost, events with the
// sequences that follow the backup's; its peers would take new events
// with those numbers for retransmissions and drop them. Sequences are
// counted one per event, far slower than one per microsecond, so the
// clock is past every sequence used since the last bump.
func (t *Tx) bumpSeqs(now time.Time) error {
	floor := uint64(now.UnixMicro())
	var keys []string
	err := t.scan("os/", false, func(key string, val []byte) (bool, error) {
		if len(val) != 8 || binary.BigEndian.Uint64(val) < floor {
			keys = append(keys, key)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], floor)
	for _, k := range keys {
		t.set(k, append([]byte(nil), b[:]...))
	}
	return nil
}

// Cursors returns the cursors whose names start with prefix, by name
// without the prefix.
func (t *Tx) Cursors(prefix string) (map[string]string, error) {
	out := map[string]string{}
	err := t.scan("c/"+prefix, false, func(key string, val []byte) (bool, error) {
		out[key[len("c/"+prefix):]] = string(val)
		return true, nil
	})
	return out, err
}

// DeleteCursor removes a stored cursor.
func (t *Tx) DeleteCursor(name string) { t.del("c/" + name) }

// Checkpoint marks the end of one independent part of an update: a batch
// of received events, applied events or shared twins calls it after each
// one. An update that is too big for one Badger transaction (a memtable
// holds 15% of its size in one transaction, and values under
// ValueThreshold count whole) is then committed part by part, each part
// atomic, in order, instead of failing. A crash between parts leaves the
// earlier parts only, which such a batch must tolerate; a key written in
// several parts is written with its last value in the first of them (for
// a sequence counter: a gap, which readers allow).
func (t *Tx) Checkpoint() {
	if t.write && (len(t.marks) == 0 || t.marks[len(t.marks)-1] != len(t.order)) {
		t.marks = append(t.marks, len(t.order))
	}
}

// commitParts commits the writes of tx in one Badger transaction per part
// (see Checkpoint).
func (s *Store) commitParts(tx *Tx) error {
	start := 0
	ends := append(slices.Clone(tx.marks), len(tx.order))
	for _, end := range ends {
		if end <= start {
			continue
		}
		part := &Tx{sets: tx.sets, dels: tx.dels, order: tx.order[start:end]}
		btx := s.db.NewTransaction(true)
		err := part.apply(btx)
		if err == nil {
			err = btx.Commit()
		}
		if err == nil {
			s.cnt.add(part.delta)
		}
		btx.Discard()
		if err != nil {
			return fmt.Errorf("commit part %d..%d of %d writes: %w", start, end, len(tx.order), err)
		}
		start = end
	}
	return nil
}
