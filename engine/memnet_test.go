package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// The engine's tests run nodes made of an engine, a sync log and an
// embedded tracker, joined by memNet, an in-memory transport: no libp2p
// host, no goroutines of their own; each step is driven by the test.

// tracker is the local tracker counting the engine's requests, and
// refusing, on demand, issues whose summary holds a marker.
type tracker struct {
	*local.Tracker
	get, changes, create, update, find atomic.Int64
	mu                                 sync.Mutex
	reject                             string
	// beforeUpdate, when set, runs (once) before the engine's next
	// update: a person's edit made while an apply is under way.
	beforeUpdate func()
}

func (c *tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	c.get.Add(1)
	return c.Tracker.Get(ctx, key)
}

func (c *tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	c.changes.Add(1)
	return c.Tracker.Changes(ctx, since, limit)
}

func (c *tracker) refuses(summary string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reject != "" && strings.Contains(summary, c.reject) {
		return fmt.Errorf("summary %q is not allowed here: %w", summary, adapters.ErrRejected)
	}
	return nil
}

func (c *tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	c.create.Add(1)
	if err := c.refuses(in.Summary); err != nil {
		return adapters.Issue{}, err
	}
	return c.Tracker.Create(ctx, in)
}

func (c *tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	c.update.Add(1)
	c.mu.Lock()
	before := c.beforeUpdate
	c.beforeUpdate = nil
	c.mu.Unlock()
	if before != nil {
		before()
	}
	if p.Summary != nil {
		if err := c.refuses(*p.Summary); err != nil {
			return adapters.Issue{}, err
		}
	}
	return c.Tracker.Update(ctx, key, p)
}

func (c *tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	c.find.Add(1)
	return c.Tracker.FindByTwin(ctx, twin)
}

func (c *tracker) setReject(marker string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reject = marker
}

// testRules are the default rules on every link; outErr, when set, fails
// the outgoing rules of an issue; a link in skip takes no issue (its
// filter matches none), and no link takes an issue whose summary is in
// held. As the node's rules do, references to synced issues leave as
// relations to their twins (RelationsToTwins on st).
type testRules struct {
	set    *rules.Set
	st     *store.Store
	mu     sync.Mutex
	outErr func(link LinkKey, is adapters.Issue) error
	skip   map[LinkKey]bool
	held   map[string]bool
}

func (r *testRules) Matches(l LinkKey, is adapters.Issue) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.skip[l] && !r.held[is.Summary]
}

func (r *testRules) Outgoing(link LinkKey, is adapters.Issue) (replica.Replica, bool, error) {
	r.mu.Lock()
	f := r.outErr
	r.mu.Unlock()
	if f != nil {
		if err := f(link, is); err != nil {
			return replica.Replica{}, false, err
		}
	}
	rep, skip, err := r.set.Outgoing(is)
	if err == nil && !skip {
		r.mu.Lock()
		st := r.st
		r.mu.Unlock()
		RelationsToTwins(st, &rep)
	}
	return rep, skip, err
}

func (r *testRules) Incoming(LinkKey) (IncomingRules, error) { return r.set, nil }

// testNode is one node of a memNet.
type testNode struct {
	name    string
	dir     string // the sync log's directory (restart)
	id      string
	st      *store.Store
	tr      *tracker
	rules   *testRules
	eng     *Engine
	net     *memNet
	wokenMu sync.Mutex // share's chunks and the appliers wake at once
	woken   map[LinkKey]int
	links   []LinkKey // when set, the node's links (a network's members: netmem_test.go)
}

func (n *testNode) Links() []LinkKey {
	if n.links != nil {
		return n.links
	}
	var out []LinkKey
	for _, o := range n.net.nodes {
		if o != n {
			out = append(out, PeerLink(o.id))
		}
	}
	slices.Sort(out)
	return out
}

func (n *testNode) Wake(l LinkKey) {
	n.wokenMu.Lock()
	defer n.wokenMu.Unlock()
	n.woken[l]++
}

// memNet is the in-memory transport: deliver moves a node's outgoing log
// to its peer's incoming log as the replica protocol would (the receiver
// logs each event durably and drops duplicates), runs the peer's applier
// and brings the acks back.
type memNet struct {
	t     testing.TB
	nodes []*testNode
}

