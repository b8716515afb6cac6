package node

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/issuemesh/issuemesh/p2p"
)

// newRawHost is a bare libp2p host (not a node) that allowlists a, for
// speaking the protocols by hand.
func newRawHost(t *testing.T, a *testNode) host.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.NewHost(p2p.Config{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Allow: p2p.NewAllowlist(a.ID()), Reachability: "private"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
