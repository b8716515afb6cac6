// Package store is a node's sync log on Badger: the outgoing events per
// destination peer, the incoming events waiting to be applied, the set of
// events already received (for deduplication), the twins with their links
// and last replicas, blocked twins, a bounded history per twin, the peer
// address book and the cursors of the change feeds.
//
// Every write goes through Update, which hands the function a Tx. Updates
// from many goroutines are group-committed: one writer goroutine runs the
// queued functions one after another against a single Badger transaction and
// commits them together, so that one fsync makes a whole batch durable. A
// function that returns an error leaves no trace: its writes are buffered in
// the Tx and only reach the Badger transaction when it succeeds. When Update
// returns nil, the write is durable (with Options.SyncWrites).
//
// Key layout (all keys are ASCII prefixes followed by the parts listed):
//
//	p/<peer>              Peer (address book, name, paused)
//	c/<name>              cursor string
//	t/<twin>              Twin (links, per-peer replica state)
//	k/<local key>         twin ID of the issue with that local key
//	rk/<peer>/<key>       twin ID of the issue with that key at the peer (check.go)
//	m/rk-indexed          rk/ holds the twins stored before it existed (rkindex.go)
//	o/<peer>/<seq>        outgoing event to peer (seq: 8 bytes big-endian)
//	os/<peer>             last outgoing seq for peer
//	i/<peer>/<seq>        received event waiting to be applied
//	r/<peer>/<seq>        received marker: empty while pending, then the Ack sent
//	b/<twin>/<dir>/<link> Blocked record of a twin on one link, one way (blocked.go)
//	h/<twin>/<n>          history record n of a twin (bounded, see HistoryKeep)
//	hn/<twin>             number of the twin's newest history record (histn.go)
//	rw/, rwt/             relations waiting for their other issue (relwait.go)
//	hc/<twin>/<field>     a conflict held for a person (held.go)
//
// # Bounded disk and memory
//
// Badger v4 maps its files (tables and value-log files) into memory and has
// no loading modes any more: a mapped page that was touched counts in the
// process's RSS until the kernel wants it back. RSS therefore follows the
// size of the files read and written, and bounding memory is bounding those
// files. The options in Open, and why:
//
//   - ValueThreshold 64 KiB (was 1 KiB). The value log is never compacted,
//     only garbage-collected file by file once half a file is garbage, and
//     never its newest file. With events (about 3 KiB with a 2 KB
//     description) and twin records (two replicas per link) in it, every
//     edit left about 10 KiB there: on 2026-12-03, 149,352 edits over 50
//     issues between two node processes grew the sync logs to 1,754 and
//     1,090 MB and RSS to 1.86 and 1.2 GB, and nothing was reclaimed
//     (issue 13). Below the threshold, values live in the LSM tree, whose
//     compactions drop deleted and overwritten versions as they run, so
//     the disk follows the live twins: `make soak` for 2.5 minutes ended at
//     25 to 30 MB per home, flat from the first sample, where a 4 KiB
//     threshold with GC every minute reached 235 MB and kept growing (GC
//     learns what is garbage only from compactions, which hardly run while
//     the tree holds pointers). Table in docs/engine.md ("A node that runs
//     for years"). Only unusual records (a twin with hundreds of comments)
//     reach the value log, and GC (life.go) reclaims it. Values under the
//     threshold count whole against the transaction limit below: batches
//     mark their independent items with Tx.Checkpoint so that an update
//     too big for one transaction is committed in parts.
//   - ValueLogFileSize 16 MiB (was 64 MiB, default 1 GiB): GC reclaims whole
//     files other than the newest, so small files bound what is left.
//   - MemTableSize 16 MiB with NumMemtables 2 (defaults 64 MiB and 5): each
//     memtable's arena and write-ahead file (mapped, twice its size) are
//     taken whole. One transaction may carry 15% of a memtable (2.4 MiB);
//     the writer splits batches that outgrow it.
//   - BlockCacheSize and IndexCacheSize 8 MiB each (defaults 256 MiB and
//     unlimited): with an index cache, table indexes are loaded on demand
//     rather than held for every table.
//   - NumCompactors 2 (default 4, the minimum that works): 2 cores.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/replica"
)

// ErrNotFound is returned (wrapped) when a twin, peer or entry is missing.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by Update once the sync log is closing.
var ErrClosed = errors.New("the sync log is closed")

