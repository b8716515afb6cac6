package p2p

import (
	"fmt"
	"net"
	"strings"

	manet "github.com/multiformats/go-multiaddr/net"
)

// TestPublicEnv names the environment variable that the issuemesh command
// reads at start: a comma-separated list of IPv4 CIDRs that go-libp2p should
// treat as public internet addresses (see TreatAsPublic). It exists only for
// the NAT tests, whose simulated internet uses 198.18.0.0/15; never set it on
// a real node.
const TestPublicEnv = "ISSUEMESH_TEST_PUBLIC_CIDRS"

// TreatAsPublic removes the private and unroutable IPv4 ranges inside each
// of cidrs from go-multiaddr's lists (manet.Private4, manet.Unroutable4), so
// that manet.IsPublicAddr accepts addresses in them. go-libp2p starts hole
// punching and advertises relay addresses only for public addresses, so a
// test network in a reserved range (e.g. 198.18.0.0/15) needs this.
//
// It changes process-wide state: call it once at program start, before any
// host exists. Only for tests; see TestPublicEnv. A CIDR that lies strictly
// inside a larger listed range is refused (the range cannot be split).
func TreatAsPublic(cidrs ...string) error {
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		_, want, err := net.ParseCIDR(c)
		if err != nil {
			return fmt.Errorf("%s: %q is not a CIDR: %w", TestPublicEnv, c, err)
		}
		if want.IP.To4() == nil {
			return fmt.Errorf("%s: %q is not an IPv4 CIDR", TestPublicEnv, c)
		}
		private, unroutable := withoutRange(manet.Private4, want), withoutRange(manet.Unroutable4, want)
		for _, list := range [][]*net.IPNet{private, unroutable} {
			for _, n := range list {
				if n.Contains(want.IP) {
					return fmt.Errorf("%s: %s lies inside the reserved range %s, which cannot be split", TestPublicEnv, want, n)
				}
			}
		}
		manet.Private4, manet.Unroutable4 = private, unroutable
	}
	return nil
}

// withoutRange returns a copy of list without the ranges that lie inside
// want.
func withoutRange(list []*net.IPNet, want *net.IPNet) []*net.IPNet {
	out := make([]*net.IPNet, 0, len(list))
	wantOnes, _ := want.Mask.Size()
	for _, n := range list {
		if ones, _ := n.Mask.Size(); want.Contains(n.IP) && ones >= wantOnes {
			continue
		}
		out = append(out, n)
	}
	return out
}
