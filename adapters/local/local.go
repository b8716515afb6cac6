// Package local is issuemesh's embedded issue tracker, the default tracker of
// a node. Issues live in a Badger database in a directory of the node's home
// and are served through adapters.Tracker, like any other tracker.
//
// # Issues
//
// Keys are <Prefix>-<n> (LOCAL-1, LOCAL-2, ...): contiguous from 1, never
// reused. The prefix is fixed when the database is created; opening it later
// with an empty Options.Prefix adopts the stored one, a different one is an
// error. Keys are matched with the prefix case-insensitively.
//
// Create requires a non-blank summary; an empty status or priority (on
// Create or in a Patch) means the default, "Open" and "Normal". Labels are a
// set: stored sorted, without duplicates and without empty labels. Extra
// fields are merged by a Patch; an empty value removes the field. Comment IDs
// are "1", "2", ... per issue. A comment added with a SyncID that the issue
// already has is not added twice: it edits that comment, so a retransmitted
// add changes nothing. EditComments finds a comment by ID, or by SyncID when
// the ID is empty, and replaces its Body and Internal flag. Times set by the
// tracker are UTC with millisecond precision.
//
// An Update that changes nothing in effect (every value equal to the current
// one) writes nothing, does not advance the change feed and does not call
// the OnChange callbacks: the sync engine relies on that to end echo loops.
//
// # Attachments
//
// The tracker implements adapters.Attachments. Files of up to
// MaxAttachmentSize (64 MiB) are kept in the same database, in chunks of
// 1 MiB under f/<blob ID>/<n>; the issue record holds their metadata
// (attachment IDs "1", "2", ... per issue, the SHA-256, the blob ID), and Get
// returns it in Issue.Attachments. Attaching a file is an effective change
// (next revision, OnChange). A file whose SyncID or digest the issue already
// has is not stored twice. Details in attach.go.
//
// # Change feed
//
// Every committed Create or effective Update takes the next revision of a
// database-wide counter. An index maps each issue's latest revision to the
// issue (the previous entry is removed), so Changes(since) returns every
// issue changed after since exactly once, in its current state, oldest
// change first. The cursor is the decimal revision of the last issue
// returned; "" and "0" mean from the start.
//
// # Storage
//
// Badger keys: i/<n> holds the issue, r/<rev> the issue number at its latest
// revision, t/<twin> the issue number carrying that twin marker, and m/...
// the format version, the key prefix and the two counters (next issue
// number, next revision). Numbers in keys are 8-byte big-endian, so key order
// is numeric order. Issues are encoded with msgpack (compact, fast, already
// the project's wire codec) into a private record type with short field
// names, decoupled from adapters.Issue so that the stored format changes only
// on purpose.
//
// Badger is sized for an embedded tracker (details at badgerOptions): 8 MiB
// memtables, two of them; an 8 MiB block cache; 64 MiB value-log files
// (values up to 1 MiB stay in the LSM tree, so only very large issues reach
// the value log, which is garbage-collected every 10 minutes); two
// compactors; no conflict detection (there is one writer). Measured here:
// opening an empty tracker adds about 3 MB RSS, and a process that reopens
// one with 20,000 issues has about 22 MB RSS. A burst of 70,000 writes
// briefly takes the heap over 100 MB (Badger's table-building buffers); a
// few seconds after it the live heap is back to about 20 MB (one memtable
// and the block cache). Badger's errors and warnings go to the logger at
// their level, its info and debug messages at debug.
//
// # Errors
//
// Invalid data (blank summary, unknown comment, twin marker in use, an issue
// over 4 MiB encoded, a twin marker over 512 bytes) wraps
// adapters.ErrRejected; an unknown or malformed key, or an unknown twin
// marker, wraps adapters.ErrNotFound; a failed database write, and any call
// after Close (ErrClosed), wraps adapters.ErrUnavailable.
//
// # Writes
//
// All writes go through one writer goroutine that does group commit: it takes
// up to 256 queued operations, applies them in order inside one Badger
// transaction (each reads through the transaction, so it sees the earlier
// ones), commits once and then answers every caller. An operation that fails
// validation is answered with its error and leaves no trace. If a batch
// outgrows one transaction, what fits is committed and a new transaction
// started. The counters are read once at Open and cached by the writer; they
// are written in the same transactions as the issues, so they never run
// ahead of or behind the data. A caller whose context ends before the writer
// takes its operation abandons it (nothing is written); once taken, the
// caller waits for the outcome. Reads use read-only views and run
// concurrently with each other and with the writer.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/issuemesh/issuemesh/adapters"
)

// DefaultPrefix is the key prefix of a new database when Options.Prefix is
// empty.
const DefaultPrefix = "LOCAL"

