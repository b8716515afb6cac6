package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// netMember is one member in `network list --json`.
type netMember struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Self      bool   `json:"self"`
	State     string `json:"state"`
	Connected bool   `json:"connected"`
}

type netInfo struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Members []netMember `json:"members"`
}

// meshed reports whether p sees n members of network name, all joined and
// all but itself connected.
func (p *proc) meshed(name string, n int) bool {
	var infos []netInfo
	if err := p.cliJSON(&infos, "network", "list"); err != nil {
		return false
	}
	for _, ni := range infos {
		if ni.Name != name {
			continue
		}
		ok := len(ni.Members) == n
		for _, m := range ni.Members {
			ok = ok && m.State == "joined" && (m.Self || m.Connected)
		}
		return ok
	}
	return false
}

// view is what sync must make equal on every member: the fields, the
// labels as a set and the comment bodies as a multiset.
type view struct {
	Status, Priority, Description string
	Labels                        string
	Comments                      string
}

func viewOf(is issue) view {
	l := slices.Clone(is.Labels)
	slices.Sort(l)
	var cs []string
	for _, c := range is.Comments {
		cs = append(cs, c.Body)
	}
	slices.Sort(cs)
	return view{is.Status, is.Priority, is.Description, strings.Join(l, ","), strings.Join(cs, "|")}
}

// views returns a member's issues by summary, and the summaries it holds
// more than once.
func (p *proc) views() (map[string]view, []string, error) {
	var is []issue
	if err := p.cliJSON(&is, "issue", "list"); err != nil {
		return nil, nil, err
	}
	out := map[string]view{}
	var dups []string
	for _, i := range is {
		if _, ok := out[i.Summary]; ok {
			dups = append(dups, i.Summary)
		}
		out[i.Summary] = viewOf(i)
	}
	return out, dups, nil
}

