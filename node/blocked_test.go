package node

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// pairAs pairs two nodes, each naming the other as given.
func pairAs(t *testing.T, a *testNode, bAtA string, b *testNode, aAtB string) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.AddPeer(ctx, b.loopbackAddr(t), bAtA); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddPeer(ctx, a.loopbackAddr(t), aAtB); err != nil {
		t.Fatal(err)
	}
}

func writeRule(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func blockedOn(t *testing.T, n *Node) []store.Blocked {
	t.Helper()
	var bs []store.Blocked
	if code := adminCall(t, n, "GET", "/v1/errors", nil, &bs); code != http.StatusOK {
		t.Fatalf("errors: %d", code)
	}
	return bs
}

func findBlocked(bs []store.Blocked, dir store.BlockDir, link string) *store.Blocked {
	for i := range bs {
		if bs[i].Dir == dir && bs[i].Peer == link {
			return &bs[i]
		}
	}
	return nil
}

func (tn *testNode) issueKey(t *testing.T, summary string) string {
	t.Helper()
	is, ok := tn.issueBySummary(t, summary)
	if !ok {
		t.Fatalf("%s has no issue %q", tn.label, summary)
	}
	return is.Key
}

// TestBlockedPerLinkAndDirection (DESIGN 5.4: a failing twin blocks only
// itself, and only where it fails): X is peered with b2 and c2. X's
// incoming rule for b2 fails on one twin, then X's outgoing rule for c2
// fails on the same twin. Each is its own record (in from b2, out to c2):
// X's edits still reach b2, b2's later event waits behind its failed one,
// and after the rules are fixed, retry applies b2's held events in order
// and shares with c2, without fresh clocks for old values: every node ends
// with b2's edits and X's.
func TestBlockedPerLinkAndDirection(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	inB2 := filepath.Join(dir, "in-b2.star")
	outC2 := filepath.Join(dir, "out-c2.star")
	writeRule(t, inB2, "if replica.description == \"poison\":\n    fail(\"b2 sent poison\")\n"+rules.DefaultIncomingScript)
	writeRule(t, outC2, "if issue.status == \"Stuck\":\n    fail(\"stuck is not for c2\")\n"+rules.DefaultOutgoingScript)
	x := startRestartable(t, "x", Options{}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{"b2": {Incoming: inB2}, "c2": {Outgoing: outC2}}
	}).testNode
	x.label = "x"
	b2, c2 := startNode(t, "b2", Options{}), startNode(t, "c2", Options{})
	pairAs(t, x, "b2", b2, "x")
	pairAs(t, x, "c2", c2, "x")
	b2id, c2id := b2.self.String(), c2.self.String()

	is, err := x.tracker.Create(ctx, adapters.Issue{Summary: "T", Status: "Open", Description: "d0", Priority: "Low"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "b2 and c2 have the issue", func() bool {
		_, ok1 := b2.issueBySummary(t, "T")
		_, ok2 := c2.issueBySummary(t, "T")
		return ok1 && ok2 && x.count(t, "o/") == 0
	})
	kb := b2.issueKey(t, "T")

	// b2's edit fails X's incoming rule for b2.
	if _, err := b2.tracker.Update(ctx, kb, adapters.Patch{Description: ptr("poison")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "X blocks the twin for events from b2", func() bool {
		return findBlocked(blockedOn(t, x.Node), store.BlockIn, b2id) != nil
	})
	// X's edit fails X's outgoing rule for c2, and only that.
	if _, err := x.tracker.Update(ctx, is.Key, adapters.Patch{Status: ptr("Stuck")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "X's edit reaches b2 (whose rules are fine) while c2 is refused", func() bool {
		got, _ := b2.tracker.Get(ctx, kb)
		return got.Status == "Stuck" && findBlocked(blockedOn(t, x.Node), store.BlockOut, c2id) != nil
	})
	bs := blockedOn(t, x.Node)
	if len(bs) != 2 {
		t.Fatalf("X has %d blocked records, want 2 (in from b2, out to c2): %+v", len(bs), bs)
	}
	in, out := findBlocked(bs, store.BlockIn, b2id), findBlocked(bs, store.BlockOut, c2id)
	if !strings.Contains(in.Error, "b2 sent poison") || in.LocalKey != is.Key || in.Remote || in.Outgoing {
		t.Errorf("the record for b2: %+v", in)
	}
	if !strings.Contains(out.Error, "stuck is not for c2") || !strings.Contains(out.Error, "out-c2.star:2") || !out.Outgoing || out.Remote {
		t.Errorf("the record for c2: %+v", out)
	}
	var st Status
	adminCall(t, x.Node, "GET", "/v1/status", nil, &st)
	if st.Blocked != 1 || st.BlockedRecords != 2 {
		t.Errorf("status: %d blocked twins, %d records; want 1 and 2", st.Blocked, st.BlockedRecords)
	}

	// b2's next edit waits behind its failed one.
	if _, err := b2.tracker.Update(ctx, kb, adapters.Patch{Priority: ptr("High")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "b2's second event waits at X", func() bool { return x.count(t, "i/"+b2id+"/") == 2 })
	if got, _ := x.tracker.Get(ctx, is.Key); got.Priority == "High" || got.Description == "poison" {
		t.Fatalf("X applied b2's held events before a retry: %+v", got)
	}
	if got, _ := c2.tracker.Get(ctx, c2.issueKey(t, "T")); got.Status == "Stuck" {
		t.Fatal("c2 got the change its link refuses")
	}

	// Fix both rule files, then retry.
	writeRule(t, inB2, rules.DefaultIncomingScript)
	writeRule(t, outC2, rules.DefaultOutgoingScript)
	var res RetryResult
	if code := adminCall(t, x.Node, "POST", "/v1/retry", RetryInput{Key: is.Key}, &res); code != http.StatusOK || len(res.Retried) != 2 {
		t.Fatalf("retry: %d %+v", code, res)
	}
	want := adapters.Issue{Summary: "T", Status: "Stuck", Description: "poison", Priority: "High"}
	same := func(got adapters.Issue) bool {
		return got.Summary == want.Summary && got.Status == want.Status && got.Description == want.Description && got.Priority == want.Priority
	}
	testutil.WaitFor(t, 15*time.Second, "every node has b2's edits and X's, and nothing is blocked", func() bool {
		gx, _ := x.tracker.Get(ctx, is.Key)
		gb, _ := b2.tracker.Get(ctx, kb)
		gc, _ := c2.issueBySummary(t, "T")
		return same(gx) && same(gb) && same(gc) &&
			len(blockedOn(t, x.Node)) == 0 && len(blockedOn(t, b2.Node)) == 0 &&
			x.count(t, "i/") == 0 && x.count(t, "o/") == 0 && b2.count(t, "o/") == 0
	})
}

// TestOversizedEventBlocksOnlyItsTwin: an issue whose description is over
// the codec's limit for one value is blocked for each peer with an error
// that names the field and the limit; the trigger pass goes on, so the
// other issues, and later changes, still sync.
func TestOversizedEventBlocksOnlyItsTwin(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	big, err := a.tracker.Create(ctx, adapters.Issue{Summary: "big", Description: strings.Repeat("x", 1_500_000)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: "small"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the small issue arrives and the big one is blocked", func() bool {
		_, ok := b.issueBySummary(t, "small")
		return ok && findBlocked(blockedOn(t, a.Node), store.BlockOut, b.self.String()) != nil
	})
	rec := findBlocked(blockedOn(t, a.Node), store.BlockOut, b.self.String())
	if rec.LocalKey != big.Key || !strings.Contains(rec.Error, "field description is 1.5 MB; the limit for one value in an event is 1 MiB") {
		t.Fatalf("blocked record: %+v", rec)
	}
	if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: "later"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "a later issue syncs too", func() bool {
		_, ok := b.issueBySummary(t, "later")
		return ok
	})
	// Made small again, the issue goes out on retry.
	if _, err := a.tracker.Update(ctx, big.Key, adapters.Patch{Description: ptr("short now")}); err != nil {
		t.Fatal(err)
	}
	if code := adminCall(t, a.Node, "POST", "/v1/retry", RetryInput{Key: big.Key}, nil); code != http.StatusOK {
		t.Fatalf("retry: %d", code)
	}
	testutil.WaitFor(t, 10*time.Second, "the retried issue arrives", func() bool {
		is, ok := b.issueBySummary(t, "big")
		return ok && is.Description == "short now" && len(blockedOn(t, a.Node)) == 0
	})
}

// TestAckForEventNeverSentIgnored: acks that answer no event in the
// peer's outgoing log (a made-up sequence, or the right sequence with
// another twin) neither block the twin "at peer" nor set the peer's key.
func TestAckForEventNeverSentIgnored(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "acked"})
	if err != nil {
		t.Fatal(err)
	}
	var tw *store.Twin
	testutil.WaitFor(t, 10*time.Second, "the issue is synced and acked", func() bool {
		if a.count(t, "o/") != 0 {
			return false
		}
		return a.store.View(func(tx *store.Tx) (err error) { tw, err = tx.TwinByKey(is.Key); return }) == nil &&
			tw.Links[b.self.String()] != nil && tw.Links[b.self.String()].RemoteKey != ""
	})
	key := tw.Links[b.self.String()].RemoteKey
	forged := []replica.Ack{
		{Seq: 9999, EventID: "made-up", Twin: tw.ID, Result: replica.ResultFailed, Error: "forged failure", LocalKey: "EVIL-1"},
		{Seq: 1, EventID: "made-up", Twin: tw.ID, Result: replica.ResultFailed, Error: "forged failure", LocalKey: "EVIL-2"},
	}
	if err := a.recordAcks(ctx, b.self, forged); err != nil {
		t.Fatal(err)
	}
	if bs := blockedOn(t, a.Node); len(bs) != 0 {
		t.Fatalf("a forged ack blocked the twin: %+v", bs)
	}
	_ = a.store.View(func(tx *store.Tx) (err error) { tw, err = tx.GetTwin(tw.ID); return })
	if got := tw.Links[b.self.String()].RemoteKey; got != key {
		t.Fatalf("a forged ack set the peer's key to %q (was %q)", got, key)
	}
	if !strings.Contains(a.logs.String(), "ignoring an ack for an event this node has not sent") {
		t.Error("the forged ack is not logged")
	}
}

// TestRetryKeepsClocksOfOldValues: retrying a twin that the outgoing
// rules refused for a peer shares only what changed here, with the clocks
// of what the link already had: a value the peer edited meanwhile (its
// event still on the way) is not overwritten by the old value with a fresh
// clock.
func TestRetryKeepsClocksOfOldValues(t *testing.T) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out-c.star")
	writeRule(t, out, "if issue.status == \"Stuck\":\n    fail(\"stuck is not for c\")\n"+rules.DefaultOutgoingScript)
	x := startRestartable(t, "x", Options{}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{"c": {Outgoing: out}}
	}).testNode
	c := startNode(t, "c", Options{})
	pairAs(t, x, "c", c, "x")
	is, err := x.tracker.Create(ctx, adapters.Issue{Summary: "old", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "c has the issue", func() bool { _, ok := c.issueBySummary(t, "old"); return ok && x.count(t, "o/") == 0 })
	kc := c.issueKey(t, "old")
	if _, err := x.tracker.Update(ctx, is.Key, adapters.Patch{Status: ptr("Stuck")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "X refuses the twin for c", func() bool {
		return findBlocked(blockedOn(t, x.Node), store.BlockOut, c.self.String()) != nil
	})
	// c edits the summary; its event waits (c does not send to X yet).
	if code := adminCall(t, c.Node, "POST", "/v1/peers/x/pause", nil, nil); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	if _, err := c.tracker.Update(ctx, kc, adapters.Patch{Summary: ptr("c's later edit")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "c queues its edit", func() bool { return c.count(t, "o/") == 1 && c.settled(t) })

	writeRule(t, out, rules.DefaultOutgoingScript)
	if code := adminCall(t, x.Node, "POST", "/v1/retry", RetryInput{Key: is.Key}, nil); code != http.StatusOK {
		t.Fatalf("retry: %d", code)
	}
	testutil.WaitFor(t, 10*time.Second, "c gets X's status", func() bool {
		got, _ := c.tracker.Get(ctx, kc)
		return got.Status == "Stuck" && x.count(t, "o/") == 0
	})
	if code := adminCall(t, c.Node, "POST", "/v1/peers/x/resume", nil, nil); code != http.StatusOK {
		t.Fatalf("resume: %d", code)
	}
	testutil.WaitFor(t, 10*time.Second, "both keep c's later edit and X's status", func() bool {
		gx, _ := x.tracker.Get(ctx, is.Key)
		gc, _ := c.tracker.Get(ctx, kc)
		return gx.Summary == "c's later edit" && gc.Summary == "c's later edit" && gx.Status == "Stuck" && gc.Status == "Stuck" &&
			c.count(t, "o/") == 0 && x.count(t, "o/") == 0
	})
}
