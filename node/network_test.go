package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/pairing"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// newNetwork creates network name on the first node and makes every other
// node join it with an invitation from the node before it, then waits
// until every member knows every other as a member.
func newNetwork(t *testing.T, name string, nodes ...*testNode) string {
	t.Helper()
	ctx := context.Background()
	for _, tn := range nodes {
		dumpLogs(t, tn)
	}
	info, err := adminBackend{nodes[0].Node}.CreateNetwork(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for i, tn := range nodes[1:] {
		inviter := nodes[i]
		res, err := adminBackend{inviter.Node}.InviteNetwork(ctx, name, fmt.Sprintf("m%d", i+1), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := pairing.Decode(res.Code)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Network != info.ID || inv.NetName != name {
			t.Fatalf("invitation carries network %q %q, want %q %q", inv.Network, inv.NetName, info.ID, name)
		}
		if _, err := tn.mesh.Join(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "every member knows every member", func() bool {
		for _, tn := range nodes {
			if len(tn.mesh.Members(info.ID)) != len(nodes) {
				return false
			}
		}
		return true
	})
	return info.ID
}

func (tn *testNode) get(t *testing.T, key string) adapters.Issue {
	t.Helper()
	is, err := tn.tracker.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// sameIssue compares what sync must make equal on every member.
func sameIssue(a, b adapters.Issue) bool {
	la, lb := slices.Clone(a.Labels), slices.Clone(b.Labels)
	slices.Sort(la)
	slices.Sort(lb)
	if a.Summary != b.Summary || a.Status != b.Status || a.Priority != b.Priority || a.Description != b.Description ||
		!slices.Equal(la, lb) || len(a.Comments) != len(b.Comments) {
		return false
	}
	// Each tracker lists comments in the order it got them.
	ca, cb := map[string]int{}, map[string]int{}
	for i := range a.Comments {
		ca[a.Comments[i].Body]++
		cb[b.Comments[i].Body]++
	}
	return maps.Equal(ca, cb)
}

// TestNetworkConvergesWithConcurrentEdits: three members; an issue created
// on A reaches B and C once each; B and C edit the same fields and labels
// concurrently (adds and removes); all three end with the same values, and
// every member knows every member's key of the issue.
func TestNetworkConvergesWithConcurrentEdits(t *testing.T) {
	ctx := context.Background()
	a, b, c := startNode(t, "a", Options{}), startNode(t, "b", Options{}), startNode(t, "c", Options{})
	netID := newNetwork(t, "team", a, b, c)

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "printer on fire", Status: "Open", Labels: []string{"hw", "urgent"}})
	if err != nil {
		t.Fatal(err)
	}
	var onB, onC adapters.Issue
	testutil.WaitFor(t, 15*time.Second, "B and C have A's issue", func() bool {
		var okB, okC bool
		onB, okB = b.issueBySummary(t, "printer on fire")
		onC, okC = c.issueBySummary(t, "printer on fire")
		return okB && okC
	})
	// Concurrent edits of the same fields and of the labels, each made on
	// the issue as its person sees it (a sync may land before the edit).
	b.editAsSeen(t, onB.Key, func(is adapters.Issue) adapters.Patch {
		return adapters.Patch{Status: ptr("In Progress"), Labels: withLabels(is.Labels, []string{"printer"}, []string{"urgent"}), AddComments: []adapters.Comment{{Author: "bob", Body: "on it"}}}
	})
	c.editAsSeen(t, onC.Key, func(is adapters.Issue) adapters.Patch {
		return adapters.Patch{Status: ptr("Blocked"), Labels: withLabels(is.Labels, []string{"floor2"}, nil), AddComments: []adapters.Comment{{Author: "carol", Body: "no toner"}}}
	})
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Priority: ptr("High")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "all three converged", func() bool {
		ia, ib, ic := a.get(t, is.Key), b.get(t, onB.Key), c.get(t, onC.Key)
		ok := sameIssue(ia, ib) && sameIssue(ia, ic) && len(ia.Comments) == 2 && ia.Priority == "High"
		if !ok && os.Getenv("ISSUEMESH_TEST_LOGS") != "" {
			for _, x := range []struct {
				tn  *testNode
				key string
			}{{a, is.Key}, {b, onB.Key}, {c, onC.Key}} {
				x.tn.store.View(func(tx *store.Tx) error {
					tw, _ := tx.TwinByKey(x.key)
					l := tw.Links[netLink(netID)]
					t.Logf("%s tracker %s %v, agreed status %v labels %v; history %+v", shortID(x.tn.ID()), x.tn.get(t, x.key).Status, x.tn.get(t, x.key).Labels, l.Agreed.Fields["status"], l.Agreed.Fields["labels"].L, x.tn.history(t, x.key))
					return nil
				})
			}
		}
		return ok
	})
	got := a.get(t, is.Key)
	slices.Sort(got.Labels)
	// B removed "urgent" and added "printer", C added "floor2": the set has
	// all three edits.
	if want := []string{"floor2", "hw", "printer"}; !slices.Equal(got.Labels, want) {
		t.Errorf("labels %v, want %v (adds and removes of both members)", got.Labels, want)
	}
	for _, tn := range []*testNode{a, b, c} {
		if n := countBySummary(t, tn, "printer on fire"); n != 1 {
			t.Errorf("%s holds the issue %d times", tn.ID(), n)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "every member knows every member's key", func() bool {
		for _, tn := range []*testNode{a, b, c} {
			own, _ := tn.issueBySummary(t, "printer on fire")
			_, refs, err := adminBackend{tn.Node}.Twins(t.Context(), own.Key)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]string{}
			for _, r := range refs {
				if r.Network == "team" {
					keys[r.Peer] = r.Key
				}
			}
			if keys[a.ID().String()] != is.Key || keys[b.ID().String()] != onB.Key || keys[c.ID().String()] != onC.Key {
				return false
			}
		}
		return true
	})
	infos, err := b.mesh.Networks()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].ID != netID || len(infos[0].Members) != 3 {
		t.Fatalf("network list on B: %+v", infos)
	}
	for _, m := range infos[0].Members {
		if !m.Self && !m.Connected || m.State != replica.MemberJoined {
			t.Errorf("member %+v: want joined and connected", m)
		}
	}
}