// DefaultChangesLimit is the page size of Changes when limit <= 0.
const DefaultChangesLimit = 1000

// ErrClosed is returned by every method called after Close. It wraps
// adapters.ErrUnavailable: the sync engine retries later.
var ErrClosed = fmt.Errorf("local tracker is closed: %w", adapters.ErrUnavailable)

// Options configure Open.
type Options struct {
	// Prefix of the issue keys: letters, digits and '_', starting with a
	// letter, at most 32 characters. Empty means DefaultPrefix for a new
	// database and the stored prefix for an existing one.
	Prefix string
	// SyncWrites makes every commit durable (fsync) before the callers are
	// answered. A real node sets it; tests may leave it false.
	SyncWrites bool
	// Logger receives the tracker's and Badger's logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// Space, when set, is asked before every commit; its error refuses the
	// batch as adapters.ErrUnavailable (a disk too full for Badger to write
	// safely: diskspace).
	Space interface{ Check() error }
}

// Tracker is the embedded tracker. It is safe for concurrent use.
type Tracker struct {
	db     *badger.DB
	space  interface{ Check() error } // nil: writes never refused for space
	dir    string
	prefix string
	log    *slog.Logger

	// closeMu orders Close against callers: readers and enqueuers hold it
	// shared, Close exclusively to set closed and close ops.
	closeMu    sync.RWMutex
	closed     bool
	ops        chan *op
	writerDone chan struct{}

	// ctr is owned by the writer goroutine after Open.
	ctr         counters
	beforeBatch func() // test hook, see open

	notifyMu  sync.Mutex // serialises OnChange against Close
	stopped   bool       // under notifyMu: no more callbacks may register
	notifiers atomic.Pointer[[]*notifier]
	stop      chan struct{}  // closed by Close: notifiers and maintenance end
	bg        sync.WaitGroup // notifiers and maintenance
}

var _ adapters.Tracker = (*Tracker)(nil)

// counters are the database-wide counters, as committed or as about to be.
type counters struct {
	nextNum uint64 // number of the next issue
	nextRev uint64 // revision of the next mutation
}

// Open opens (creating if needed) the local tracker kept in dir.
func Open(dir string, opts Options) (*Tracker, error) {
	return open(dir, opts, nil)
}

