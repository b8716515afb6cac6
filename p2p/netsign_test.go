package p2p

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSignedEventEnvelope(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := crypto.GenerateEd25519Key(nil)
	author, _ := peer.IDFromPrivateKey(key)
	impostor, _ := peer.IDFromPrivateKey(other)
	frame := []byte("an event frame")
	env, err := SignEvent(key, frame)
	if err != nil {
		t.Fatal(err)
	}
	got, sig, err := OpenEvent(env)
	if err != nil || string(got) != string(frame) {
		t.Fatalf("OpenEvent = %q, %v", got, err)
	}
	if err := VerifyEvent(author, got, sig); err != nil {
		t.Fatalf("the author's own signature: %v", err)
	}
	if err := VerifyEvent(impostor, got, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another author: %v, want ErrBadSignature", err)
	}
	tampered := append([]byte(nil), env...)
	tampered[len(tampered)-1] ^= 1
	f2, s2, _ := OpenEvent(tampered)
	if err := VerifyEvent(author, f2, s2); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a changed frame: %v, want ErrBadSignature", err)
	}
	for _, bad := range [][]byte{nil, frame, []byte("IMS1"), []byte("IMS1\x00"), []byte("IMS1\xff\xff\xff\xff\x0f"), []byte("IMS1\x40short")} {
		if _, _, err := OpenEvent(bad); !errors.Is(err, ErrNotEnvelope) {
			t.Errorf("OpenEvent(%q) = %v, want ErrNotEnvelope", bad, err)
		}
	}
}

func TestPenaltiesDecay(t *testing.T) {
	now := time.Unix(1000, 0)
	p := NewPenalties(func() time.Time { return now })
	id := peer.ID("x")
	if p.Score(id) != 0 {
		t.Fatal("a new peer has a score")
	}
	p.Add(id, ForgeryPenalty)
	if s := p.Score(id); s != ForgeryPenalty || s >= GraylistThreshold {
		t.Fatalf("score %v after one forgery, want %v (below the graylist)", s, float64(ForgeryPenalty))
	}
	now = now.Add(60 * time.Second)
	if s := p.Score(id); s >= GraylistThreshold || s <= ForgeryPenalty {
		t.Fatalf("score %v a minute later: decaying, still graylisted", s)
	}
	now = now.Add(time.Hour)
	if s := p.Score(id); s != 0 {
		t.Fatalf("score %v an hour later, want 0", s)
	}
	var none *Penalties
	if none.Score(id) != 0 {
		t.Fatal("nil Penalties score")
	}
}

// A peer penalised in this node's own score (a forger) is below the
// graylist in gossipsub's score too.
func TestPubSubCountsPenalties(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	allowA, allowB := NewAllowlist(), NewAllowlist()
	a, b := loopbackHost(t, allowA), loopbackHost(t, allowB)
	allowA.Add(b.ID())
	allowB.Add(a.ID())
	pen := NewPenalties(nil)
	var scoreB atomic.Value
	if _, err := NewPubSubScored(ctx, a, allowA, pen, nil, pubsub.WithPeerScoreInspect(func(m map[peer.ID]float64) {
		if s, ok := m[b.ID()]; ok {
			scoreB.Store(s)
		}
	}, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPubSub(ctx, b, allowB, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	pen.Add(b.ID(), ForgeryPenalty)
	for {
		if s, ok := scoreB.Load().(float64); ok && s < GraylistThreshold {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gossipsub's score of B is %v, want below %d", scoreB.Load(), GraylistThreshold)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// FuzzOpenEvent: any input opens or is refused, without panicking, and an
// envelope that opens holds its parts within the input.
func FuzzOpenEvent(f *testing.F) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	env, _ := SignEvent(key, []byte("frame"))
	f.Add(env)
	f.Add([]byte("IMS1"))
	f.Add([]byte("IMS1\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, sig, err := OpenEvent(b)
		if err != nil {
			return
		}
		if len(sig) == 0 || len(sig) > MaxSignature || len(frame)+len(sig) > len(b) {
			t.Fatalf("opened %d-byte input into a %d-byte frame and %d-byte signature", len(b), len(frame), len(sig))
		}
		id, _ := peer.IDFromPrivateKey(key)
		_ = VerifyEvent(id, frame, sig)
	})
}

// BenchmarkSignVerifyEvent: what signing and verifying a 1 KiB event
// costs (one sign at the author, one verification per member).
func BenchmarkSignVerifyEvent(b *testing.B) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPrivateKey(key)
	frame := make([]byte, 1024)
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := SignEvent(key, frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	env, _ := SignEvent(key, frame)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			f, s, err := OpenEvent(env)
			if err != nil || VerifyEvent(id, f, s) != nil {
				b.Fatal("does not verify")
			}
		}
	})
}

func TestBundle(t *testing.T) {
	envs := [][]byte{[]byte("IMS1 one"), []byte("IMS1 two"), make([]byte, 300)}
	b := Bundle(envs)
	if !IsBundle(b) || IsEnvelope(b) {
		t.Fatal("a bundle is not told apart from an envelope")
	}
	got, err := OpenBundle(b)
	if err != nil || len(got) != len(envs) {
		t.Fatalf("OpenBundle = %d envelopes, %v", len(got), err)
	}
	for i := range envs {
		if string(got[i]) != string(envs[i]) {
			t.Errorf("envelope %d = %q, want %q", i, got[i], envs[i])
		}
	}
	for _, bad := range [][]byte{nil, envs[0], []byte("IMB1"), []byte("IMB1\x00"), []byte("IMB1\x01"), []byte("IMB1\x01\x00"),
		[]byte("IMB1\x01\x05abc"), []byte("IMB1\x02\x01a"), append(b, 'x'), []byte("IMB1\x81\x08\x01a")} {
		if _, err := OpenBundle(bad); !errors.Is(err, ErrNotBundle) {
			t.Errorf("OpenBundle(%q) = %v, want ErrNotBundle", bad, err)
		}
	}
}
