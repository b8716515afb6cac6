package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// Network namespaces for the NAT and LAN tests. Each test builds its own
// topology of namespaces named with a random per-run prefix, runs every node
// as its own process inside one (`ip netns exec NS issuemesh run`: setns
// affects one thread only, so a Go program cannot enter a namespace
// itself), and deletes the namespaces in t.Cleanup, also when it fails.
// The admin socket lives in the node's home, so the command line reaches a
// node from the root namespace.

// testPublicRange is the simulated internet. go-libp2p regards 198.18.0.0/15
// as unroutable, and starts hole punching and advertises relay addresses
// only for public addresses, so the node processes get the hidden test knob
// ISSUEMESH_TEST_PUBLIC_CIDRS (p2p.TestPublicEnv) to treat it as public.
const testPublicRange = "198.18.0.0/15"

// netlab is one test's set of network namespaces.
type netlab struct {
	t      *testing.T
	prefix string
	nss    []string
}

// needNetlab skips the test unless it runs as root with ip and iptables.
func needNetlab(t *testing.T, tools ...string) *netlab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run the suite as root, e.g. make test in CI)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: install it (apt-get install iproute2 iptables conntrack; scripts/test.sh does as root)", tool)
		}
	}
	b := make([]byte, 3)
	rand.Read(b)
	l := &netlab{t: t, prefix: "im" + hex.EncodeToString(b)}
	t.Cleanup(l.cleanup)
	return l
}

func (l *netlab) cleanup() {
	for i := len(l.nss) - 1; i >= 0; i-- {
		// Deleting a namespace removes its interfaces, bridges and rules.
		if out, err := exec.Command("ip", "netns", "del", l.nss[i]).CombinedOutput(); err != nil {
			l.t.Logf("ip netns del %s: %v: %s", l.nss[i], err, out)
		}
	}
}

// run runs a command and fails the test if it fails.
func (l *netlab) run(args ...string) {
	l.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// in runs a command inside namespace ns.
func (l *netlab) in(ns string, args ...string) {
	l.t.Helper()
	l.run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// ns creates a namespace with loopback up and returns its full name.
func (l *netlab) ns(name string) string {
	l.t.Helper()
	full := l.prefix + "-" + name
	l.run("ip", "netns", "add", full)
	l.nss = append(l.nss, full)
	l.in(full, "ip", "link", "set", "lo", "up")
	return full
}

// link connects ns1 and ns2 by a veth pair with the given interface names
// and addresses (CIDR; empty: none), and brings both ends up.
func (l *netlab) link(ns1, if1, addr1, ns2, if2, addr2 string) {
	l.t.Helper()
	l.run("ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2)
	for _, e := range []struct{ ns, ifc, addr string }{{ns1, if1, addr1}, {ns2, if2, addr2}} {
		if e.addr != "" {
			l.in(e.ns, "ip", "addr", "add", e.addr, "dev", e.ifc)
		}
		l.in(e.ns, "ip", "link", "set", e.ifc, "up")
	}
}

// router makes ns a NAT router: forwarding on, MASQUERADE out of wan, and
// unsolicited packets from the WAN dropped silently (a home router; without
// it TCP punches get RST and hole punching fails, see NOTES.md).
func (l *netlab) router(ns string) {
	l.t.Helper()
	l.in(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.in(ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE")
	l.in(ns, "iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP")
}

// symmetric turns ns's NAT into a symmetric one (a random port per
// destination), where hole punching fails, and forgets its mappings.
func (l *netlab) symmetric(ns string) {
	l.t.Helper()
	l.in(ns, "iptables", "-t", "nat", "-R", "POSTROUTING", "1", "-o", "wan", "-j", "MASQUERADE", "--random-fully")
	l.in(ns, "conntrack", "-F")
}

// nsNode initialises a node home that listens on TCP and QUIC port 4001 on
// every interface, with the given config changes ("key: value" lines
// replacing the defaults).
func nsNode(t *testing.T, name string, set ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, home: filepath.Join(t.TempDir(), name), log: &lockedBuffer{}}
	p.mustCLI("init", "--listen", "/ip4/0.0.0.0/tcp/4001", "--listen", "/ip4/0.0.0.0/udp/4001/quic-v1")
	path := filepath.Join(p.home, "config.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, kv := range set {
		key := kv[:strings.Index(kv, ":")+1]
		i := strings.Index(cfg, "\n"+key)
		if i < 0 {
			t.Fatalf("config.yaml of %s has no %q line:\n%s", name, key, cfg)
		}
		end := strings.Index(cfg[i+1:], "\n") + i + 1
		cfg = cfg[:i+1] + kv + cfg[end:]
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", p.name, tail(p.log.String(), 80))
		}
	})
	return p
}

// startIn runs the node inside namespace ns and waits until it answers.
func (p *proc) startIn(ns string, env ...string) {
	p.t.Helper()
	p.mu.Lock()
	cmd := exec.Command("ip", "netns", "exec", ns, binary, "--home", p.home, "run")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		p.t.Fatalf("start %s in %s: %v", p.name, ns, err)
	}
	p.cmd = cmd // ip netns exec execs the binary: same process
	exited := make(chan struct{})
	p.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	p.mu.Unlock()
	testutil.WaitFor(p.t, 20*time.Second, p.name+" runs", func() bool {
		select {
		case <-exited:
			p.t.Fatalf("%s exited:\n%s", p.name, tail(p.log.String(), 30))
		default:
		}
		var st struct{ Running bool }
		return p.cliJSON(&st, "status") == nil && st.Running
	})
}

// peerInfo is one entry of `peer list --json`.
type peerInfo struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Addrs     []string `json:"addrs"`
	Connected bool     `json:"connected"`
	Relayed   bool     `json:"relayed"`
	Via       string   `json:"via"`
	LatencyMS float64  `json:"latency_ms"`
}