// open is Open with a hook that the writer calls when it has taken the first
// op of a batch, before it drains the rest (tests use it to hold the writer).
func open(dir string, opts Options, beforeBatch func()) (*Tracker, error) {
	if dir == "" {
		return nil, errors.New("open local tracker: no directory given")
	}
	if opts.Prefix != "" {
		if err := checkPrefix(opts.Prefix); err != nil {
			return nil, fmt.Errorf("open local tracker: %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "local-tracker")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open local tracker: create its directory: %w", err)
	}
	db, err := badger.Open(badgerOptions(dir, opts.SyncWrites, log))
	if err != nil {
		return nil, fmt.Errorf("open local tracker database in %s: %w", dir, err)
	}
	t := &Tracker{
		db:         db,
		space:      opts.Space,
		dir:        dir,
		log:        log,
		ops:        make(chan *op, maxBatch),
		writerDone: make(chan struct{}),
		stop:       make(chan struct{}),

		beforeBatch: beforeBatch,
	}
	if err := t.loadMeta(opts.Prefix); err != nil {
		if cerr := db.Close(); cerr != nil {
			log.Warn("closing the local tracker database after a failed open", "err", cerr)
		}
		return nil, fmt.Errorf("open local tracker in %s: %w", dir, err)
	}
	if n, err := t.sweepOrphanBlobs(); err != nil {
		log.Warn("looking for the chunks of interrupted file adds failed", "err", err)
	} else if n > 0 {
		log.Info("removed the chunks of interrupted file adds", "files", n)
	}
	go t.run()
	t.bg.Add(1)
	go t.valueLogGC()
	log.Info("local tracker open", "dir", dir, "prefix", t.prefix,
		"issues", t.ctr.nextNum-1, "revision", t.ctr.nextRev-1, "sync_writes", opts.SyncWrites)
	return t, nil
}

func checkPrefix(p string) error {
	ok := len(p) <= 32
	for i, c := range p {
		letter := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("key prefix %q is not valid: use letters, digits and '_', starting with a letter, at most 32 characters", p)
	}
	return nil
}

// loadMeta initialises a new database or checks an existing one, and loads
// the prefix and the counters.
func (t *Tracker) loadMeta(want string) error {
	return t.db.Update(func(txn *badger.Txn) error {
		format, err := getString(txn, metaFormat)
		if err != nil {
			return err
		}
		if format == "" {
			it := txn.NewIterator(badger.IteratorOptions{})
			it.Rewind()
			used := it.Valid()
			it.Close()
			if used {
				return errors.New("the directory holds a Badger database that is not a local tracker")
			}
			t.prefix = want
			if t.prefix == "" {
				t.prefix = DefaultPrefix
			}
			t.ctr = counters{nextNum: 1, nextRev: 1}
			for _, kv := range []struct {
				key string
				val []byte
			}{
				{metaFormat, []byte(formatVersion)},
				{metaPrefix, []byte(t.prefix)},
				{metaNextNum, u64(1)},
				{metaNextRev, u64(1)},
			} {
				if err := txn.Set([]byte(kv.key), kv.val); err != nil {
					return fmt.Errorf("initialise the database: %w", err)
				}
			}
			return nil
		}
		if format != formatVersion {
			return fmt.Errorf("the database has storage format %q; this issuemesh reads format %q", format, formatVersion)
		}
		if t.prefix, err = getString(txn, metaPrefix); err != nil {
			return err
		}
		if want != "" && want != t.prefix {
			return fmt.Errorf("the database was created with key prefix %q, not %q (keys cannot be renamed)", t.prefix, want)
		}
		for _, c := range []struct {
			key string
			dst *uint64
		}{{metaNextNum, &t.ctr.nextNum}, {metaNextRev, &t.ctr.nextRev}} {
			item, err := txn.Get([]byte(c.key))
			if err != nil {
				return fmt.Errorf("read counter %s: %w", c.key, err)
			}
			if err := item.Value(func(v []byte) error {
				*c.dst, err = readU64(v)
				return err
			}); err != nil {
				return fmt.Errorf("read counter %s: %w", c.key, err)
			}
		}
		return nil
	})
}

func getString(txn *badger.Txn, key string) (string, error) {
	item, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return string(v), nil
}

// Prefix returns the key prefix of this tracker's issues.
func (t *Tracker) Prefix() string { return t.prefix }

// Close stops the writer after it has written every queued operation, stops
// the OnChange callbacks (waiting for a running one to return) and closes
// the database. Calling it again does nothing.
func (t *Tracker) Close() error {
	t.closeMu.Lock()
	if t.closed {
		t.closeMu.Unlock()
		return nil
	}
	t.closed = true
	close(t.ops)
	t.closeMu.Unlock()

	<-t.writerDone
	t.notifyMu.Lock()
	t.stopped = true
	close(t.stop)
	t.notifyMu.Unlock()
	t.bg.Wait()
	if err := t.db.Close(); err != nil {
		return fmt.Errorf("close local tracker database in %s: %w", t.dir, err)
	}
	t.log.Debug("local tracker closed", "dir", t.dir)
	return nil
}

// valueLogGC reclaims value-log space now and then. Only issues over 1 MiB
// live in the value log, so this rarely has work to do.
func (t *Tracker) valueLogGC() {
	defer t.bg.Done()
	tick := time.NewTicker(10 * time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			for t.db.RunValueLogGC(0.5) == nil {
				select {
				case <-t.stop:
					return
				default:
				}
			}
		}
	}
}

// view runs fn in a read-only transaction unless the tracker is closed.
func (t *Tracker) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.closeMu.RLock()
	defer t.closeMu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	return t.db.View(fn)
}

// getRecord reads issue num through txn; nil without error if there is none.
func (t *Tracker) getRecord(txn *badger.Txn, num uint64) (*record, error) {
	item, err := txn.Get(issueKey(num))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read issue %s: %w", formatKey(t.prefix, num), err)
	}
	var r *record
	err = item.Value(func(v []byte) error {
		r, err = decodeRecord(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stored issue %s is unreadable: %w", formatKey(t.prefix, num), err)
	}
	return r, nil
}

// twinOwner returns the number of the issue carrying twin, or 0.
func twinOwner(txn *badger.Txn, twin string) (uint64, error) {
	item, err := txn.Get(twinKey(twin))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read twin index for %q: %w", twin, err)
	}
	var num uint64
	err = item.Value(func(v []byte) error {
		num, err = readU64(v)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("twin index entry for %q is unreadable: %w", twin, err)
	}
	return num, nil
}

func (t *Tracker) notFound(num uint64) error {
	return fmt.Errorf("local tracker has no issue %s: %w", formatKey(t.prefix, num), adapters.ErrNotFound)
}

// Get returns the issue with that key, or an error wrapping
// adapters.ErrNotFound.
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	num, err := parseKey(t.prefix, key)
	if err != nil {
		return adapters.Issue{}, err
	}
	var out adapters.Issue
	err = t.view(ctx, func(txn *badger.Txn) error {
		r, err := t.getRecord(txn, num)
		if err != nil {
			return err
		}
		if r == nil {
			return t.notFound(num)
		}
		out = t.issueOf(txn, r)
		return nil
	})
	if err != nil {
		return adapters.Issue{}, err
	}
	return out, nil
}