func newMemNet(t testing.TB, names ...string) *memNet {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	m := &memNet{t: t}
	for i, name := range names {
		dir := t.TempDir()
		st, err := store.Open(filepath.Join(dir, "synclog"), store.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		lt, err := local.Open(filepath.Join(dir, "tracker"), local.Options{Prefix: strings.ToUpper(name), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("12D3KooW%s%d", name, i)
		set, err := rules.Compile(nil, nil, rules.Options{Self: id, NotesInExtra: true}) // the local tracker keeps notes in Extra
		if err != nil {
			t.Fatal(err)
		}
		n := &testNode{name: name, dir: filepath.Join(dir, "synclog"), id: id, st: st, tr: &tracker{Tracker: lt}, rules: &testRules{set: set, st: st}, net: m, woken: map[LinkKey]int{}}
		n.eng, err = n.newEngine(st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := n.st.Close(); err != nil {
				t.Error(err)
			}
			if err := lt.Close(); err != nil {
				t.Error(err)
			}
		})
		m.nodes = append(m.nodes, n)
	}
	return m
}

func (n *testNode) newEngine(st *store.Store) (*Engine, error) {
	return New(Config{Self: n.id, Store: st, Tracker: n.tr, HLC: replica.NewHLC(n.id, time.Now), Log: slog.New(slog.DiscardHandler), Rules: n.rules, Links: n, Notify: n, FullFeed: true})
}

// restart stops n's engine and sync log and starts them again from the
// sync log on disk, as a restart of the node would (its tracker keeps
// running): what the engine kept in memory only is gone.
func (n *testNode) restart(t *testing.T) {
	t.Helper()
	if err := n.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(n.dir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := n.newEngine(st)
	if err != nil {
		t.Fatal(err)
	}
	n.rules.mu.Lock()
	n.rules.st = st
	n.rules.mu.Unlock()
	n.st, n.eng = st, eng
}

// deliver sends every event waiting in from's log for to, lets to apply
// them and records to's acks at from. It returns how many events to had
// not received before, and the acks.
func (m *memNet) deliver(ctx context.Context, from, to *testNode) (int, []replica.Ack) {
	m.t.Helper()
	var entries []store.OutEntry
	if err := from.st.View(func(tx *store.Tx) (err error) { entries, err = tx.PendingOut(to.id, 0, 10000); return }); err != nil {
		m.t.Fatal(err)
	}
	var acks []replica.Ack
	fresh := 0
	err := to.st.Update(ctx, func(tx *store.Tx) error {
		acks, fresh = acks[:0], 0
		for _, e := range entries {
			dup, ack, err := tx.Receive(from.id, e.Seq, e.Frame)
			if err != nil {
				return err
			}
			tx.Checkpoint() // as the node's receiver: each event on its own if the batch is too big
			if !dup {
				fresh++
			}
			if dup && ack != nil {
				acks = append(acks, *ack) // answered already: the same ack again
			}
		}
		return nil
	})
	if err != nil {
		m.t.Fatal(err)
	}
	src := &Source{Key: PeerSource(from.id), Ack: func(a replica.Ack) { acks = append(acks, a) }}
	if err := to.eng.ApplyPending(ctx, src); err != nil {
		m.t.Fatalf("%s applying %s's events: %v", to.name, from.name, err)
	}
	if len(acks) > 0 {
		if _, err := from.eng.RecordAcks(ctx, PeerLink(to.id), acks, time.Now()); err != nil {
			m.t.Fatal(err)
		}
	}
	return fresh, acks
}

// settle runs every node's trigger and delivers between every pair until
// nothing moves; it returns the events delivered.
func (m *memNet) settle(ctx context.Context) int {
	m.t.Helper()
	total := 0
	for round := 0; round < 20; round++ {
		moved := 0
		for _, n := range m.nodes {
			if err := n.eng.Scan(ctx); err != nil {
				m.t.Fatalf("%s: scan: %v", n.name, err)
			}
		}
		for _, from := range m.nodes {
			for _, to := range m.nodes {
				if from != to {
					k, _ := m.deliver(ctx, from, to)
					moved += k
				}
			}
		}
		total += moved
		if moved == 0 {
			return total
		}
	}
	m.t.Fatal("the nodes did not settle in 20 rounds")
	return total
}

// create makes an issue in n's tracker, as a person would (uncounted).
func (n *testNode) create(t testing.TB, summary string) adapters.Issue {
	t.Helper()
	is, err := n.tr.Tracker.Create(context.Background(), adapters.Issue{Summary: summary, Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// edit changes an issue's summary in n's tracker, as a person would.
func (n *testNode) edit(t testing.TB, key, summary string) {
	t.Helper()
	if _, err := n.tr.Tracker.Update(context.Background(), key, adapters.Patch{Summary: &summary}); err != nil {
		t.Fatal(err)
	}
}

// bySummary finds the issue with that summary in n's tracker.
func (n *testNode) bySummary(t *testing.T, summary string) (adapters.Issue, bool) {
	t.Helper()
	all, _, err := n.tr.Tracker.Changes(context.Background(), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range all {
		if is.Summary == summary {
			return is, true
		}
	}
	return adapters.Issue{}, false
}

// history lists the twin's history of the issue as "dir what".
func (n *testNode) history(t *testing.T, key string) []string {
	t.Helper()
	var out []string
	err := n.st.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		recs, err := tx.History(tw.ID)
		for _, r := range recs {
			out = append(out, r.Dir+" "+r.What)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (n *testNode) count(t testing.TB, prefix string) int {
	t.Helper()
	var c int
	if err := n.st.View(func(tx *store.Tx) (err error) { c, err = tx.Count(prefix); return }); err != nil {
		t.Fatal(err)
	}
	return c
}

func (n *testNode) blocked(t *testing.T) []store.Blocked {
	t.Helper()
	var bs []store.Blocked
	if err := n.st.View(func(tx *store.Tx) (err error) { bs, err = BlockedAll(tx); return }); err != nil {
		t.Fatal(err)
	}
	return bs
}