// editAsSeen edits an issue as a person would: the patch is made from the
// issue as read, and made again if the issue changed before it was
// written (a sync landed meanwhile).
func (tn *testNode) editAsSeen(t *testing.T, key string, edit func(adapters.Issue) adapters.Patch) {
	t.Helper()
	for {
		cur := tn.get(t, key)
		p := edit(cur)
		p.IfRev = cur.Rev
		_, err := tn.tracker.Update(context.Background(), key, p)
		if errors.Is(err, adapters.ErrChanged) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
}

// withLabels returns labels with add added and del removed.
func withLabels(labels, add, del []string) *[]string {
	out := slices.DeleteFunc(slices.Clone(labels), func(l string) bool { return slices.Contains(del, l) || slices.Contains(add, l) })
	out = append(out, add...)
	return &out
}

func countBySummary(t *testing.T, tn *testNode, summary string) int {
	t.Helper()
	is, _, err := tn.tracker.Changes(context.Background(), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, i := range is {
		if i.Summary == summary {
			n++
		}
	}
	return n
}

// TestNetworkStrangerRejected: a peer that A allowlists (for pairing, say)
// but that is not a member of the network, with its own valid key, joins
// the topic and publishes well-formed events, one as itself and one
// claiming to come from member B. A's validator rejects both, and nothing
// they carry is applied, while a member's event published after them is.
func TestNetworkStrangerRejected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	netID := newNetwork(t, "team", a, b)

	stranger := newRawHost(t, a)
	a.allow.Add(stranger.ID()) // allowlisted on A, but no member
	ps, err := p2p.NewPubSub(ctx, stranger, p2p.NewAllowlist(a.ID()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := stranger.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.hostOrNil().Addrs()}); err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(p2p.NetTopic("team"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe() // be part of the mesh
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	testutil.WaitFor(t, 10*time.Second, "A sees the stranger on the topic", func() bool {
		return slices.Contains(topic.ListPeers(), a.ID())
	})
	mk := func(origin, summary string) []byte {
		ev := replica.Event{V: replica.Version, ID: newID(), Twin: newID(), Origin: origin, Seq: 1, Net: netID, SourceKey: "X-1"}
		ev.Replica.Set(replica.FieldSummary, replica.Value{S: summary, Clock: replica.Clock{Wall: time.Now().UnixMilli(), Peer: origin}})
		b, err := replica.MarshalEvent(&ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, data := range [][]byte{mk(stranger.ID().String(), "from a stranger"), mk(b.ID().String(), "forged as B")} {
		if err := topic.Publish(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "A rejected both messages", func() bool { return a.mesh.Rejected(netID) >= 2 })

	// A member's event is still applied, and the stranger's never are.
	if _, err := b.tracker.Create(ctx, adapters.Issue{Summary: "from B"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A applied B's issue", func() bool {
		_, ok := a.issueBySummary(t, "from B")
		return ok
	})
	for _, s := range []string{"from a stranger", "forged as B"} {
		if _, ok := a.issueBySummary(t, s); ok {
			t.Errorf("A applied %q", s)
		}
	}
	// The metrics count what the validator refused on A and what B
	// published (DESIGN section 8: gossipsub published / rejected).
	ma, mb := scrape(t, a.Node), scrape(t, b.Node)
	refused := testutil.MetricValue(ma, "issuemesh_gossipsub_messages_total", map[string]string{"network": "team", "result": "rejected"}) +
		testutil.MetricValue(ma, "issuemesh_gossipsub_messages_total", map[string]string{"network": "team", "result": "ignored"})
	if want := float64(a.mesh.Rejected(netID)); refused != want || refused < 2 {
		t.Errorf("A's metrics count %v gossipsub messages refused, its validator %v (at least the stranger's two)", refused, want)
	}
	if v := testutil.MetricValue(mb, "issuemesh_gossipsub_messages_total", map[string]string{"network": "team", "result": "published"}); v < 1 {
		t.Errorf("B's metrics count %v gossipsub messages published, want at least its issue", v)
	}
	var srcs []string
	if err := a.store.View(func(tx *store.Tx) (err error) { srcs, err = tx.InSources(netPrefix); return }); err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		if strings.HasSuffix(src, "/"+stranger.ID().String()) {
			t.Errorf("the stranger's events wait in A's incoming log")
		}
	}
}

// TestNetworkCatchUp: C is stopped while A and B edit; gossip cannot reach
// it. When C runs again and connects, it asks a member for what it missed
// and converges; then A is stopped and C's catch-up does not need it: B
// serves A's events as well as its own.
func TestNetworkCatchUp(t *testing.T) {
	ctx := context.Background()
	ra, b, rc := startRestartable(t, "a", Options{}), startNode(t, "b", Options{}), startRestartable(t, "c", Options{NetSyncInterval: time.Second})
	a, c := ra.testNode, rc.testNode
	newNetwork(t, "team", a, b, c)

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "catch me", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	var onB adapters.Issue
	testutil.WaitFor(t, 15*time.Second, "B and C have A's issue", func() bool {
		var okB, okC bool
		onB, okB = b.issueBySummary(t, "catch me")
		_, okC = c.issueBySummary(t, "catch me")
		return okB && okC
	})

	// C goes offline: its node stops (the home stays).
	rc.stop(t)
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Status: ptr("Done")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.tracker.Update(ctx, onB.Key, adapters.Patch{Labels: &[]string{"b-label"}}); err != nil {
		t.Fatal(err)
	}
	created, err := a.tracker.Create(ctx, adapters.Issue{Summary: "made while C was away"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "A and B agree", func() bool {
		ia, ib := a.get(t, is.Key), b.get(t, onB.Key)
		_, ok := b.issueBySummary(t, created.Summary)
		return ok && sameIssue(ia, ib) && ia.Status == "Done" && len(ia.Labels) == 1
	})
	// A stops too: C can only catch up from B.
	ra.stop(t)
	rc.start(t)
	c = rc.testNode
	testutil.WaitFor(t, 20*time.Second, "C caught up from B", func() bool {
		onC, ok := c.issueBySummary(t, "catch me")
		_, ok2 := c.issueBySummary(t, created.Summary)
		return ok && ok2 && sameIssue(onC, b.get(t, onB.Key))
	})
}

// restartable is an in-process node that can be stopped and run again on
// its home.
type restartable struct {
	*testNode
	t    *testing.T
	name string
	home string
	opts Options
}

func startRestartable(t *testing.T, name string, opts Options, configure ...func(*config.Config)) *restartable {
	t.Helper()
	r := &restartable{t: t, name: name, home: filepath.Join(t.TempDir(), name), opts: opts}
	cfg := config.Default()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.MDNS, cfg.NATPortMap = false, false
	for _, f := range configure {
		f(cfg)
	}
	if _, err := Init(r.home, cfg); err != nil {
		t.Fatal(err)
	}
	r.opts.NoSync = true
	r.opts.RetryMin, r.opts.RetryMax = 20*time.Millisecond, 200*time.Millisecond
	r.start(t)
	t.Cleanup(func() {
		if r.testNode != nil {
			if t.Failed() {
				t.Logf("--- %s log:\n%s", name, lastLines(r.logs.String(), 40))
			}
			r.stop(t)
		}
	})
	return r
}

func (r *restartable) start(t *testing.T) {
	t.Helper()
	logs := &syncBuffer{}
	opts := r.opts
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := Open(r.home, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, r.name+" runs", n.isReady)
	r.testNode = tn
}

func (r *restartable) stop(t *testing.T) {
	t.Helper()
	tn := r.testNode
	r.testNode = nil
	tn.cancel()
	select {
	case err := <-tn.done:
		if err != nil {
			t.Errorf("%s: Run: %v", r.name, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop", r.name)
	}
	if err := tn.Close(); err != nil {
		t.Errorf("%s: Close: %v", r.name, err)
	}
}

// dumpLogs writes a node's whole log to $ISSUEMESH_TEST_LOGS/<test>-<node>.log
// at the end of the test, when that variable is set (for debugging).
func dumpLogs(t *testing.T, tn *testNode) {
	dir := os.Getenv("ISSUEMESH_TEST_LOGS")
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(dir, t.Name()+"-"+shortID(tn.ID())+".log"), []byte(tn.logs.String()), 0o644)
	})
}

// TestNetworkOwnerPolicy: with policy {priority: owner} and owner m1 (B)
// on every member, only B's edits of the priority count: A's initial value
// and C's edit stay out of the network, C's tracker is set back to B's
// value, and C's edit of the status still goes out.
func TestNetworkOwnerPolicy(t *testing.T) {
	ctx := context.Background()
	policy := func(c *config.Config) {
		c.Connections = map[string]config.Connection{"net:team": {Policy: map[string]string{"priority": config.PolicyOwner}, Owner: "m1"}}
	}
	var ns []*testNode
	for _, name := range []string{"a", "b", "c"} {
		ns = append(ns, startRestartable(t, name, Options{}, policy).testNode)
	}
	a, b, c := ns[0], ns[1], ns[2]
	newNetwork(t, "team", a, b, c)

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "owned", Priority: "Low", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	var onB, onC adapters.Issue
	testutil.WaitFor(t, 15*time.Second, "B and C have A's issue", func() bool {
		var okB, okC bool
		onB, okB = b.issueBySummary(t, "owned")
		onC, okC = c.issueBySummary(t, "owned")
		return okB && okC
	})
	if onB.Priority == "Low" || onC.Priority == "Low" {
		t.Fatalf("A's priority counted: B has %q, C has %q", onB.Priority, onC.Priority)
	}
	if _, err := b.tracker.Update(ctx, onB.Key, adapters.Patch{Priority: ptr("High")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "the owner's priority reached A and C", func() bool {
		return a.get(t, is.Key).Priority == "High" && c.get(t, onC.Key).Priority == "High"
	})
	if _, err := c.tracker.Update(ctx, onC.Key, adapters.Patch{Priority: ptr("Low"), Status: ptr("Done")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "C's status went out and its priority was set back", func() bool {
		ia, ib, ic := a.get(t, is.Key), b.get(t, onB.Key), c.get(t, onC.Key)
		return ia.Status == "Done" && ib.Status == "Done" && ic.Priority == "High" && ia.Priority == "High" && ib.Priority == "High"
	})
}

// A catch-up whose answer never comes (a member hung, or dead behind a
// connection not yet timed out) ends when its context does, not at the
// stream's two-minute deadline: the node's shutdown waits for it.
func TestCatchUpEndsWithItsContext(t *testing.T) {
	a := startNode(t, "a", Options{})
	info, err := a.mesh.Create(context.Background(), "team")
	if err != nil {
		t.Fatal(err)
	}
	mute := newRawHost(t, a)
	asked := make(chan struct{}, 1)
	mute.SetStreamHandler(p2p.ProtoNetSync, func(s network.Stream) {
		asked <- struct{}{}
		_, _ = io.Copy(io.Discard, s) // reads the request, never answers
	})
	a.allow.Add(mute.ID())
	a.hostOrNil().Peerstore().AddAddrs(mute.ID(), mute.Addrs(), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.mesh.CatchUp(ctx, info.ID, mute.ID()) }()
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the catch-up request never arrived")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a catch-up without an answer succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the catch-up did not end with its context")
	}
}

// TestNetworkBundles: events of A pending together go out as bundles, fewer
// gossipsub messages than events, and B applies every one of them once: each
// issue takes its new summary and no issue is created twice.
func TestNetworkBundles(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	netID := newNetwork(t, "team", a, b)
	const n = 20
	keys := make([]string, n)
	for i := range keys {
		is, err := a.tracker.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("issue %d", i), Status: "Open"})
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = is.Key
	}
	testutil.WaitFor(t, 20*time.Second, "B has A's issues", func() bool {
		for i := range keys {
			if _, ok := b.issueBySummary(t, fmt.Sprintf("issue %d", i)); !ok {
				return false
			}
		}
		return true
	})
	msgs0, evs0 := a.mesh.Published(netID)
	// One write: the publisher finds all n pending at once.
	err := a.store.Update(ctx, func(tx *store.Tx) error {
		for i, key := range keys {
			tw, err := tx.TwinByKey(key)
			if err != nil {
				return err
			}
			ev := replica.Event{V: replica.Version, ID: newID(), Twin: tw.ID, Origin: a.ID().String(), SourceKey: key, Sent: time.Now().UnixNano()}
			ev.Replica.Set(replica.FieldSummary, replica.Value{S: fmt.Sprintf("bundled %d", i), Clock: a.hlc.Now()})
			if _, err := a.mesh.Append(tx, netLink(netID), nil, &ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a.wakeLink(netLink(netID))
	testutil.WaitFor(t, 20*time.Second, "B applied every bundled event", func() bool {
		for i := range keys {
			if countBySummary(t, b, fmt.Sprintf("bundled %d", i)) != 1 {
				return false
			}
		}
		return true
	})
	msgs, evs := a.mesh.Published(netID)
	if msgs, evs = msgs-msgs0, evs-evs0; evs < n || msgs >= evs {
		t.Errorf("A published %d events in %d gossipsub messages, want %d events in fewer messages", evs, msgs, n)
	}
	is, _, err := b.tracker.Changes(ctx, "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(is) != n {
		t.Errorf("B holds %d issues, want %d (none created twice)", len(is), n)
	}
}