// FindByTwin returns the issue carrying the twin marker, or an error wrapping
// adapters.ErrNotFound.
func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	if twin == "" || len(twin) > maxTwinLen {
		return adapters.Issue{}, fmt.Errorf("local tracker: no issue carries the twin marker %q: %w", twin, adapters.ErrNotFound)
	}
	var out adapters.Issue
	err := t.view(ctx, func(txn *badger.Txn) error {
		num, err := twinOwner(txn, twin)
		if err != nil {
			return err
		}
		var r *record
		if num != 0 {
			if r, err = t.getRecord(txn, num); err != nil {
				return err
			}
		}
		if r == nil {
			return fmt.Errorf("local tracker: no issue carries the twin marker %q: %w", twin, adapters.ErrNotFound)
		}
		out = t.issueOf(txn, r)
		return nil
	})
	if err != nil {
		return adapters.Issue{}, err
	}
	return out, nil
}

// List returns every issue, ordered by key number.
func (t *Tracker) List(ctx context.Context) ([]adapters.Issue, error) {
	var out []adapters.Issue
	err := t.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(issuePrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if len(out)%256 == 255 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			var r *record
			err := item.Value(func(v []byte) (err error) {
				r, err = decodeRecord(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("stored issue at %x is unreadable: %w", item.Key(), err)
			}
			out = append(out, t.issueOf(txn, r))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list local issues: %w", err)
	}
	return out, nil
}

// Changes returns up to limit issues (DefaultChangesLimit when limit <= 0)
// whose latest change is after since, oldest change first, each once in its
// current state, and the cursor to pass next time: the revision of the last
// issue returned, or since itself when there is nothing new.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	var from uint64
	if since != "" {
		var err error
		if from, err = strconv.ParseUint(string(since), 10, 64); err != nil {
			return nil, since, fmt.Errorf("local tracker: change cursor %q is not valid: want a revision number as returned by Changes, or empty to start from the beginning", since)
		}
	}
	if limit <= 0 {
		limit = DefaultChangesLimit
	}
	var out []adapters.Issue
	last := from
	err := t.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(revPrefix)
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(revKey(from + 1)); it.Valid() && len(out) < limit; it.Next() {
			if len(out)%256 == 255 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			rev, err := readU64(item.Key()[len(revPrefix):])
			if err != nil {
				return fmt.Errorf("change index key %x is unreadable: %w", item.Key(), err)
			}
			var num uint64
			if err := item.Value(func(v []byte) (err error) {
				num, err = readU64(v)
				return err
			}); err != nil {
				return fmt.Errorf("change index entry %d is unreadable: %w", rev, err)
			}
			r, err := t.getRecord(txn, num)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("change index entry %d names %s, which does not exist", rev, formatKey(t.prefix, num))
			}
			out = append(out, t.issueOf(txn, r))
			last = rev
		}
		return nil
	})
	if err != nil {
		return nil, since, fmt.Errorf("local tracker changes since %q: %w", since, err)
	}
	if len(out) == 0 {
		return nil, since, nil
	}
	return out, adapters.Cursor(strconv.FormatUint(last, 10)), nil
}

// notifier runs one OnChange callback on its own goroutine. kick holds at
// most one pending signal, so commits during a slow callback coalesce into a
// single further call and never stall the writer.
type notifier struct {
	fn   func()
	kick chan struct{}
}

// OnChange registers fn to be called after committed Creates and effective
// Updates. Calls are coalesced: one call may follow several commits, and fn
// is never called concurrently with itself. fn runs on its own goroutine,
// holding no lock of the tracker; it should return promptly, because Close
// waits for a running call. Callbacks registered after Close are ignored.
func (t *Tracker) OnChange(fn func()) {
	if fn == nil {
		return
	}
	t.notifyMu.Lock()
	defer t.notifyMu.Unlock()
	if t.stopped {
		return
	}
	n := &notifier{fn: fn, kick: make(chan struct{}, 1)}
	var list []*notifier
	if old := t.notifiers.Load(); old != nil {
		list = slices.Clone(*old)
	}
	list = append(list, n)
	t.notifiers.Store(&list)
	t.bg.Add(1)
	go func() {
		defer t.bg.Done()
		for {
			select {
			case <-t.stop:
				return
			case <-n.kick:
				fn()
			}
		}
	}()
}

// notify signals every callback without blocking.
func (t *Tracker) notify() {
	list := t.notifiers.Load()
	if list == nil {
		return
	}
	for _, n := range *list {
		select {
		case n.kick <- struct{}{}:
		default:
		}
	}
}

// ChangesAreFull reports that Changes returns whole issues, as Get does
// (adapters.FullFeed).
func (t *Tracker) ChangesAreFull() bool { return true }