func (p *proc) peerState(id string) peerInfo {
	p.t.Helper()
	var ps []peerInfo
	if err := p.cliJSON(&ps, "peer", "list"); err != nil {
		p.t.Fatal(err)
	}
	for _, pi := range ps {
		if pi.ID == id {
			return pi
		}
	}
	return peerInfo{}
}

// natStatus is the nat part of `status --json`.
type natStatus struct {
	Reachability string `json:"reachability"`
	HolePunching bool   `json:"hole_punching"`
	Reservations []struct {
		ID string `json:"id"`
	} `json:"reservations"`
	Relaying []struct {
		ID string `json:"id"`
	} `json:"relaying"`
}

type nodeStatus struct {
	Running bool      `json:"running"`
	Addrs   []string  `json:"addrs"`
	NAT     natStatus `json:"nat"`
}

func (p *proc) status() nodeStatus {
	p.t.Helper()
	var st nodeStatus
	if err := p.cliJSON(&st, "status"); err != nil {
		p.t.Fatal(err)
	}
	return st
}

// reachableVia reports whether the node holds a relay reservation on relay
// and is ready to hole punch (it knows a public address of its own and
// advertises a circuit address).
func (p *proc) reachableVia(relay string) bool {
	st := p.status()
	hasRes, hasCircuit := false, false
	for _, r := range st.NAT.Reservations {
		hasRes = hasRes || r.ID == relay
	}
	for _, a := range st.Addrs {
		hasCircuit = hasCircuit || strings.Contains(a, "/p2p/"+relay+"/p2p-circuit")
	}
	return hasRes && hasCircuit && st.NAT.HolePunching
}

