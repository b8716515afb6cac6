package node

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// syncBuffer is a log sink tests can read while the node writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testNode struct {
	*Node
	label  string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startNode creates a home and runs an in-process node on loopback.
func startNode(t *testing.T, name string, opts Options) *testNode {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	cfg := config.Default()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.MDNS = false
	cfg.NATPortMap = false
	if _, err := Init(home, cfg); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.NoSync = true
	if opts.RetryMin == 0 {
		opts.RetryMin = 20 * time.Millisecond
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 200 * time.Millisecond
	}
	n, err := Open(home, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, label: name, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, name+" runs", n.isReady)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-tn.done:
			if err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", name)
		}
		if err := n.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
		if t.Failed() {
			t.Logf("--- %s log:\n%s", name, lastLines(logs.String(), 40))
		}
	})
	return tn
}

func lastLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func (tn *testNode) loopbackAddr(t *testing.T) string {
	t.Helper()
	for _, a := range tn.Addrs() {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			return a
		}
	}
	t.Fatalf("no loopback address in %v", tn.Addrs())
	return ""
}

func pairNodes(t *testing.T, a, b *testNode) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.AddPeer(ctx, b.loopbackAddr(t), "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddPeer(ctx, a.loopbackAddr(t), "a"); err != nil {
		t.Fatal(err)
	}
}

func (tn *testNode) count(t *testing.T, prefix string) int {
	t.Helper()
	var n int
	if err := tn.store.View(func(tx *store.Tx) (err error) { n, err = tx.Count(prefix); return }); err != nil {
		t.Fatal(err)
	}
	return n
}

func (tn *testNode) history(t *testing.T, key string) []store.Record {
	t.Helper()
	var recs []store.Record
	err := tn.store.View(func(tx *store.Tx) error {
		tw, err := tx.TwinByKey(key)
		if err != nil {
			return err
		}
		recs, err = tx.History(tw.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// settled reports whether the node's trigger has seen every tracker change.
func (tn *testNode) settled(t *testing.T) bool {
	t.Helper()
	ctx := context.Background()
	var cur string
	if err := tn.store.View(func(tx *store.Tx) (err error) { cur, err = tx.Cursor(triggerName); return }); err != nil {
		t.Fatal(err)
	}
	more, _, err := tn.tracker.Changes(ctx, adapters.Cursor(cur), 1)
	if err != nil {
		t.Fatal(err)
	}
	return len(more) == 0
}

func (tn *testNode) issueBySummary(t *testing.T, summary string) (adapters.Issue, bool) {
	t.Helper()
	is, _, err := tn.tracker.Changes(context.Background(), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range is {
		if i.Summary == summary {
			return i, true
		}
	}
	return adapters.Issue{}, false
}
