package p2p

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

func TestStrangerRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	keyC, idC := newKey(t)
	logA, bufA := newLogger()
	allowA := NewAllowlist(idC)
	a := newTestHost(t, Config{Allow: allowA, Logger: logA})
	b := newTestHost(t, Config{Allow: NewAllowlist(a.ID())}) // B would talk to A, A does not know B
	c := newTestHost(t, Config{Key: keyC, Allow: NewAllowlist(a.ID())})

	refusals := func() []string {
		return bufA.lines("level=WARN", "refused connection", "peer="+b.ID().String())
	}
	for i := range 3 {
		b.Network().(*swarm.Swarm).Backoff().Clear(a.ID()) // make every attempt reach A
		// B, the initiator, may finish its side of the handshake before A
		// has authenticated B and hung up, so Connect can report success
		// for an instant. What counts: the connection dies and no stream
		// ever gets through.
		err := b.Connect(ctx, addrInfo(a))
		testutil.WaitFor(t, 5*time.Second, "A to log the refusal", func() bool { return len(refusals()) >= 1 })
		testutil.WaitFor(t, 5*time.Second, "B's connection to A to close", func() bool {
			return b.Network().Connectedness(a.ID()) != network.Connected
		})
		if _, serr := b.NewStream(ctx, a.ID(), ProtoPair); serr == nil {
			t.Fatalf("attempt %d: stranger B opened a stream to A (connect error: %v)", i, err)
		}
	}
	if a.Network().Connectedness(b.ID()) != network.NotConnected {
		t.Error("A is connected to stranger B")
	}

	// A dialling B is refused as well, and not logged again.
	err := a.Connect(ctx, addrInfo(b))
	if !errors.Is(err, swarm.ErrGaterDisallowedConnection) {
		t.Errorf("A dialling stranger B: got %v, want ErrGaterDisallowedConnection", err)
	}

	if err := c.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatalf("allowlisted C could not connect to A: %v", err)
	}

	got := refusals()
	if len(got) != 1 {
		t.Fatalf("A logged %d warnings about B, want exactly 1:\n%s", len(got), bufA)
	}
	for _, want := range []string{"direction=Inbound", "addr=/ip4/127.0.0.1/tcp/"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("refusal log %q lacks %q", got[0], want)
		}
	}
	if n := len(bufA.lines("refused", "peer="+c.ID().String())); n != 0 {
		t.Errorf("allowlisted C was logged as refused %d times", n)
	}
}

func TestGaterRemovedPeer(t *testing.T) {
	_, id := newKey(t)
	allow := NewAllowlist(id)
	g := NewGater(allow, nil)
	if !g.InterceptPeerDial(id) || !g.InterceptAddrDial(id, nil) {
		t.Fatal("allowlisted peer refused")
	}
	allow.Remove(id)
	if g.InterceptPeerDial(id) {
		t.Fatal("peer still allowed after removal from the allowlist")
	}
}

func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(2)
	ids := []peer.ID{"a", "b", "c"}
	for _, id := range ids {
		if !s.first(id) {
			t.Fatalf("%s reported as seen on first sight", id)
		}
	}
	if len(s.set) != 2 {
		t.Fatalf("set holds %d IDs, want at most 2", len(s.set))
	}
	if s.first("c") || s.first("b") {
		t.Error("recent IDs reported as new")
	}
	if !s.first("a") {
		t.Error("evicted ID not reported as new")
	}
}

func TestHandleRefusesStrangerStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const proto = "/issuemesh/test/1.0.0"

	keyS, idS := newKey(t)
	keyC, idC := newKey(t)
	// A's gater lets S in; only the handler's allowlist stands in the way.
	a := newTestHost(t, Config{Allow: NewAllowlist(idS, idC)})
	s := newTestHost(t, Config{Key: keyS, Allow: NewAllowlist(a.ID())})
	c := newTestHost(t, Config{Key: keyC, Allow: NewAllowlist(a.ID())})

	logA, bufA := newLogger()
	var calls atomic.Int32
	Handle(a, NewAllowlist(idC), proto, logA, func(st network.Stream) {
		calls.Add(1)
		defer st.Close()
		if got := serviceOf(st); got != ServiceName {
			t.Errorf("handler stream is in service scope %q, want %q", got, ServiceName)
		}
		_, _ = io.Copy(st, st) // echo
	})

	if err := s.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatalf("S could not connect to A, whose gater allows it: %v", err)
	}
	if err := c.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatalf("C could not connect to A: %v", err)
	}
	for i := range 3 {
		st, err := OpenStream(ctx, s, a.ID(), proto)
		if err == nil {
			_ = st.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = st.Write([]byte("hello"))
			_, err = st.Read(make([]byte, 1))
			_ = st.Reset()
		}
		if !errors.Is(err, network.ErrReset) {
			t.Fatalf("attempt %d: stranger's stream was not reset (err %v)", i, err)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "A to log the refused stream", func() bool {
		return len(bufA.lines("refused stream", "peer="+idS.String())) > 0
	})

	// C is allowlisted: its stream reaches the handler, in issuemesh's scope.
	st, err := OpenStream(ctx, c, a.ID(), proto)
	if err != nil {
		t.Fatalf("allowlisted C: %v", err)
	}
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(st)
	if err != nil || string(got) != "ping" {
		t.Fatalf("echo from A: %q, %v", got, err)
	}
	if got := serviceOf(st); got != ServiceName {
		t.Errorf("opened stream is in service scope %q, want %q", got, ServiceName)
	}
	_ = st.Close()

	if n := calls.Load(); n != 1 {
		t.Errorf("handler ran %d times, want once (for C only)", n)
	}
	if n := len(bufA.lines("level=WARN", "refused stream", "peer="+idS.String())); n != 1 {
		t.Errorf("refused stream logged %d times at warn, want once:\n%s", n, bufA)
	}
}

// serviceOf returns the name of the resource-manager service owning s.
func serviceOf(s network.Stream) string {
	ms, ok := s.Scope().(network.StreamManagementScope)
	if !ok || ms.ServiceScope() == nil {
		return ""
	}
	return ms.ServiceScope().Name()
}
