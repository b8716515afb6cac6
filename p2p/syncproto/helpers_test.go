package syncproto

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/replica"
)

// memLog is an in-memory sync log: the outgoing events of each peer and the
// events received from each.
type memLog struct {
	mu       sync.Mutex
	out      map[string][]Entry
	in       map[string][]Entry
	answered map[string]map[uint64]replica.Ack
	// failReceive, when set, fails Receive (a write that is not durable).
	failReceive error
	// receives counts the calls of Receive.
	receives int
}

func newMemLog() *memLog {
	return &memLog{out: map[string][]Entry{}, in: map[string][]Entry{}, answered: map[string]map[uint64]replica.Ack{}}
}

func (l *memLog) ReadOut(peer string, read func(Outgoing) error) error {
	l.mu.Lock()
	snap := slices.Clone(l.out[peer])
	l.mu.Unlock()
	return read(memOut(snap))
}

type memOut []Entry

func (o memOut) Pending(after uint64, n int) ([]Entry, error) {
	var es []Entry
	for _, e := range o {
		if e.Seq > after && len(es) < n {
			es = append(es, e)
		}
	}
	return es, nil
}

func (l *memLog) Receive(ctx context.Context, peer string, events []Entry) ([]replica.Ack, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.receives++
	if l.failReceive != nil {
		return nil, l.failReceive
	}
	var again []replica.Ack
	for _, e := range events {
		if slices.ContainsFunc(l.in[peer], func(x Entry) bool { return x.Seq == e.Seq }) {
			if a, ok := l.answered[peer][e.Seq]; ok {
				again = append(again, a)
			}
			continue
		}
		l.in[peer] = append(l.in[peer], e)
	}
	return again, nil
}

func (l *memLog) queue(peer string, e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out[peer] = append(l.out[peer], e)
}

func (l *memLog) ack(peer string, seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.IndexFunc(l.out[peer], func(e Entry) bool { return e.Seq == seq })
	if i < 0 {
		return false
	}
	l.out[peer] = slices.Delete(l.out[peer], i, i+1)
	return true
}

func (l *memLog) counts(peer string) (out, in int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.out[peer]), len(l.in[peer])
}

// event returns the frame of event seq of twin from origin.
func event(t *testing.T, origin string, seq uint64) Entry {
	t.Helper()
	b, err := replica.MarshalEvent(&replica.Event{V: replica.Version, ID: fmt.Sprintf("ev-%d", seq), Twin: fmt.Sprintf("twin-%d", seq%3), Origin: origin, Seq: seq})
	if err != nil {
		t.Fatal(err)
	}
	return Entry{seq, b}
}

// linked gives n in-memory hosts, all connected.
func linked(t *testing.T, n int) []host.Host {
	t.Helper()
	mn, err := mocknet.FullMeshConnected(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	return mn.Hosts()
}

func testBackoff() *backoff.Backoff { return backoff.New(5*time.Millisecond, 50*time.Millisecond) }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