// TestNetworkFiveMembersConverge: five nodes, each in its own network
// namespace on one bridge, form a network by invitations (each invited by
// the one before). Issues created on two members reach all. Then every
// member edits the same issues concurrently (status, priority, labels added
// and removed, comments); meanwhile one member is killed with SIGKILL and
// another is cut off the bridge (its link down) and edits on its own. The
// killed one is restarted and the cut one healed; in the end every member's
// tracker holds each issue exactly once with identical values and comments.
//
//	n1 10.77.0.1 ─┐
//	n2 10.77.0.2 ─┤
//	n3 10.77.0.3 ─┼─ br0 (ns br)
//	n4 10.77.0.4 ─┤
//	n5 10.77.0.5 ─┘
func TestNetworkFiveMembersConverge(t *testing.T) {
	lab := needNetlab(t)
	start := time.Now()
	br := lab.ns("br")
	lab.in(br, "ip", "link", "add", "br0", "type", "bridge")
	lab.in(br, "ip", "link", "set", "br0", "up")
	const n = 5
	nss := make([]string, n)
	nodes := make([]*proc, n)
	for i := range n {
		nss[i] = lab.ns(fmt.Sprintf("n%d", i+1))
		port := fmt.Sprintf("p%d", i+1)
		lab.link(nss[i], "eth0", fmt.Sprintf("10.77.0.%d/24", i+1), br, port, "")
		lab.in(br, "ip", "link", "set", port, "master", "br0")
		set := []string{"mdns: false", "nat_port_map: false", "reachability: public"}
		if os.Getenv("ISSUEMESH_TEST_LOGS") != "" {
			set = append(set, "log: debug")
		}
		nodes[i] = nsNode(t, fmt.Sprintf("n%d", i+1), set...)
		if dir := os.Getenv("ISSUEMESH_TEST_LOGS"); dir != "" { // whole logs, for debugging
			p := nodes[i]
			t.Cleanup(func() { os.WriteFile(filepath.Join(dir, t.Name()+"-"+p.name+".log"), []byte(p.log.String()), 0o644) })
		}
	}
	var wg sync.WaitGroup
	for i, p := range nodes {
		wg.Go(func() { p.startIn(nss[i]) })
	}
	wg.Wait()
	t.Logf("topology and %d nodes up after %v", n, time.Since(start).Round(time.Millisecond))

	// The network: n1 creates it, each next node is invited by the one
	// before (so the membership spreads by events, not by one inviter).
	nodes[0].mustCLI("network", "create", "team")
	for i := 1; i < n; i++ {
		code := trim(nodes[i-1].mustCLI("network", "invite", "team", "--name", nodes[i].name, "--ttl", "5m"))
		if out := nodes[i].mustCLI("accept", code); !strings.Contains(out, "joined network team") {
			t.Fatalf("accept on %s printed %q", nodes[i].name, out)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "every member sees 5 joined members, connected", func() bool {
		for _, p := range nodes {
			if !p.meshed("team", n) {
				return false
			}
		}
		return true
	})
	t.Logf("network of %d formed after %v", n, time.Since(start).Round(time.Millisecond))

	summaries := []string{"printer on fire", "login broken", "coffee machine empty"}
	keys := make([]map[string]string, n) // per node: summary -> key
	nodes[0].mustCLI("issue", "create", "--summary", summaries[0], "--label", "hw", "--label", "urgent")
	nodes[1].mustCLI("issue", "create", "--summary", summaries[1], "--label", "auth")
	nodes[4].mustCLI("issue", "create", "--summary", summaries[2])
	testutil.WaitFor(t, 20*time.Second, "every member has the 3 issues", func() bool {
		for i, p := range nodes {
			is := p.issues()
			keys[i] = map[string]string{}
			for _, x := range is {
				keys[i][x.Summary] = x.Key
			}
			if len(keys[i]) != len(summaries) {
				return false
			}
		}
		return true
	})
	t.Logf("issues everywhere after %v", time.Since(start).Round(time.Millisecond))

	// Concurrent edits on every member: the same fields of the same issues.
	// edited is told after each member's first edit of a round.
	edit := func(i, round int, edited func()) {
		p := nodes[i]
		for j, s := range summaries {
			if j == 1 {
				edited()
			}
			key := keys[i][s]
			args := []string{"issue", "edit", key, "--status", fmt.Sprintf("S%d-%d", round, i+1)}
			if (i+j)%2 == 0 {
				args = append(args, "--priority", fmt.Sprintf("P%d", i+1))
			}
			// Labels: each member keeps what it sees, adds its own and
			// removes the label of the member before it.
			var cur issue
			cur, err := p.issue(key)
			if err != nil {
				t.Errorf("%s: %v", p.name, err)
				return
			}
			labels := map[string]bool{fmt.Sprintf("m%d-r%d", i+1, round): true}
			for _, l := range cur.Labels {
				if l != fmt.Sprintf("m%d-r%d", i, round) {
					labels[l] = true
				}
			}
			for _, l := range slices.Sorted(maps.Keys(labels)) {
				args = append(args, "--label", l)
			}
			if _, err := p.cli(args...); err != nil {
				t.Errorf("edit on %s: %v", p.name, err)
			}
			if _, err := p.cli("issue", "comment", key, "--body", fmt.Sprintf("comment by %s in round %d", p.name, round)); err != nil {
				t.Errorf("comment on %s: %v", p.name, err)
			}
		}
	}
	round := func(r int, who []int, during func()) {
		var wg sync.WaitGroup
		var once sync.Once
		for _, i := range who {
			wg.Go(func() { edit(i, r, func() { once.Do(during) }) })
		}
		wg.Wait()
	}
	nothing := func() {}
	round(1, []int{0, 1, 2, 3, 4}, nothing)
	// n3 is killed (SIGKILL) while the others edit; then n4 is cut off the
	// bridge, and the connected majority and n4 edit on their own.
	round(2, []int{0, 1, 3, 4}, func() { nodes[2].kill() })
	lab.in(br, "ip", "link", "set", "p4", "down")
	t.Logf("n3 killed and n4 cut off after %v", time.Since(start).Round(time.Millisecond))
	round(3, []int{0, 1, 4}, nothing)
	testutil.WaitFor(t, 20*time.Second, "the connected majority agrees without n3 and n4", func() bool {
		return sameViews(t, nodes[0], nodes[1], nodes[4]) != nil
	})
	round(4, []int{3}, nothing)
	// n4 comes back, then n3, which edits at once.
	lab.in(br, "ip", "link", "set", "p4", "up")
	nodes[2].startIn(nss[2])
	t.Logf("n4 healed and n3 restarted after %v", time.Since(start).Round(time.Millisecond))
	round(5, []int{1, 2}, nothing)

	var final map[string]view
	testutil.WaitFor(t, 45*time.Second, "every member holds every issue once, with the same values", func() bool {
		final = sameViews(t, nodes...)
		return final != nil && len(final) == len(summaries)
	})
	t.Logf("converged after %v", time.Since(start).Round(time.Millisecond))
	for _, s := range summaries {
		v := final[s]
		t.Logf("%s: %+v", s, v)
		// Every comment of the five rounds survived.
		want := 5 + 4 + 3 + 1 + 2
		if got := strings.Count(v.Comments, "comment by"); got != want {
			t.Errorf("%s has %d comments, want %d", s, got, want)
		}
	}
}

// sameViews returns the members' common issues by summary, or nil while
// they differ. A member holding an issue twice fails the test.
func sameViews(t *testing.T, members ...*proc) map[string]view {
	t.Helper()
	var first map[string]view
	for _, p := range members {
		v, dups, err := p.views()
		if len(dups) > 0 {
			t.Fatalf("%s holds %v more than once", p.name, dups)
		}
		if err != nil {
			return nil
		}
		if first == nil {
			first = v
		} else if !maps.Equal(v, first) {
			return nil
		}
	}
	return first
}
