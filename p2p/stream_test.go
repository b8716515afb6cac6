package p2p

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

const testProto = "/issuemesh/test/1.0.0"

// streamPair gives two linked in-memory hosts; the second answers
// testProto streams with serve.
func streamPair(t *testing.T, serve func(network.Stream)) (host.Host, host.Host) {
	t.Helper()
	mn, err := mocknet.FullMeshConnected(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	hs := mn.Hosts()
	hs[1].SetStreamHandler(testProto, serve)
	return hs[0], hs[1]
}

func TestExchangeEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantEOF bool
	}{
		{"success closes", nil, true},
		{"failure resets", errors.New("exchange failed"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan error, 1)
			started := make(chan struct{})
			a, b := streamPair(t, func(s network.Stream) {
				if _, err := io.ReadFull(s, make([]byte, 5)); err != nil {
					got <- err
					return
				}
				close(started)
				_, err := io.ReadAll(s)
				got <- err
				_ = s.Close()
			})
			x, err := Dial(context.Background(), a, b.ID(), testProto)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			select { // the peer has the stream before it ends
			case <-started:
			case err := <-got:
				t.Fatalf("the peer's first read failed: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the peer never read the first bytes")
			}
			err = tc.err
			x.End(&err)
			select {
			case rerr := <-got:
				if (rerr == nil) != tc.wantEOF {
					t.Fatalf("peer's read ended with %v, want clean end %v", rerr, tc.wantEOF)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the peer's read did not end")
			}
		})
	}
}

func TestExchangeContext(t *testing.T) {
	t.Run("end resets a blocked read", func(t *testing.T) {
		a, b := streamPair(t, func(s network.Stream) {}) // never answers
		ctx, cancel := context.WithCancel(context.Background())
		x, err := Dial(ctx, a, b.ID(), testProto)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Reset() // not End: a failed test must not wait on a blocked read
		read := make(chan error, 1)
		go func() {
			_, err := x.Read(make([]byte, 1))
			read <- err
		}()
		cancel()
		select {
		case err = <-read:
			if err == nil {
				t.Fatal("read returned no error after the context ended")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a read blocked on a silent peer did not end with the context")
		}
	})
	t.Run("deadline ends a blocked read", func(t *testing.T) {
		a, b := streamPair(t, func(s network.Stream) {})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		x, err := Dial(ctx, a, b.ID(), testProto)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Reset() // not End: a failed test must not wait on a blocked read
		read := make(chan error, 1)
		go func() {
			_, err := x.Read(make([]byte, 1))
			read <- err
		}()
		select {
		case err = <-read:
			if err == nil {
				t.Fatal("read returned no error past the deadline")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a read blocked on a silent peer did not end at the context's 50ms deadline")
		}
	})
}