// HistoryKeep is how many history records are kept per twin.
const HistoryKeep = 200

// maxBatch bounds how many queued updates share one Badger transaction.
const maxBatch = 512

// Options tunes the store.
type Options struct {
	// SyncWrites makes every commit durable (fsync). A node sets it; tests
	// that do not check durability may leave it off.
	SyncWrites bool
	Logger     *slog.Logger
	// Space, when set, is asked before every commit; its error refuses the
	// batch (a disk too full for Badger to write safely: diskspace).
	Space SpaceChecker

	// test replaces the value-log sizes (tests of its garbage collection).
	test *sizes
}

// SpaceChecker says whether a write may go ahead (nil) or why not.
type SpaceChecker interface{ Check() error }

// Store is the sync log. It is safe for concurrent use.
type Store struct {
	db    *badger.DB
	dir   string
	log   *slog.Logger
	space SpaceChecker
	reqs  chan *request
	done  chan struct{}

	// mu guards closed: Update sends on reqs under the read lock, Close
	// closes reqs under the write lock.
	mu     sync.RWMutex
	closed bool

	written writeStats // writestats.go

	// cnt is the counts of twins and queued events (counts.go).
	cnt *counter
}

type request struct {
	ctx context.Context
	fn  func(*Tx) error
	err chan error
}

// Open opens (or creates) the sync log in dir.
func Open(dir string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(o.SyncWrites).
		WithLogger(badgerLogger{log}).
		WithLoggingLevel(badger.WARNING).
		// An embedded log of small records: keep the memory footprint of an
		// idle node small (the defaults reserve hundreds of MB).
		WithMemTableSize(o.sizes().memTable).
		WithNumMemtables(2).
		WithValueLogFileSize(o.sizes().valueLogFile).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(8 << 20).
		WithNumCompactors(2).
		WithValueThreshold(o.sizes().valueThreshold).
		// Checksums where they matter: see verify.go.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true)
	if errs := verifyFiles(dir, bo.Compression); len(errs) > 0 {
		return nil, fmt.Errorf("open sync log in %s: %w", dir, errors.Join(errs...))
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open sync log in %s: %w", dir, err)
	}
	cnt, err := countAll(db) // counts.go
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sync log in %s: count its twins and queues: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, log: log, space: o.Space, reqs: make(chan *request, maxBatch), done: make(chan struct{}), cnt: cnt}
	go s.writer()
	if err := s.backfillRemoteKeys(context.Background()); err != nil { // rkindex.go
		// The index is a safety net, not needed to run: a home that cannot
		// take the write now (a full disk) opens, and the next open tries
		// again.
		log.Warn("the sync log's index of peer keys was not built; the next start tries again", "err", err)
	}
	return s, nil
}

// Close waits for queued updates, then closes Badger.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sync log: %w", err)
	}
	return nil
}

// Update runs fn in a write transaction and returns once its writes are
// committed (durably, with SyncWrites). fn may be batched with other
// updates; it must not block and must not keep the Tx.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	r := &request{ctx: ctx, fn: fn, err: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the write may be committed: wait for the outcome so the
	// caller never acts on a write it believes failed.
	return <-r.err
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(btx *badger.Txn) error { return fn(&Tx{btx: btx, cnt: s.cnt}) })
}

