package mesh

import (
	"fmt"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// clocksOK is an Engine that takes every event's clocks.
type clocksOK struct{ Engine }

func (clocksOK) CheckClocks(*replica.Event) error { return nil }
func (clocksOK) Refused(store.Blocked)            {}

// A bundle is taken whole, its events in order; one forged envelope, one
// of another author, or a malformed bundle gets the whole message rejected
// and none of its events handed on (the validator's data is what the
// receiver ingests). A bare envelope is still a message.
func TestBundleValidation(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	author, _ := peer.IDFromPrivateKey(key)
	otherKey, _, _ := crypto.GenerateEd25519Key(nil)
	other, _ := peer.IDFromPrivateKey(otherKey)
	n := New(Config{Key: key, Self: author, Engine: clocksOK{}})
	ns := &netState{id: "net1", name: "team", joined: map[peer.ID]bool{author: true, other: true}}
	validate := n.netValidator(ns)

	event := func(origin peer.ID, seq uint64) []byte {
		ev := replica.Event{V: replica.Version, ID: fmt.Sprintf("e%d", seq), Twin: fmt.Sprintf("t%d", seq), Origin: origin.String(), Seq: seq, Net: ns.id, SourceKey: "X-1"}
		ev.Replica.Set(replica.FieldSummary, replica.Value{S: fmt.Sprintf("s%d", seq), Clock: replica.Clock{Wall: 1000, Peer: origin.String()}})
		frame, err := replica.MarshalEvent(&ev)
		if err != nil {
			t.Fatal(err)
		}
		return frame
	}
	sign := func(k crypto.PrivKey, frame []byte) []byte {
		env, err := p2p.SignEvent(k, frame)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	envs := [][]byte{sign(key, event(author, 1)), sign(key, event(author, 2)), sign(key, event(author, 3))}
	check := func(name string, data []byte, want pubsub.ValidationResult, seqs ...uint64) {
		t.Helper()
		m := &pubsub.Message{Message: &pb.Message{From: []byte(author), Data: data}}
		if got := validate(t.Context(), other, m); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
		items, _ := m.ValidatorData.([]netItem)
		if len(items) != len(seqs) {
			t.Fatalf("%s: %d events handed on, want %d", name, len(items), len(seqs))
		}
		for i, it := range items {
			if it.ev.Seq != seqs[i] || string(it.env) != string(envs[i]) {
				t.Errorf("%s: event %d is seq %d, want %d with its own envelope", name, i, it.ev.Seq, seqs[i])
			}
		}
	}
	check("bundle", p2p.Bundle(envs), pubsub.ValidationAccept, 1, 2, 3)
	check("bare envelope", envs[0], pubsub.ValidationAccept, 1)

	forged := sign(otherKey, event(author, 2)) // claims author, signed by another
	check("forged envelope in a bundle", p2p.Bundle([][]byte{envs[0], forged, envs[2]}), pubsub.ValidationReject)
	theirs := sign(otherKey, event(other, 2)) // valid, but not the publisher's
	check("another author's envelope in a bundle", p2p.Bundle([][]byte{envs[0], theirs}), pubsub.ValidationReject)
	check("trailing bytes", append(p2p.Bundle(envs), 0), pubsub.ValidationReject)
	if got := ns.rejected.Load(); got != 3 {
		t.Errorf("%d messages counted as refused, want 3", got)
	}

	ns.joined = map[peer.ID]bool{other: true}
	check("bundle of a non-member", p2p.Bundle(envs), pubsub.ValidationIgnore)
}
