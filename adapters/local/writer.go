package local

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/issuemesh/issuemesh/adapters"
)

// maxBatch is the most operations the writer commits in one go.
const maxBatch = 256

// Life of an op: queued by its caller, then either taken by the writer or
// abandoned by its caller (context ended), whichever comes first.
const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// op is one Create, Update or attach waiting for the writer.
type op struct {
	create bool
	in     adapters.Issue // create
	key    string         // update, attach
	patch  adapters.Patch // update
	attach *attachment    // attach: the file's metadata, its bytes already stored

	state atomic.Int32
	done  chan result // buffered: the writer never blocks on it
}

type result struct {
	issue adapters.Issue
	att   adapters.Attachment // attach: the attachment as kept
	err   error
}

func (o *op) what() string {
	switch {
	case o.create:
		return "create"
	case o.attach != nil:
		return "attach " + o.attach.Filename + " to " + o.key
	}
	return "update " + o.key
}

// Create creates an issue with its comments and returns it with its new key.
// in.Key is ignored; in.TwinID is stored as the twin marker and must not mark
// another issue.
func (t *Tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	return t.submit(ctx, &op{create: true, in: in})
}

// Update applies p to the issue and returns the issue after the change. A
// patch that changes nothing in effect writes nothing.
func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	return t.submit(ctx, &op{key: key, patch: p})
}

// submit queues o for the writer and waits for its outcome.
func (t *Tracker) submit(ctx context.Context, o *op) (adapters.Issue, error) {
	r := t.submitOp(ctx, o)
	return r.issue, r.err
}

// submitOp queues o for the writer and waits for its whole result.
func (t *Tracker) submitOp(ctx context.Context, o *op) result {
	if err := ctx.Err(); err != nil {
		return result{err: fmt.Errorf("local tracker: %s not attempted: %w", o.what(), err)}
	}
	o.done = make(chan result, 1)
	t.closeMu.RLock()
	if t.closed {
		t.closeMu.RUnlock()
		return result{err: fmt.Errorf("%s: %w", o.what(), ErrClosed)}
	}
	select {
	case t.ops <- o:
		t.closeMu.RUnlock()
	case <-ctx.Done():
		t.closeMu.RUnlock()
		return result{err: fmt.Errorf("local tracker: %s abandoned before it was written: %w", o.what(), ctx.Err())}
	}
	select {
	case r := <-o.done:
		return r
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opAbandoned) {
			return result{err: fmt.Errorf("local tracker: %s abandoned before it was written: %w", o.what(), ctx.Err())}
		}
		// The writer has it: its outcome is moments away and must be
		// reported truthfully (it may be committed).
		return <-o.done
	}
}