func (s *Store) writer() {
	defer close(s.done)
	for first := range s.reqs {
		batch := []*request{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch of updates in as few Badger transactions as fit and
// answers every caller after the commit that holds its writes. An update
// that does not fit beside the others is run again in a fresh transaction
// after the others are committed, so update functions may run more than
// once and must not have effects outside the Tx.
func (s *Store) commit(batch []*request) {
	type done struct {
		r  *request
		tx *Tx
	}
	if s.space != nil {
		if err := s.space.Check(); err != nil {
			for _, r := range batch {
				r.err <- fmt.Errorf("write to sync log: %w", err)
			}
			return
		}
	}
	btx := s.db.NewTransaction(true)
	defer func() { btx.Discard() }()
	var waiting []done
	answer := func(err error) {
		for _, w := range waiting {
			if err != nil {
				w.r.err <- fmt.Errorf("commit to sync log: %w", err)
			} else {
				s.cnt.add(w.tx.delta)
				w.r.err <- nil
			}
		}
		waiting = waiting[:0]
	}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err <- err
			continue
		}
		tx := &Tx{btx: btx, write: true}
		if err := r.fn(tx); err != nil {
			r.err <- err
			continue
		}
		err := tx.apply(btx)
		if errors.Is(err, badger.ErrTxnTooBig) && len(waiting) > 0 {
			// Commit the updates that fit, without the partial writes of
			// this one, then run it alone.
			btx.Discard()
			btx = s.db.NewTransaction(true)
			for _, w := range waiting {
				if err := w.tx.apply(btx); err != nil {
					s.log.Error("sync log batch could not be re-applied", "err", err)
				}
			}
			answer(btx.Commit())
			btx = s.db.NewTransaction(true)
			tx = &Tx{btx: btx, write: true}
			if err = r.fn(tx); err == nil {
				err = tx.apply(btx)
			}
		}
		if errors.Is(err, badger.ErrTxnTooBig) && len(waiting) == 0 && len(tx.marks) > 0 {
			// Alone and still too big: commit it in its parts (life.go).
			btx.Discard()
			err = s.commitParts(tx)
			btx = s.db.NewTransaction(true)
			if err == nil {
				r.err <- nil
				continue
			}
		}
		if err != nil {
			// Partial writes of this update may be in btx: drop the
			// transaction and rebuild it from the updates that succeeded.
			r.err <- fmt.Errorf("write to sync log: %w", err)
			btx.Discard()
			btx = s.db.NewTransaction(true)
			for _, w := range waiting {
				if aerr := w.tx.apply(btx); aerr != nil {
					s.log.Error("sync log batch could not be re-applied", "err", aerr)
				}
			}
			continue
		}
		waiting = append(waiting, done{r, tx})
	}
	if len(waiting) > 0 {
		s.written.count(waiting[0].tx, len(waiting))
		for _, w := range waiting[1:] {
			s.written.count(w.tx, 0)
		}
		answer(btx.Commit())
	}
}

// Tx is one update or view. Writes are buffered until the update function
// returns nil; reads see the Tx's own writes first.
type Tx struct {
	btx   *badger.Txn
	write bool
	sets  map[string][]byte
	dels  map[string]bool
	order []string
	marks []int // Checkpoint positions in order (life.go)
	// cnt answers a read-only Tx's counts; delta is what an update's
	// writes, as last applied, change in them (counts.go).
	cnt   *counter
	delta *countDelta
}

func (t *Tx) get(key string) ([]byte, error) {
	if t.dels[key] {
		return nil, ErrNotFound
	}
	if v, ok := t.sets[key]; ok {
		return v, nil
	}
	item, err := t.btx.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// view calls fn with the value of key, which fn must not keep: a value
// read from Badger is not copied first.
func (t *Tx) view(key string, fn func([]byte) error) error {
	if t.dels[key] {
		return ErrNotFound
	}
	if v, ok := t.sets[key]; ok {
		return fn(v)
	}
	item, err := t.btx.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(fn)
}

func (t *Tx) set(key string, val []byte) {
	if !t.write {
		panic("store: write in a read-only transaction")
	}
	if t.sets == nil {
		t.sets = make(map[string][]byte)
	}
	if _, seen := t.sets[key]; !seen && !t.dels[key] {
		t.order = append(t.order, key)
	}
	delete(t.dels, key)
	t.sets[key] = val
}

// setIndex sets an index entry (a key naming a twin) unless it holds that
// already: a twin is stored on every change and ack, its index entries
// rarely change, and a write costs the log more than a read.
func (t *Tx) setIndex(key, id string) {
	if v, err := t.get(key); err == nil && string(v) == id {
		return
	}
	t.set(key, []byte(id))
}

// delIfPresent deletes key if it is there: a delete of a missing key still
// writes a tombstone.
func (t *Tx) delIfPresent(key string) {
	if _, err := t.get(key); err == nil {
		t.del(key)
	}
}

func (t *Tx) del(key string) {
	if !t.write {
		panic("store: write in a read-only transaction")
	}
	if t.dels == nil {
		t.dels = make(map[string]bool)
	}
	if _, seen := t.sets[key]; !seen && !t.dels[key] {
		t.order = append(t.order, key)
	}
	delete(t.sets, key)
	t.dels[key] = true
}

func (t *Tx) apply(btx *badger.Txn) error {
	t.delta = &countDelta{}
	for _, k := range t.order {
		if err := countWrite(btx, t.delta, k, t.dels[k]); err != nil {
			return err
		}
		var err error
		if t.dels[k] {
			err = btx.Delete([]byte(k))
		} else {
			err = btx.Set([]byte(k), t.sets[k])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) getMsg(key string, v any) error {
	b, err := t.get(key)
	if err != nil {
		return err
	}
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func (t *Tx) setMsg(key string, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	t.set(key, b)
	return nil
}

// scan calls fn for each key with the prefix, in key order, until fn returns
// false. It reads committed data only (not this Tx's buffered writes).
func (t *Tx) scan(prefix string, keysOnly bool, fn func(key string, val []byte) (bool, error)) error {
	o := badger.DefaultIteratorOptions
	o.Prefix = []byte(prefix)
	o.PrefetchValues = !keysOnly
	it := t.btx.NewIterator(o)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var val []byte
		if !keysOnly {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			val = v
		}
		more, err := fn(string(item.Key()), val)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func seqKey(prefix, peer string, seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return prefix + peer + "/" + string(b[:])
}

func seqOf(key string) uint64 {
	return binary.BigEndian.Uint64([]byte(key[len(key)-8:]))
}

// ---- peers ----

// Peer is an allowlisted peer: the address book entry and its connection
// state.
type Peer struct {
	ID     string    `msgpack:"id" json:"id"`
	Name   string    `msgpack:"name" json:"name,omitempty"`
	Addrs  []string  `msgpack:"addrs" json:"addrs,omitempty"`
	Paused bool      `msgpack:"paused" json:"paused"`
	Added  time.Time `msgpack:"added" json:"added"`
}

// PutPeer adds or replaces a peer.
func (t *Tx) PutPeer(p Peer) error { return t.setMsg("p/"+p.ID, &p) }

// GetPeer returns the peer, or ErrNotFound.
func (t *Tx) GetPeer(id string) (Peer, error) {
	var p Peer
	if err := t.getMsg("p/"+id, &p); err != nil {
		return Peer{}, fmt.Errorf("peer %s: %w", id, err)
	}
	return p, nil
}

// DeletePeer forgets a peer.
func (t *Tx) DeletePeer(id string) { t.del("p/" + id) }

// Peers lists every peer.
func (t *Tx) Peers() ([]Peer, error) {
	var out []Peer
	err := t.scan("p/", false, func(key string, val []byte) (bool, error) {
		var p Peer
		if err := msgpack.Unmarshal(val, &p); err != nil {
			return false, fmt.Errorf("decode %s: %w", key, err)
		}
		out = append(out, p)
		return true, nil
	})
	return out, err
}

// ---- cursors ----

// Cursor returns a stored cursor, "" if none.
func (t *Tx) Cursor(name string) (string, error) {
	b, err := t.get("c/" + name)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// SetCursor stores a cursor.
func (t *Tx) SetCursor(name, val string) { t.set("c/"+name, []byte(val)) }

// ---- twins ----

// Link is a twin's state with one peer.
type Link struct {
	// RemoteKey is the twin's key in the peer's tracker, once acknowledged.
	RemoteKey string `msgpack:"rk,omitempty"`
	// Agreed is the merged replica: every field and comment with the clock
	// of the edit that set it. Both sides of the link converge on it.
	Agreed replica.Replica `msgpack:"ag"`
	// Baseline is what the outgoing rules made of the local issue the last
	// time it was looked at (after a local change was sent, or after an
	// incoming change was applied). A local change is sent only where the
	// outgoing replica differs from it, so a change applied by sync is not
	// sent back.
	Baseline replica.Replica `msgpack:"bl"`
	// Unsynced is set once the link was unsynced: nothing flows any more.
	Unsynced bool `msgpack:"un,omitempty"`
	// Manual is set when the issue was shared by hand (sync, link): it
	// keeps flowing whether or not it matches the connection's trigger.
	Manual bool `msgpack:"man,omitempty"`
	// Keys holds, on a network's link, the twin's key in each member's
	// tracker by member peer ID (this node's own once it told the network),
	// as the members' events said.
	Keys map[string]string `msgpack:"keys,omitempty"`
}

// SetKey records member's key of the twin (on a network's link). An empty
// key is ignored.
func (l *Link) SetKey(member, key string) {
	if key == "" {
		return
	}
	if l.Keys == nil {
		l.Keys = make(map[string]string)
	}
	l.Keys[member] = key
}

// Twin is the set of issues kept in sync, seen from this node.
type Twin struct {
	ID       string           `msgpack:"id"`
	LocalKey string           `msgpack:"key"`
	Links    map[string]*Link `msgpack:"links"`
	Created  time.Time        `msgpack:"created"`
	HistN    uint64           `msgpack:"hn"`
}

// Link returns the twin's link with a peer, creating it if needed.
func (tw *Twin) Link(peer string) *Link {
	if tw.Links == nil {
		tw.Links = make(map[string]*Link)
	}
	l := tw.Links[peer]
	if l == nil {
		l = &Link{}
		tw.Links[peer] = l
	}
	return l
}

// GetTwin returns the twin, or an error wrapping ErrNotFound. Twins are
// read and written with the hand-written codec of twincodec.go, which keeps
// the layout msgpack's reflection gives the struct but costs far less CPU.
func (t *Tx) GetTwin(id string) (*Twin, error) {
	key := "t/" + id
	tw := &Twin{}
	var derr error
	err := t.view(key, func(b []byte) error {
		derr = unpackTwin(b, tw) // keeps nothing of b
		return derr
	})
	switch {
	case derr != nil:
		return nil, fmt.Errorf("twin %s: decode %s: %w", id, key, derr)
	case err != nil:
		return nil, fmt.Errorf("twin %s: %w", id, err)
	}
	return tw, nil
}

// TwinByKey returns the twin of the issue with that local key, or an error
// wrapping ErrNotFound.
func (t *Tx) TwinByKey(key string) (*Twin, error) {
	id, err := t.get("k/" + key)
	if err != nil {
		return nil, fmt.Errorf("issue %s is not synced: %w", key, err)
	}
	return t.GetTwin(string(id))
}

// PutTwin stores the twin and its local key index.
func (t *Tx) PutTwin(tw *Twin) error {
	if tw.LocalKey != "" {
		t.setIndex("k/"+tw.LocalKey, tw.ID)
	}
	t.indexRemoteKeys(tw) // check.go
	t.set("t/"+tw.ID, packTwin(tw))
	return nil
}

// Twins calls fn for every twin.
func (t *Tx) Twins(fn func(*Twin) error) error {
	return t.scan("t/", false, func(key string, val []byte) (bool, error) {
		tw := &Twin{}
		if err := unpackTwin(val, tw); err != nil {
			return false, fmt.Errorf("decode %s: %w", key, err)
		}
		return true, fn(tw)
	})
}

// ---- outgoing log ----

// Append assigns ev the next sequence number for peer, stores it and
// returns the sequence.
func (t *Tx) Append(peer string, ev *replica.Event) (uint64, error) {
	var last uint64
	if b, err := t.get("os/" + peer); err == nil && len(b) == 8 {
		last = binary.BigEndian.Uint64(b)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	ev.Seq = last + 1
	b, err := replica.MarshalEvent(ev)
	if err != nil {
		return 0, fmt.Errorf("encode event for %s: %w", peer, err)
	}
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], ev.Seq)
	t.set("os/"+peer, sb[:])
	t.set(seqKey("o/", peer, ev.Seq), pack(b)) // twinpack.go
	return ev.Seq, nil
}

// OutEntry is a pending outgoing event in its wire encoding.
type OutEntry struct {
	Seq   uint64
	Frame []byte
}

// PendingOut returns up to limit pending events for peer with seq > after,
// in order.
func (t *Tx) PendingOut(peer string, after uint64, limit int) ([]OutEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []OutEntry
	o := badger.DefaultIteratorOptions
	prefix := []byte("o/" + peer + "/")
	o.Prefix = prefix
	// Prefetch no more values than are returned: the sender probes for the
	// oldest pending event with a limit of 1, and the default prefetch of
	// 100 values cost it more than the rest of the probe.
	o.PrefetchSize = min(limit, o.PrefetchSize)
	it := t.btx.NewIterator(o)
	defer it.Close()
	start := []byte(seqKey("o/", peer, after+1))
	for it.Seek(start); it.Valid() && len(out) < limit; it.Next() {
		item := it.Item()
		var v []byte
		err := item.Value(func(b []byte) (err error) {
			if v, err = unpackFrame(b); err == nil && len(b) > 0 && b[0] != packedMark {
				v = slices.Clone(b) // plain: b is Badger's, valid only here
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("outgoing event %s: %w", item.Key(), err)
		}
		out = append(out, OutEntry{Seq: seqOf(string(item.Key())), Frame: v})
	}
	return out, nil
}

// OutEvent returns one pending outgoing event.
func (t *Tx) OutEvent(peer string, seq uint64) (replica.Event, error) {
	b, err := t.get(seqKey("o/", peer, seq))
	if err == nil {
		b, err = unpackFrame(b)
	}
	if err != nil {
		return replica.Event{}, fmt.Errorf("outgoing event %d to %s: %w", seq, peer, err)
	}
	return replica.UnmarshalEvent(b)
}

// DeleteOut removes an acknowledged event.
func (t *Tx) DeleteOut(peer string, seq uint64) { t.del(seqKey("o/", peer, seq)) }

// QueueStat describes the pending outgoing events for one peer.
type QueueStat struct {
	Peer    string    `json:"peer"`
	Pending int       `json:"pending"`
	Oldest  time.Time `json:"oldest,omitzero"`
}

// QueueStats counts the pending outgoing events per peer, with the append
// time of the oldest.
func (t *Tx) QueueStats() (map[string]*QueueStat, error) {
	if !t.write && t.cnt != nil {
		return t.queueStats(), nil // counts.go
	}
	stats := map[string]*QueueStat{}
	err := t.scan("o/", true, func(key string, _ []byte) (bool, error) {
		peer := key[2 : len(key)-9]
		st := stats[peer]
		if st == nil {
			st = &QueueStat{Peer: peer}
			stats[peer] = st
			if ev, err := t.OutEvent(peer, seqOf(key)); err == nil && ev.Sent > 0 {
				st.Oldest = time.Unix(0, ev.Sent)
			}
		}
		st.Pending++
		return true, nil
	})
	return stats, err
}

// ---- incoming log ----

// Receive records an event received from peer. It returns dup=true if that
// peer's event with this seq was received before; then ack is the answer
// already sent for it (nil while it is still waiting to be applied).
func (t *Tx) Receive(peer string, seq uint64, frame []byte) (dup bool, ack *replica.Ack, err error) {
	rk := seqKey("r/", peer, seq)
	b, err := t.get(rk)
	switch {
	case err == nil:
		if len(b) == 0 {
			return true, nil, nil
		}
		var a replica.Ack
		if err := msgpack.Unmarshal(b, &a); err != nil {
			return true, nil, fmt.Errorf("decode %s: %w", rk, err)
		}
		return true, &a, nil
	case !errors.Is(err, ErrNotFound):
		return false, nil, err
	}
	t.set(rk, []byte{})
	t.set(seqKey("i/", peer, seq), pack(frame)) // twinpack.go
	return false, nil, nil
}

// InEntry is a received event waiting to be applied.
type InEntry struct {
	Seq   uint64
	Event replica.Event
}

// PendingIn returns up to limit received events from peer with seq > after,
// in order.
func (t *Tx) PendingIn(peer string, after uint64, limit int) ([]InEntry, error) {
	var out []InEntry
	o := badger.DefaultIteratorOptions
	o.Prefix = []byte("i/" + peer + "/")
	it := t.btx.NewIterator(o)
	defer it.Close()
	for it.Seek([]byte(seqKey("i/", peer, after+1))); it.Valid() && len(out) < limit; it.Next() {
		item := it.Item()
		var ev replica.Event
		err := item.Value(func(b []byte) error {
			v, err := unpackFrame(b)
			if err == nil {
				ev, err = replica.UnmarshalEvent(v)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("stored event %s: %w", item.Key(), err)
		}
		out = append(out, InEntry{Seq: seqOf(string(item.Key())), Event: ev})
	}
	return out, nil
}

// InPeers lists the peers that have received events waiting.
func (t *Tx) InPeers() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := t.scan("i/", true, func(key string, _ []byte) (bool, error) {
		p := key[2 : len(key)-9]
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
		return true, nil
	})
	return out, err
}

// FinishIn removes an applied (or skipped, or failed) event from the
// incoming log and remembers the ack sent for it, so that a retransmission
// is answered with the same ack.
func (t *Tx) FinishIn(peer string, seq uint64, ack replica.Ack) error {
	t.del(seqKey("i/", peer, seq))
	return t.setMsg(seqKey("r/", peer, seq), &ack)
}

// ---- history ----

// Record is one line of a twin's history.
type Record struct {
	Time     time.Time `msgpack:"t" json:"time"`
	Dir      string    `msgpack:"d" json:"dir"` // "out" or "in"
	Peer     string    `msgpack:"p" json:"peer"`
	Seq      uint64    `msgpack:"s" json:"seq"`
	EventID  string    `msgpack:"e" json:"event_id"`
	What     string    `msgpack:"w" json:"what"` // queued, sent, applied, skipped, failed, acked
	Fields   []string  `msgpack:"f" json:"fields,omitempty"`
	LocalKey string    `msgpack:"k" json:"key,omitempty"`
	Error    string    `msgpack:"x" json:"error,omitempty"`
	// Conflict is the conflict a merge of this event found (What
	// "conflict"): both values, their clocks and the winner.
	Conflict *replica.Conflict `msgpack:"c,omitempty" json:"conflict,omitempty"`
	// Settled is the value that settled Conflict (What "settled"), with
	// the clock (who, when) of the edit that set it, and How it was
	// settled: "resolve" (issuemesh resolve), "ours" or "theirs" (the
	// connection's conflict policy), "edit" (a later edit of the field).
	Settled *replica.Side `msgpack:"sv,omitempty" json:"settled,omitempty"`
	How     string        `msgpack:"sh,omitempty" json:"how,omitempty"`
	// Changes holds the old and new values of the fields in Fields
	// (changes.go), on queued and applied records.
	Changes []Change `msgpack:"vc,omitempty" json:"changes,omitempty"`
	// Changed is the tracker's change time (the updated time the
	// trigger saw), on records of events queued by the trigger.
	Changed time.Time `msgpack:"u,omitempty" json:"changed,omitzero"`
	// PeerName is the name of Peer in the peer list, filled in by the
	// admin API; never stored.
	PeerName string `msgpack:"-" json:"peer_name,omitempty"`
}

// AddHistory appends a record to the twin's history and drops the oldest
// beyond HistoryKeep. The record's number is kept under its own key
// (histn.go), so the twin need not be stored for its history alone.
func (t *Tx) AddHistory(tw *Twin, r Record) error {
	n, err := t.historyCount(tw)
	if err != nil {
		return err
	}
	n++
	t.setHistoryCount(tw, n)
	if n > HistoryKeep {
		t.del(histKey(tw.ID, n-HistoryKeep))
	}
	return t.setMsg(histKey(tw.ID, n), &r)
}

func histKey(twin string, n uint64) string { return seqKey("h/", twin, n) }

// History returns a twin's history, oldest first.
func (t *Tx) History(twin string) ([]Record, error) {
	var out []Record
	err := t.scan("h/"+twin+"/", false, func(key string, val []byte) (bool, error) {
		var r Record
		if err := msgpack.Unmarshal(val, &r); err != nil {
			return false, fmt.Errorf("decode %s: %w", key, err)
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}

// ---- counts ----

// Count returns the number of keys under a prefix ("o/", "i/", "t/", ...).
func (t *Tx) Count(prefix string) (int, error) {
	if !t.write {
		if n, ok := t.cnt.count(prefix); ok {
			return n, nil
		}
	}
	n := 0
	err := t.scan(prefix, true, func(string, []byte) (bool, error) { n++; return true, nil })
	return n, err
}

type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Infof(f string, a ...any) {
	l.log.Debug("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Debugf(f string, a ...any) {}

// PruneReceived drops the oldest finished received markers of a peer beyond
// the newest keep, at most limit per call, and returns how many it dropped.
// Markers of events still waiting to be applied are kept. A retransmission
// of a pruned event is applied again, which changes nothing: merging the
// same clocks is idempotent and the twin is found by its link.
func (t *Tx) PruneReceived(peer string, keep, limit int) (int, error) {
	prefix := "r/" + peer + "/"
	total, err := t.Count(prefix)
	if err != nil || total <= keep {
		return 0, err
	}
	drop := min(total-keep, limit)
	n := 0
	err = t.scan(prefix, false, func(key string, val []byte) (bool, error) {
		if n >= drop {
			return false, nil
		}
		if len(val) > 0 { // finished: the ack is recorded
			t.del(key)
			n++
		}
		return true, nil
	})
	return n, err
}
