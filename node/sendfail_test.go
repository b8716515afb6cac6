package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// freeLoopbackPort is a TCP port on 127.0.0.1 that nothing listens on now.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A peer that cannot be sent to is shown in status with why, since when
// and how many sessions failed, and is cleared once its events are sent
// and acked: the operator sees a stalled link, not only a growing queue.
func TestStatusShowsAPeerThatCannotBeSentTo(t *testing.T) {
	ctx := context.Background()
	a := startNode(t, "a", Options{})
	port := freeLoopbackPort(t)
	b := startRestartable(t, "b", Options{}, func(c *config.Config) {
		c.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}
	})
	pairNodes(t, a, b.testNode)
	bID := b.ID().String()
	peerOf := func() PeerInfo {
		for _, p := range a.status(t).Peers {
			if p.ID == bID {
				return p
			}
		}
		t.Fatalf("b is not in a's status: %+v", a.status(t).Peers)
		return PeerInfo{}
	}
	if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: "before"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the first issue is acked", func() bool { return a.count(t, "o/") == 0 && b.count(t, "t/") == 1 })
	if p := peerOf(); p.SendError != "" || p.SendFailures != 0 {
		t.Fatalf("a healthy peer shows a send error: %+v", p)
	}

	b.stop(t)
	if _, err := a.tracker.Create(ctx, adapters.Issue{Summary: "while b is down"}); err != nil {
		t.Fatal(err)
	}
	var p PeerInfo
	testutil.WaitFor(t, 10*time.Second, "a's status shows that sending to b fails", func() bool {
		p = peerOf()
		return p.SendFailures >= 2
	})
	if p.SendError == "" || p.SendErrorSince == nil || time.Since(*p.SendErrorSince) > time.Minute || p.Pending != 1 {
		t.Fatalf("send failure in status: %+v", p)
	}
	if !strings.Contains(p.SendError, "dial") {
		t.Errorf("send error %q does not say that b could not be dialled", p.SendError)
	}

	b.start(t)
	testutil.WaitFor(t, 20*time.Second, "the queued issue reaches b and the error clears", func() bool {
		p = peerOf()
		return p.SendError == "" && p.SendFailures == 0 && p.Pending == 0 && b.count(t, "t/") == 2
	})
	if p.SendErrorSince != nil {
		t.Fatalf("cleared send failure still has a time: %+v", p)
	}
}