// run is the writer goroutine. It ends when Close has closed ops and every
// queued op has been answered.
func (t *Tracker) run() {
	defer close(t.writerDone)
	batch := make([]*op, 0, maxBatch)
	for o := range t.ops {
		batch = append(batch[:0], o)
		if t.beforeBatch != nil {
			t.beforeBatch()
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-t.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		t.writeBatch(batch)
		clear(batch)
	}
}

// mutation is one key written or deleted by an op.
type mutation struct {
	key, val []byte
	del      bool
}

// group is the transaction being filled by the writer, with the ops whose
// mutations it holds and whose callers wait for its commit.
type group struct {
	t       *Tracker
	txn     *badger.Txn
	muts    []mutation // everything in txn, in order
	waiting []result   // outcomes to deliver after the commit, parallel to ops
	ops     []*op
	base    counters // the counters as committed
	wrote   bool     // a commit with mutations succeeded
}

// writeBatch applies the ops in order, committing once (or more often if
// the batch outgrows a transaction), then answers the callers and signals
// the OnChange callbacks.
func (t *Tracker) writeBatch(batch []*op) {
	if t.space != nil {
		if err := t.space.Check(); err != nil {
			for _, o := range batch {
				if o.state.CompareAndSwap(opQueued, opTaken) {
					o.done <- result{err: fmt.Errorf("local tracker: %w: %w", adapters.ErrUnavailable, err)}
				}
			}
			return
		}
	}
	g := &group{t: t, txn: t.db.NewTransaction(true), base: t.ctr}
	defer func() { g.txn.Discard() }()
	for _, o := range batch {
		if !o.state.CompareAndSwap(opQueued, opTaken) {
			continue // abandoned by its caller
		}
		pre := t.ctr
		var (
			res  adapters.Issue
			att  adapters.Attachment
			muts []mutation
			err  error
		)
		switch {
		case o.create:
			res, muts, err = t.computeCreate(g.txn, o.in)
		case o.attach != nil:
			res, att, muts, err = t.computeAttach(g.txn, o.key, *o.attach)
		default:
			res, muts, err = t.computeUpdate(g.txn, o.key, o.patch)
		}
		if err == nil && len(muts) > 0 {
			err = g.add(muts, pre, o.what())
		}
		if err != nil {
			o.done <- result{err: err}
			continue
		}
		g.ops = append(g.ops, o)
		g.waiting = append(g.waiting, result{issue: res, att: att})
	}
	_ = g.commit() // the callers have the error; commit logged it
	if g.wrote {
		t.notify()
	}
}

// apply puts muts into the transaction.
func (g *group) apply(muts []mutation) error {
	for _, m := range muts {
		var err error
		if m.del {
			err = g.txn.Delete(m.key)
		} else {
			err = g.txn.Set(m.key, m.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// add puts one op's mutations into the transaction. pre are the counters
// before the op was computed. If the transaction is full, the ops before
// this one are committed and it is retried alone in a new transaction. On
// failure the transaction holds exactly the earlier ops again and the
// counters are back to pre (or to the committed values after a failed
// commit).
func (g *group) add(muts []mutation, pre counters, what string) error {
	post := g.t.ctr
	err := g.apply(muts)
	if errors.Is(err, badger.ErrTxnTooBig) && len(g.muts) > 0 {
		g.t.log.Debug("write batch outgrew one transaction; committing it in parts", "ops", len(g.ops))
		g.t.ctr = pre
		if err := g.rebuild(); err != nil {
			return err
		}
		if err := g.commit(); err != nil {
			return err
		}
		g.t.ctr = post
		err = g.apply(muts)
	}
	if err != nil {
		g.t.ctr = pre
		if rerr := g.rebuild(); rerr != nil {
			return rerr
		}
		return fmt.Errorf("local tracker cannot store %s: %w: %w", what, err, adapters.ErrRejected)
	}
	g.muts = append(g.muts, muts...)
	return nil
}

// rebuild replaces the transaction with one holding exactly g.muts, after a
// partial op. Those mutations fitted before, so they fit again.
func (g *group) rebuild() error {
	g.txn.Discard()
	g.txn = g.t.db.NewTransaction(true)
	if err := g.apply(g.muts); err != nil {
		err = fmt.Errorf("local tracker: rebuilding a write batch failed: %w: %w", err, adapters.ErrUnavailable)
		g.fail(err)
		return err
	}
	return nil
}

// commit commits the transaction, answers the waiting callers and starts a
// new transaction.
func (g *group) commit() error {
	var err error
	if len(g.muts) > 0 {
		if err = g.txn.Commit(); err != nil {
			err = fmt.Errorf("local tracker: writing to the database failed: %w: %w", err, adapters.ErrUnavailable)
		}
	}
	if err != nil {
		g.fail(err)
		return err
	}
	g.txn.Discard()
	g.txn = g.t.db.NewTransaction(true)
	if len(g.muts) > 0 {
		g.wrote = true
	}
	g.base = g.t.ctr
	for i, o := range g.ops {
		o.done <- g.waiting[i]
	}
	g.reset()
	return nil
}

// fail answers every waiting caller with err, drops the transaction and
// puts the counters back to their committed values.
func (g *group) fail(err error) {
	g.t.log.Error("local tracker write failed", "ops", len(g.ops), "err", err)
	g.txn.Discard()
	g.txn = g.t.db.NewTransaction(true)
	g.t.ctr = g.base
	for _, o := range g.ops {
		o.done <- result{err: err}
	}
	g.reset()
}

func (g *group) reset() {
	clear(g.ops)
	clear(g.waiting)
	g.ops, g.waiting, g.muts = g.ops[:0], g.waiting[:0], nil
}

// computeCreate validates a Create against the state seen through txn and
// returns the new issue and its mutations, advancing the counters.
func (t *Tracker) computeCreate(txn *badger.Txn, in adapters.Issue) (adapters.Issue, []mutation, error) {
	r, err := newRecord(in, now())
	if err != nil {
		return adapters.Issue{}, nil, err
	}
	for i, x := range in.Relations {
		n, err := parseKey(t.prefix, x.Key)
		if err == nil {
			var o *record
			if o, err = t.getRecord(txn, n); err == nil && o == nil {
				err = adapters.ErrNotFound
			}
		}
		if err != nil || !slices.Contains(relationKinds, x.Kind) {
			return adapters.Issue{}, nil, rejectf("create: relation %d (%s %s): the kind must be one of %v and the issue a local one that exists", i+1, x.Kind, x.Key, relationKinds)
		}
		if rel := (relation{Kind: x.Kind, Num: n}); !slices.Contains(r.Relations, rel) {
			r.Relations = append(r.Relations, rel)
		}
	}
	if r.TwinID != "" {
		owner, err := twinOwner(txn, r.TwinID)
		if err != nil {
			return adapters.Issue{}, nil, fmt.Errorf("local tracker: create: %w: %w", err, adapters.ErrUnavailable)
		}
		if owner != 0 {
			return adapters.Issue{}, nil, rejectf("create: twin marker %q already marks %s", r.TwinID, formatKey(t.prefix, owner))
		}
	}
	r.Num, r.Rev = t.ctr.nextNum, t.ctr.nextRev
	val, err := encodeRecord(r)
	if err != nil {
		return adapters.Issue{}, nil, fmt.Errorf("local tracker: create: encode the issue: %w", err)
	}
	if len(val) > maxRecordSize {
		return adapters.Issue{}, nil, rejectf("create: the issue takes %d bytes stored, over the limit of %d", len(val), maxRecordSize)
	}
	muts := []mutation{
		{key: issueKey(r.Num), val: val},
		{key: revKey(r.Rev), val: u64(r.Num)},
		{key: []byte(metaNextNum), val: u64(r.Num + 1)},
		{key: []byte(metaNextRev), val: u64(r.Rev + 1)},
	}
	if r.TwinID != "" {
		muts = append(muts, mutation{key: twinKey(r.TwinID), val: u64(r.Num)})
	}
	t.ctr.nextNum++
	t.ctr.nextRev++
	return t.issueOf(txn, r), muts, nil
}

// computeUpdate applies p to the issue as seen through txn and returns the
// issue after it and the mutations (none if nothing changes in effect),
// advancing the revision counter if something changes.
func (t *Tracker) computeUpdate(txn *badger.Txn, key string, p adapters.Patch) (adapters.Issue, []mutation, error) {
	num, err := parseKey(t.prefix, key)
	if err != nil {
		return adapters.Issue{}, nil, err
	}
	key = formatKey(t.prefix, num)
	r, err := t.getRecord(txn, num)
	if err != nil {
		return adapters.Issue{}, nil, fmt.Errorf("local tracker: update %s: %w: %w", key, err, adapters.ErrUnavailable)
	}
	if r == nil {
		return adapters.Issue{}, nil, t.notFound(num)
	}
	if p.IfRev != "" && p.IfRev != strconv.FormatUint(r.Rev, 10) {
		return adapters.Issue{}, nil, fmt.Errorf("local tracker: update %s: computed from revision %s, now %d: %w", key, p.IfRev, r.Rev, adapters.ErrChanged)
	}
	if p.Empty() {
		return t.issueOf(txn, r), nil, nil
	}
	at := now()
	files := slices.Clone(r.Attachments)
	changed, err := r.applyPatch(key, p, at, func(other string) (uint64, error) {
		n, err := parseKey(t.prefix, other)
		if err != nil {
			return 0, rejectf("update %s: related issue %q is not a key of this tracker (%s-<number>)", key, other, t.prefix)
		}
		o, err := t.getRecord(txn, n)
		if err != nil {
			return 0, fmt.Errorf("local tracker: update %s: %w: %w", key, err, adapters.ErrUnavailable)
		}
		if o == nil {
			return 0, rejectf("update %s: related issue %s does not exist", key, formatKey(t.prefix, n))
		}
		return n, nil
	})
	if err != nil {
		return adapters.Issue{}, nil, err
	}
	var muts []mutation
	for _, f := range files {
		if !slices.ContainsFunc(r.Attachments, func(a attachment) bool { return a.ID == f.ID }) {
			muts = append(muts, blobDeletes(f.Blob, f.Size)...) // deleted: its bytes go too
		}
	}
	if p.TwinID != nil && *p.TwinID != r.TwinID {
		if twin := *p.TwinID; twin != "" {
			owner, err := twinOwner(txn, twin)
			if err != nil {
				return adapters.Issue{}, nil, fmt.Errorf("local tracker: update %s: %w: %w", key, err, adapters.ErrUnavailable)
			}
			if owner != 0 && owner != num {
				return adapters.Issue{}, nil, rejectf("update %s: twin marker %q already marks %s", key, twin, formatKey(t.prefix, owner))
			}
			muts = append(muts, mutation{key: twinKey(twin), val: u64(num)})
		}
		if r.TwinID != "" {
			muts = append(muts, mutation{key: twinKey(r.TwinID), del: true})
		}
		r.TwinID = *p.TwinID
		changed = true
	}
	if !changed {
		return t.issueOf(txn, r), nil, nil
	}
	oldRev := r.Rev
	r.Rev, r.Updated = t.ctr.nextRev, at
	val, err := encodeRecord(r)
	if err != nil {
		return adapters.Issue{}, nil, fmt.Errorf("local tracker: update %s: encode the issue: %w", key, err)
	}
	if len(val) > maxRecordSize {
		return adapters.Issue{}, nil, rejectf("update %s: the issue would take %d bytes stored, over the limit of %d", key, len(val), maxRecordSize)
	}
	muts = append(muts,
		mutation{key: issueKey(num), val: val},
		mutation{key: revKey(oldRev), del: true},
		mutation{key: revKey(r.Rev), val: u64(num)},
		mutation{key: []byte(metaNextRev), val: u64(r.Rev + 1)},
	)
	t.ctr.nextRev++
	return t.issueOf(txn, r), muts, nil
}
