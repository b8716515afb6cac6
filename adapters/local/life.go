package local

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// A local tracker that runs for years: orphan file chunks removed, and
// backups.

// sweepOrphanBlobs deletes the chunks of files that no issue names: what an
// add interrupted between its chunks and its metadata left (see
// attach.go). It runs in Open, before any add can be in flight, and
// returns how many blobs it removed.
func (t *Tracker) sweepOrphanBlobs() (int, error) {
	blobs := map[string][][]byte{}
	err := t.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Prefix = []byte(blobPrefix)
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			rest := string(k[len(blobPrefix):])
			if i := strings.IndexByte(rest, '/'); i > 0 {
				blobs[rest[:i]] = append(blobs[rest[:i]], k)
			}
		}
		if len(blobs) == 0 {
			return nil
		}
		o = badger.DefaultIteratorOptions
		o.Prefix = []byte(issuePrefix)
		it2 := txn.NewIterator(o)
		defer it2.Close()
		for it2.Rewind(); it2.Valid(); it2.Next() {
			err := it2.Item().Value(func(v []byte) error {
				r, err := decodeRecord(v)
				if err != nil {
					return fmt.Errorf("stored issue %s is unreadable: %w", it2.Item().Key(), err)
				}
				for _, a := range r.Attachments {
					delete(blobs, a.Blob)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(blobs) == 0 {
		return 0, err
	}
	wb := t.db.NewWriteBatch()
	defer wb.Cancel()
	for _, keys := range blobs {
		for _, k := range keys {
			if err := wb.Delete(k); err != nil {
				return 0, err
			}
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, err
	}
	return len(blobs), nil
}

// Backup writes a consistent snapshot of the tracker to w in Badger's
// backup format, while the tracker is in use.
func (t *Tracker) Backup(w io.Writer) error {
	t.closeMu.RLock()
	defer t.closeMu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	if _, err := t.db.Backup(w, 0); err != nil {
		return fmt.Errorf("back up the local tracker in %s: %w", t.dir, err)
	}
	return nil
}

// Restore creates a local tracker in dir (which must not hold one) from a
// backup written by Backup.
func Restore(dir string, r io.Reader, opts Options) error {
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
		return fmt.Errorf("restore the local tracker: %s already holds one", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore the local tracker: create %s: %w", dir, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := badger.Open(badgerOptions(dir, opts.SyncWrites, log))
	if err != nil {
		return fmt.Errorf("restore the local tracker: open %s: %w", dir, err)
	}
	if err := db.Load(r, 256); err != nil {
		db.Close()
		return fmt.Errorf("restore the local tracker into %s: %w", dir, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("restore the local tracker: close %s: %w", dir, err)
	}
	return nil
}
