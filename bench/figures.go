package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
)

// propagation: figure 1. One edit at a time in A's local tracker; the time
// until B's local tracker holds it, seen through B's OnChange callback.
func propagation(ctx context.Context, e *env) (err error) {
	dir, err := e.dir("propagation")
	if err != nil {
		return err
	}
	c := &cluster{dir: dir, log: e.log}
	defer func() { err = errors.Join(err, c.stop()) }()
	a, err := c.add("a", false)
	if err != nil {
		return err
	}
	b, err := c.add("b", false)
	if err != nil {
		return err
	}
	if err := connect(ctx, a, b); err != nil {
		return err
	}
	is, err := a.lt.Create(ctx, adapters.Issue{Summary: "prop r0", Description: e.txt.get(1000), Labels: []string{"bench"}})
	if err != nil {
		return err
	}
	var bkey string
	err = poll(30*time.Second, "B has the issue", nil, cheap, func() (bool, error) {
		var v api.IssueView
		if err := a.get("/v1/issues/"+is.Key, &v); err != nil {
			return false, err
		}
		for _, tw := range v.Twins {
			if tw.Key != "" {
				bkey = tw.Key
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	lat := make([]time.Duration, 0, e.c.propagationEdits)
	for i := 1; i <= e.c.propagationEdits && ctx.Err() == nil; i++ {
		want := fmt.Sprintf("prop r%d", i)
		t0 := time.Now()
		if _, err := a.lt.Update(ctx, is.Key, adapters.Patch{Summary: &want}); err != nil {
			return err
		}
		err := poll(30*time.Second, "B has edit "+want, b.kick, cheap, func() (bool, error) {
			got, err := b.lt.Get(ctx, bkey)
			return err == nil && got.Summary == want, err
		})
		if err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	e.heapProfile()
	s := summarise(lat)
	note := fmt.Sprintf("%d edits, 2 nodes", s.n)
	e.add(result{"propagation_p50", ms(s.p50), "ms", "<= 5", note})
	e.add(result{"propagation_p90", ms(s.p90), "ms", "", note})
	e.add(result{"propagation_p99", ms(s.p99), "ms", "<= 25", note})
	e.add(result{"propagation_max", ms(s.max), "ms", "", note})
	return nil
}

// progress tracks, for issues named "<prefix>-<i> r<round>", which have
// reached the final round on one node.
type progress struct {
	prefix string
	final  int
	round  map[int]int
	done   int
}

func newProgress(prefix string, final int) *progress {
	return &progress{prefix: prefix, final: final, round: map[int]int{}}
}

func (p *progress) see(is adapters.Issue) {
	var i, r int
	if _, err := fmt.Sscanf(is.Summary, p.prefix+"-%d r%d", &i, &r); err != nil {
		return
	}
	old, seen := p.round[i]
	if seen && old >= r {
		return
	}
	p.round[i] = r
	if r >= p.final && (!seen || old < p.final) {
		p.done++
	}
}

// watcher follows one node's tracker for a progress.
type watcher struct {
	b    *benchNode
	feed *feed
	prog *progress
}

func (w *watcher) check(ctx context.Context, want int) (bool, error) {
	if err := w.feed.update(ctx, w.prog.see); err != nil {
		return false, err
	}
	return w.prog.done >= want, nil
}

// updateAll makes rounds x len(keys) effective updates: every update sets
// a new summary "<prefix>-<i> r<round>" and a new ~1 KiB description.
// Issues are split over workers goroutines; each issue's updates are in
// round order, so the last round is every issue's final state. at picks
// the node whose tracker issue i is updated on.
func updateAll(ctx context.Context, e *env, keys []string, at func(i int) *benchNode, prefix string, rounds, workers int) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := range workers {
		wg.Go(func() {
			for r := 1; r <= rounds; r++ {
				for i := w; i < len(keys); i += workers {
					sum, desc := fmt.Sprintf("%s-%d r%d", prefix, i, r), e.txt.get(1000)
					if _, err := at(i).lt.Update(ctx, keys[i], adapters.Patch{Summary: &sum, Description: &desc}); err != nil {
						mu.Lock()
						first = cmpErr(first, err)
						mu.Unlock()
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return first
}

// throughput: figure 2. Updates of about 1 KiB on A from several
// goroutines; the time until B holds the last update of every issue.
func throughput(ctx context.Context, e *env) (err error) {
	dir, err := e.dir("throughput")
	if err != nil {
		return err
	}
	c := &cluster{dir: dir, log: e.log}
	defer func() { err = errors.Join(err, c.stop()) }()
	a, err := c.add("a", false)
	if err != nil {
		return err
	}
	b, err := c.add("b", false)
	if err != nil {
		return err
	}
	n, rounds := e.c.tpIssues, e.c.tpUpdates/e.c.tpIssues
	keys, err := create(ctx, a, n, "tp", e.txt)
	if err != nil {
		return err
	}
	if err := connect(ctx, a, b); err != nil {
		return err
	}
	wb := &watcher{b: b, feed: newFeed(b.lt), prog: newProgress("tp", 0)}
	if err := poll(2*time.Minute, "B has the issues", b.kick, cheap, func() (bool, error) { return wb.check(ctx, n) }); err != nil {
		return err
	}
	if err := poll(2*time.Minute, "A has every issue acked", nil, costly, func() (bool, error) { return a.acked(n) }); err != nil {
		return err
	}
	rev0 := wb.feed.rev
	wb.prog = newProgress("tp", rounds)

	// Enough writers that A's tracker (group commit) is not what limits.
	const workers = 64
	m := startMeter()
	t0 := time.Now()
	q := watchQueues(a, b)
	var waits *waitSampler
	if e.waits {
		waits = startWaits()
	}
	issued := make(chan error, 1)
	var issuedIn time.Duration
	go func() {
		err := updateAll(ctx, e, keys, func(int) *benchNode { return a }, "tp", rounds, workers)
		issuedIn = time.Since(t0)
		issued <- err
	}()
	err = poll(10*time.Minute, "B has every update", b.kick, cheap, func() (bool, error) {
		select {
		case err := <-issued:
			if err != nil {
				return false, err
			}
			issued <- nil
		default:
		}
		return wb.check(ctx, n)
	})
	elapsed := time.Since(t0)
	cost := m.end()
	e.heapProfile()
	qs := q.stop()
	if waits != nil {
		waits.end(os.Stderr, "the throughput figure")
	}
	if err != nil {
		return err
	}
	if err := <-issued; err != nil {
		return err
	}
	if err := poll(2*time.Minute, "A has every update acked", nil, costly, func() (bool, error) { return a.acked(n) }); err != nil {
		return err
	}
	ackedIn := time.Since(t0)
	updates := n * rounds
	applied := wb.feed.rev - rev0
	rate := float64(updates) / elapsed.Seconds()
	note := fmt.Sprintf("%d updates of ~1 KiB over %d issues by %d goroutines; A's tracker took them in %.1fs; B applied %d events (%.0f/s); all acked on A after %.1fs",
		updates, n, workers, issuedIn.Seconds(), applied, float64(applied)/elapsed.Seconds(), ackedIn.Seconds())
	e.add(result{"throughput_updates", rate, "updates/s", ">= 5000", note})
	e.add(result{"throughput_events", float64(applied) / elapsed.Seconds(), "events/s", "", "events B applied per second: A's trigger sends an issue's latest state, so edits superseded before they were sent travel as one event"})
	e.add(result{"throughput_queue_a_out", float64(qs.maxOut), "events", "", "largest backlog in A's outgoing log (sent or not, unacked), sampled every 0.5 s; " + qs.summary()})
	e.add(result{"throughput_queue_b_in", float64(qs.maxIn), "events", "", "largest backlog in B's incoming log (received durably, not applied)"})
	if e.baseline > 0 {
		e.add(result{"throughput_ratio", rate / e.baseline, "x baseline", ">= 0.5", fmt.Sprintf("baseline %.0f records/s", e.baseline)})
	}
	rssNote := "since the start of the figure"
	if !cost.hwmReset {
		rssNote = "peak of the whole process (VmHWM could not be reset)"
	}
	e.add(result{"throughput_cpu", cost.cpuCores, "cores", "", fmt.Sprintf("process CPU time / wall, both nodes, of %d", runtime.NumCPU())})
	e.add(result{"throughput_peak_rss", cost.peakRSSMB, "MB", "", "both nodes in one process, " + rssNote})
	e.add(result{"throughput_peak_heap", cost.peakHeapMB, "MB", "", "Go HeapInuse sampled every 100 ms"})
	return nil
}

// firstSync: figure 3. Issues on A before B is known; AddPeer on both, then
// the time until A has every event acked and every twin linked.
func firstSync(ctx context.Context, e *env) (err error) {
	dir, err := e.dir("firstsync")
	if err != nil {
		return err
	}
	c := &cluster{dir: dir, log: e.log}
	defer func() { err = errors.Join(err, c.stop()) }()
	a, err := c.add("a", false)
	if err != nil {
		return err
	}
	b, err := c.add("b", false)
	if err != nil {
		return err
	}
	n := e.c.firstSync
	if _, err := create(ctx, a, n, "fs", e.txt); err != nil {
		return err
	}
	m := startMeter()
	var waits *waitSampler
	if e.waits {
		waits = startWaits()
	}
	t0 := time.Now()
	if err := connect(ctx, a, b); err != nil {
		return err
	}
	queued := time.Since(t0)
	// B's change feed is cheap to follow; A's status (the acks) is polled
	// only once B has every issue, the acks being moments behind.
	wb := &watcher{b: b, feed: newFeed(b.lt), prog: newProgress("fs", 0)}
	err = poll(10*time.Minute, "B has every issue", b.kick, cheap, func() (bool, error) { return wb.check(ctx, n) })
	if err == nil {
		err = poll(10*time.Minute, "A has every issue acked", nil, costly/2, func() (bool, error) { return a.acked(n) })
	}
	elapsed := time.Since(t0)
	cost := m.end()
	e.heapProfile()
	if waits != nil {
		waits.end(os.Stderr, "the first sync")
	}
	if err != nil {
		return err
	}
	var st api.Status
	if st, err = a.status(); err != nil {
		return err
	}
	note := fmt.Sprintf("%d issues of ~1 KiB; AddPeer returned after %.1fs (events queued); %d twins on A; CPU %.2f cores",
		n, queued.Seconds(), st.Twins, cost.cpuCores)
	e.add(result{"firstsync", elapsed.Seconds(), "s", "<= 5", note})
	e.add(result{"firstsync_rate", float64(n) / elapsed.Seconds(), "issues/s", "", ""})
	return nil
}

// topology connects the nodes of the fan-out figure: one gossipsub network,
// or pairwise connections.
type topology interface {
	name() string
	connect(ctx context.Context, nodes []*benchNode) error
}

// star: node 0 is the hub, peered with every other node; leaves are not
// peered with each other, so the hub relays their changes.
type star struct{}

func (star) name() string { return "star" }

func (star) connect(ctx context.Context, nodes []*benchNode) error {
	for _, leaf := range nodes[1:] {
		if err := connect(ctx, nodes[0], leaf); err != nil {
			return err
		}
	}
	return nil
}

// gossipNetwork: one gossipsub network that every node joins by invitation from
// node 0; each change fans out over the network's topic, and catch-up
// fills what gossip missed.
type gossipNetwork struct{}

func (gossipNetwork) name() string { return "one gossipsub network" }

func (gossipNetwork) connect(ctx context.Context, nodes []*benchNode) error {
	if _, err := nodes[0].n.Backend().CreateNetwork(ctx, "bench"); err != nil {
		return err
	}
	for _, b := range nodes[1:] {
		inv, err := nodes[0].n.Backend().InviteNetwork(ctx, "bench", b.name, time.Hour)
		if err != nil {
			return fmt.Errorf("invite %s: %w", b.name, err)
		}
		if err := b.post("/v1/accept", api.AcceptInput{Code: inv.Code, Name: nodes[0].name}, nil); err != nil {
			return fmt.Errorf("%s accepts: %w", b.name, err)
		}
	}
	return nil
}

// mesh: every node peered with every other.
type mesh struct{}

func (mesh) name() string { return "full mesh" }

func (mesh) connect(ctx context.Context, nodes []*benchNode) error {
	for i := range nodes {
		for _, o := range nodes[i+1:] {
			if err := connect(ctx, nodes[i], o); err != nil {
				return err
			}
		}
	}
	return nil
}

// fanout: figure 4, for each node count. Over a gossipsub network (the
// default) it also measures a star of pairwise links at the largest node
// count, in the same run, since the network must be no slower than the
// star (issue 19): the load moves too much to compare figures of
// different runs.
func fanout(ctx context.Context, e *env) error {
	var net []float64
	for _, n := range e.c.fanoutNodes {
		d, err := fanoutN(ctx, e, e.topology, n)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
		net = append(net, d)
	}
	if _, ok := e.topology.(gossipNetwork); !ok || len(net) == 0 {
		return nil
	}
	n := e.c.fanoutNodes[len(e.c.fanoutNodes)-1]
	d, err := fanoutN(ctx, e, star{}, n)
	if err != nil {
		return fmt.Errorf("%d nodes, star: %w", n, err)
	}
	r := &e.results[len(e.results)-1]
	r.name += "_star"
	r.target = ""
	e.add(result{fmt.Sprintf("fanout_%d_network_over_star", n), net[len(net)-1] / d, "x", "<= 1", "the network's time divided by the star's, same run"})
	return nil
}

// fanoutN: n nodes connected by e.topology. Issues are created spread over
// the nodes (issue i on node i mod n) and synced everywhere; then every
// issue is updated on the node that created it, rounds times, and the
// figure is the time until every node holds the last round of every issue.
func fanoutN(ctx context.Context, e *env, topo topology, n int) (secs float64, err error) {
	dir, err := e.dir(fmt.Sprintf("fanout%d", n))
	if err != nil {
		return 0, err
	}
	c := &cluster{dir: dir, log: e.log}
	defer func() { err = errors.Join(err, c.stop()) }()
	for i := range n {
		if _, err := c.add(fmt.Sprintf("n%d", i), false); err != nil {
			return 0, err
		}
	}
	if err := topo.connect(ctx, c.nodes); err != nil {
		return 0, err
	}
	issues, rounds := e.c.fanoutIssues, e.c.fanoutUpdates/e.c.fanoutIssues
	keys := make([]string, issues)
	for i := range issues {
		is, err := c.nodes[i%n].lt.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("fo-%d r0", i), Description: e.txt.get(1000), Labels: []string{"bench"}})
		if err != nil {
			return 0, err
		}
		keys[i] = is.Key
	}
	ws := make([]*watcher, n)
	for i, b := range c.nodes {
		ws[i] = &watcher{b: b, feed: newFeed(b.lt), prog: newProgress("fo", 0)}
	}
	converged := func(ctx context.Context) (bool, error) {
		all := true
		for _, w := range ws { // every node's feed, so that behind() is accurate
			ok, err := w.check(ctx, issues)
			if err != nil {
				return false, err
			}
			all = all && ok
		}
		return all, nil
	}
	settled := func() (bool, error) {
		if ok, err := converged(ctx); !ok || err != nil {
			return false, err
		}
		for _, b := range c.nodes {
			if ok, err := b.acked(0); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
	if err := poll(2*time.Minute, "every node has every issue", nil, costly, settled); err != nil {
		return 0, fmt.Errorf("%w; queues: %s; %s", err, c.queues(), dumpStacks())
	}
	for _, w := range ws {
		w.prog = newProgress("fo", rounds)
	}
	before, err := c.appliedEach()
	if err != nil {
		return 0, err
	}
	m := startMeter()
	t0 := time.Now()
	issued := make(chan error, 1)
	go func() {
		issued <- updateAll(ctx, e, keys, func(i int) *benchNode { return c.nodes[i%n] }, "fo", rounds, 16)
	}()
	err = poll(10*time.Minute, "every node has every update", nil, cheap, func() (bool, error) {
		select {
		case err := <-issued:
			if err != nil {
				return false, err
			}
			issued <- nil
		default:
		}
		return converged(ctx)
	})
	elapsed := time.Since(t0)
	cost := m.end()
	e.heapProfile()
	if err != nil {
		return 0, fmt.Errorf("%w; behind: %s; queues: %s; %s", err, behind(ws, issues), c.queues(), dumpStacks())
	}
	if err := <-issued; err != nil {
		return 0, err
	}
	after, err := c.appliedEach()
	if err != nil {
		return 0, err
	}
	note := fmt.Sprintf("%s, %d updates over %d issues made on their creating nodes; events applied: %s; CPU %.2f cores",
		topo.name(), issues*rounds, issues, appliedNote(before, after), cost.cpuCores)
	target := ""
	if n == 10 {
		target = "<= 3"
	}
	e.add(result{fmt.Sprintf("fanout_%d_nodes", n), elapsed.Seconds(), "s", target, note})
	return elapsed.Seconds(), nil
}

// appliedNote says how many events the nodes applied between two counts:
// node 0 (a star's hub), then the others' total and range. Where a node
// applies fewer events than the updates others made, changes of one issue
// were merged into one event on the way (a star's hub shares an issue's
// state once for several rounds it applied).
func appliedNote(before, after []uint64) string {
	var rest, lo, hi uint64
	for i := 1; i < len(after); i++ {
		d := after[i] - before[i]
		rest += d
		if i == 1 || d < lo {
			lo = d
		}
		hi = max(hi, d)
	}
	return fmt.Sprintf("node 0 %d, the other %d nodes %d (%d to %d each)", after[0]-before[0], len(after)-1, rest, lo, hi)
}

// queues samples the backlogs of a two-node pipeline: A's outgoing log
// (appended, not acked) and B's incoming log (received, not applied). Where
// the backlog builds up shows which stage bounds the throughput.
type queues struct {
	done          chan struct{}
	wg            sync.WaitGroup
	maxOut, maxIn int
	samples       []queueSample
	spent         time.Duration // in the status calls: the sampler's own cost
}

type queueSample struct {
	at      time.Duration
	out, in int
}

func watchQueues(a, b *benchNode) *queues {
	q := &queues{done: make(chan struct{})}
	t0 := time.Now()
	q.wg.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			t := time.Now()
			sa, erra := a.status()
			sb, errb := b.status()
			q.spent += time.Since(t)
			if erra == nil && errb == nil {
				q.samples = append(q.samples, queueSample{time.Since(t0), sa.Pending, sb.Incoming})
				q.maxOut, q.maxIn = max(q.maxOut, sa.Pending), max(q.maxIn, sb.Incoming)
			}
			select {
			case <-q.done:
				return
			case <-tick.C:
			}
		}
	})
	return q
}

func (q *queues) stop() *queues {
	close(q.done)
	q.wg.Wait()
	return q
}

// summary is the backlogs at a few points in time: "t=2s out=1200 in=30, ...".
func (q *queues) summary() string {
	parts := []string{fmt.Sprintf("sampling took %.2fs", q.spent.Seconds())}
	step := max(1, len(q.samples)/6)
	for i := 0; i < len(q.samples); i += step {
		s := q.samples[i]
		parts = append(parts, fmt.Sprintf("t=%.0fs out=%d in=%d", s.at.Seconds(), s.out, s.in))
	}
	return strings.Join(parts, ", ")
}

// behind lists, per node, the issues not at their final round (a few of
// them, with the round each shows), for the error of a figure that timed
// out.
func behind(ws []*watcher, issues int) string {
	var parts []string
	for _, w := range ws {
		var late []string
		for i := range issues {
			if r := w.prog.round[i]; r < w.prog.final {
				late = append(late, fmt.Sprintf("#%d at r%d", i, r))
			}
		}
		if len(late) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d issues (%s)", w.b.name, len(late), strings.Join(late[:min(len(late), 5)], ", ")))
		}
	}
	return strings.Join(parts, "; ")
}