// TestNATHolePunchThenRelay: a public node and two nodes behind their own
// NAT routers. The NATed nodes know the public node's address and each
// other's peer ID only. They reserve relay slots on the public node, learn
// each other's relay address from it (address exchange), connect through
// it, hole punch to a direct connection and sync both ways. Then the
// routers become symmetric NATs (hole punching fails) and, with fresh
// connections, the two still sync through the relay.
//
//	      pub 198.18.0.10 ─┐
//	                       br0 (ns inet): the "internet", 198.18.0.0/15
//	rA wan 198.18.0.20 ────┤                 ├──── rB wan 198.18.0.30
//	rA lan 10.0.1.1        │                       rB lan 10.0.2.1
//	a 10.0.1.2 ─ rA                                rB ─ b 10.0.2.2
func TestNATHolePunchThenRelay(t *testing.T) {
	lab := needNetlab(t, "iptables", "conntrack")
	start := time.Now()
	inet := lab.ns("inet")
	lab.in(inet, "ip", "link", "add", "br0", "type", "bridge")
	lab.in(inet, "ip", "link", "set", "br0", "up")
	pubNS, raNS, rbNS, aNS, bNS := lab.ns("pub"), lab.ns("ra"), lab.ns("rb"), lab.ns("a"), lab.ns("b")
	for _, w := range []struct{ ns, ifc, addr, port string }{
		{pubNS, "eth0", "198.18.0.10/15", "p-pub"},
		{raNS, "wan", "198.18.0.20/15", "p-ra"},
		{rbNS, "wan", "198.18.0.30/15", "p-rb"},
	} {
		lab.link(w.ns, w.ifc, w.addr, inet, w.port, "")
		lab.in(inet, "ip", "link", "set", w.port, "master", "br0")
	}
	lab.link(raNS, "lan", "10.0.1.1/24", aNS, "eth0", "10.0.1.2/24")
	lab.link(rbNS, "lan", "10.0.2.1/24", bNS, "eth0", "10.0.2.2/24")
	lab.in(aNS, "ip", "route", "add", "default", "via", "10.0.1.1")
	lab.in(bNS, "ip", "route", "add", "default", "via", "10.0.2.1")
	lab.router(raNS)
	lab.router(rbNS)
	t.Logf("topology built in %v", time.Since(start).Round(time.Millisecond))

	quiet := []string{"mdns: false", "nat_port_map: false"}
	pub := nsNode(t, "pub", append(quiet, "reachability: public")...)
	a := nsNode(t, "a", append(quiet, "reachability: private")...)
	b := nsNode(t, "b", append(quiet, "reachability: private")...)
	idPub, idA, idB := pub.peerID(), a.peerID(), b.peerID()
	// The public node allowlists A and B by ID (they dial it); A and B know
	// its address. None of this needs the nodes running.
	pub.mustCLI("peer", "add", "/p2p/"+idA, "--name", "a")
	pub.mustCLI("peer", "add", "/p2p/"+idB, "--name", "b")
	a.mustCLI("peer", "add", "/ip4/198.18.0.10/tcp/4001/p2p/"+idPub, "--name", "pub")
	b.mustCLI("peer", "add", "/ip4/198.18.0.10/tcp/4001/p2p/"+idPub, "--name", "pub")

	env := "ISSUEMESH_TEST_PUBLIC_CIDRS=" + testPublicRange
	pub.startIn(pubNS, env)
	a.startIn(aNS, env)
	b.startIn(bNS, env)
	// DCUtR needs each side to know its public (observed) address first,
	// or the first punch is missed (NOTES.md).
	testutil.WaitFor(t, 30*time.Second, "A and B hold relay slots on pub and can hole punch", func() bool {
		return a.reachableVia(idPub) && b.reachableVia(idPub)
	})
	if st := pub.status(); len(st.NAT.Relaying) != 2 || st.NAT.Reachability != "public" {
		t.Fatalf("pub's NAT status: %+v, want public and relaying for A and B", st.NAT)
	}
	t.Logf("relay slots reserved after %v", time.Since(start).Round(time.Millisecond))
	// The metrics say the same: pub serves two reservations, A holds one.
	if v := testutil.MetricValue(pub.adminMetrics(), "issuemesh_relay_reservations_served", nil); v != 2 {
		t.Errorf("pub's issuemesh_relay_reservations_served = %v, want 2", v)
	}
	if v := testutil.MetricValue(a.adminMetrics(), "issuemesh_relay_reservations", nil); v != 1 {
		t.Errorf("A's issuemesh_relay_reservations = %v, want 1", v)
	}

	// Each knows only the other's peer ID.
	a.mustCLI("peer", "add", "/p2p/"+idB, "--name", "b")
	b.mustCLI("peer", "add", "/p2p/"+idA, "--name", "a")
	testutil.WaitFor(t, 30*time.Second, "A and B connected directly (hole punched)", func() bool {
		pa, pb := a.peerState(idB), b.peerState(idA)
		return pa.Connected && !pa.Relayed && pb.Connected && !pb.Relayed
	})
	t.Logf("hole punched after %v: A reaches B via %s", time.Since(start).Round(time.Millisecond), a.peerState(idB).Via)
	syncBothWays(t, a, b, "direct")

	// Symmetric NATs: hole punching cannot work; fresh connections.
	a.stop()
	b.stop()
	lab.symmetric(raNS)
	lab.symmetric(rbNS)
	a.startIn(aNS, env)
	b.startIn(bNS, env)
	testutil.WaitFor(t, 45*time.Second, "A and B connected again, through the relay", func() bool {
		pa, pb := a.peerState(idB), b.peerState(idA)
		return pa.Connected && pb.Connected
	})
	syncBothWays(t, a, b, "relayed")
	pa, pb := a.peerState(idB), b.peerState(idA)
	if !pa.Relayed || !pb.Relayed {
		t.Fatalf("behind symmetric NATs A and B are connected directly (A: %+v, B: %+v); the test's NAT is not symmetric", pa, pb)
	}
	if !strings.Contains(pa.Via, "/p2p-circuit") {
		t.Errorf("A reaches B via %q, want a relay address", pa.Via)
	}
	if v := testutil.MetricValue(a.adminMetrics(), "issuemesh_peers_connected", map[string]string{"path": "relayed"}); v < 1 {
		t.Errorf("A's issuemesh_peers_connected{path=relayed} = %v, want B (at least 1)", v)
	}
	t.Logf("synced through the relay after %v", time.Since(start).Round(time.Millisecond))
}

// syncBothWays creates an issue on a, waits for it on b, edits it on b and
// waits for the edit on a.
func syncBothWays(t *testing.T, a, b *proc, tag string) {
	t.Helper()
	summary := fmt.Sprintf("%s: printer on fire", tag)
	key := trim(a.mustCLI("issue", "create", "--summary", summary))
	var onB issue
	testutil.WaitFor(t, 20*time.Second, "the "+tag+" issue reaches "+b.name, func() bool {
		is, ok := b.findBySummary(summary)
		onB = is
		return ok
	})
	b.mustCLI("issue", "edit", onB.Key, "--status", "Resolved")
	testutil.WaitFor(t, 20*time.Second, b.name+"'s edit of the "+tag+" issue reaches "+a.name, func() bool {
		is, err := a.issue(key)
		return err == nil && is.Status == "Resolved"
	})
}
