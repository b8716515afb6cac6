package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestMDNSFindsPeerOnLAN: two nodes on one LAN (two namespaces joined by a
// veth pair: loopback has no multicast here) know only each other's peer
// ID. mDNS finds the addresses, they connect and sync, and each remembers
// the other's LAN address, so a restarted node reconnects without help.
func TestMDNSFindsPeerOnLAN(t *testing.T) {
	lab := needNetlab(t)
	n1, n2 := lab.ns("lan1"), lab.ns("lan2")
	lab.link(n1, "eth0", "10.99.0.1/24", n2, "eth0", "10.99.0.2/24")

	a := nsNode(t, "a", "nat_port_map: false", "mdns: true")
	b := nsNode(t, "b", "nat_port_map: false", "mdns: true")
	idA, idB := a.peerID(), b.peerID()
	a.mustCLI("peer", "add", "/p2p/"+idB, "--name", "b")
	b.mustCLI("peer", "add", "/p2p/"+idA, "--name", "a")
	a.startIn(n1)
	b.startIn(n2)
	testutil.WaitFor(t, 20*time.Second, "A and B found each other by mDNS and connected", func() bool {
		return a.peerState(idB).Connected && b.peerState(idA).Connected
	})
	if out := a.mustCLI("status"); !strings.Contains(out, "mDNS on") {
		t.Errorf("status does not say mDNS is on:\n%s", out)
	}
	syncBothWays(t, a, b, "lan")
	testutil.WaitFor(t, 10*time.Second, "A remembers B's LAN address", func() bool {
		return strings.Contains(strings.Join(a.peerState(idB).Addrs, " "), "/ip4/10.99.0.2/tcp/4001")
	})

	// B restarts: same peer ID, and A and B reconnect on their own.
	b.stop()
	testutil.WaitFor(t, 10*time.Second, "A sees B gone", func() bool { return !a.peerState(idB).Connected })
	b.startIn(n2)
	if got := b.peerID(); got != idB {
		t.Fatalf("B's peer ID changed across a restart: %s then %s", idB, got)
	}
	testutil.WaitFor(t, 20*time.Second, "A and B reconnected", func() bool {
		return a.peerState(idB).Connected && b.peerState(idA).Connected
	})
	syncBothWays(t, b, a, "after restart")
}

// TestInviteAcceptCLI: B accepts A's invitation code; both end up
// allowlisted under the given names, connected, and syncing. The code is
// single use: C is refused with a clear message, and so is a garbled code.
func TestInviteAcceptCLI(t *testing.T) {
	a, b, c := newNode(t, "alice"), newNode(t, "bob"), newNode(t, "carol")
	a.start()
	b.start()
	c.start()
	code := trim(a.mustCLI("invite", "--name", "bob", "--ttl", "10m"))
	if !strings.HasPrefix(code, "im1") || strings.ContainsAny(code, " \n") {
		t.Fatalf("invite printed %q, want one im1... code", code)
	}
	if !strings.Contains(a.mustCLI("status"), "open invitations: 1") {
		t.Errorf("status does not show the open invitation:\n%s", a.mustCLI("status"))
	}
	out := b.mustCLI("accept", code, "--name", "alice")
	if !strings.Contains(out, a.peerID()) || !strings.Contains(out, "alice") {
		t.Fatalf("accept printed %q", out)
	}
	testutil.WaitFor(t, 10*time.Second, "both list each other by name, connected", func() bool {
		pa, pb := a.peerState(b.peerID()), b.peerState(a.peerID())
		return pa.Name == "bob" && pa.Connected && pb.Name == "alice" && pb.Connected
	})
	syncBothWays(t, a, b, "invited")

	_, err := c.cli("accept", code)
	if err == nil || !strings.Contains(err.Error(), "already used or has expired") {
		t.Fatalf("reused code: %v, want a refusal that says the code was used or expired", err)
	}
	_, err = c.cli("accept", code[:len(code)-4]+"aaaa")
	if err == nil || !strings.Contains(err.Error(), "not a valid invitation code") {
		t.Fatalf("garbled code: %v, want 'not a valid invitation code'", err)
	}
	// B retrying the code it used is told so by A.
	_, err = b.cli("accept", code)
	if err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("B reusing its code: %v, want 'already used'", err)
	}
	var ps []peerInfo
	if err := c.cliJSON(&ps, "peer", "list"); err != nil || len(ps) != 0 {
		t.Fatalf("a refused acceptor has peers: %+v, %v", ps, err)
	}

	// peer remove: A forgets B.
	out = a.mustCLI("peer", "remove", "bob")
	if !strings.Contains(out, "removed peer "+b.peerID()) {
		t.Fatalf("peer remove printed %q", out)
	}
	testutil.WaitFor(t, 10*time.Second, "B sees A gone", func() bool { return !b.peerState(a.peerID()).Connected })
}
