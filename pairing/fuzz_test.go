package pairing

import (
	"testing"

	"github.com/issuemesh/issuemesh/internal/fuzzmsg"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// FuzzPairMessages feeds the same bytes to both messages of the pair
// protocol through the bounded decoder its handler uses. make fuzz runs it.
func FuzzPairMessages(f *testing.F) {
	member := &store.Member{ID: "12D3KooWmember", Name: "m", Addrs: []string{"/ip4/127.0.0.1/tcp/1"},
		State: replica.Value{S: replica.MemberJoined, Clock: replica.Clock{Wall: 1, Peer: "p"}}}
	fuzzmsg.Seeds(f,
		&Request{V: ProtoVersion, Secret: make([]byte, SecretSize), Addrs: []string{"/ip4/127.0.0.1/tcp/1"}},
		&Response{V: ProtoVersion, OK: true, Net: &Snapshot{ID: "n", Name: "team", Members: []*store.Member{member, nil}}},
		&Response{V: ProtoVersion, Error: "unknown invitation"},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzmsg.Decode[Request](t, b)
		fuzzmsg.Decode[Response](t, b)
	})
}
