package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/p2p"
)

// Peers: peer add|list|remove, invite, accept.

// init applies the hidden test knob p2p.TestPublicEnv (ISSUEMESH_TEST_PUBLIC_CIDRS):
// IPv4 ranges that the NAT tests' simulated internet uses and that
// go-libp2p must treat as public. It must run before any libp2p host
// exists, hence at process start. Never set it on a real node.
func init() {
	if v := os.Getenv(p2p.TestPublicEnv); v != "" {
		if err := p2p.TreatAsPublic(strings.Split(v, ",")...); err != nil {
			fmt.Fprintln(os.Stderr, "issuemesh:", err)
			os.Exit(2)
		}
	}
}

func peerCommands() []*cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return []*cli.Command{
		{
			Name:  "peer",
			Usage: "manage peers",
			Subcommands: []*cli.Command{
				{
					Name: "add", Usage: "allowlist a peer and sync every issue with it; a bare /p2p/<peer ID> is found by mDNS or by other peers",
					ArgsUsage: "MULTIADDR",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "name", Usage: "a name for the peer"},
						&cli.BoolFlag{Name: "wait", Usage: "wait until the first sync with the peer is acked (a progress bar on a terminal); the node must be running"},
						&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "with --wait: how long to wait before giving up (the peer stays added)"},
					},
					Action: cmdPeerAdd,
				},
				{Name: "list", Usage: "list peers: addresses, connection (direct or relayed), latency", Flags: []cli.Flag{jsonFlag}, Action: cmdPeerList},
				{
					Name: "remove", Usage: "forget a peer: un-allowlist, disconnect, drop its queued events; its twins stay, unsynced",
					ArgsUsage: "PEER", Flags: []cli.Flag{jsonFlag}, Action: cmdPeerRemove,
				},
			},
		},
		{
			Name:  "invite",
			Usage: "print a single-use invitation code for another node to accept",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Usage: "the name the accepting peer gets here"},
				&cli.DurationFlag{Name: "ttl", Value: 24 * time.Hour, Usage: "how long the code can be accepted"},
				jsonFlag,
			},
			Action: cmdInvite,
		},
		{
			Name:      "accept",
			Usage:     "accept an invitation: pair with the inviter, or join the network of a network's code (the node must be running)",
			ArgsUsage: "CODE",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "name", Usage: `the name the inviter gets here (default "inviter")`}, jsonFlag},
			Action:    cmdAccept,
		},
	}
}

func cmdPeerAdd(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("peer add takes one MULTIADDR, e.g. /ip4/192.0.2.7/tcp/4001/p2p/<peer ID>, or /p2p/<peer ID>")
	}
	var p struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := call(c, "POST", "/v1/peers", api.PeerInput{Addr: c.Args().First(), Name: c.String("name")}, &p); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "added peer %s %s\n", p.ID, p.Name)
	if !c.Bool("wait") {
		return nil
	}
	return waitFirstSync(c, p.ID, orDash(p.Name))
}

// waitFirstSync waits until nothing is pending for the peer: every event of
// the first sync that peer add queued has been acked. It shows how many are
// acked of the most seen pending, on a terminal only.
func waitFirstSync(c *cli.Context, id, name string) error {
	var st api.Status
	if err := call(c, "GET", "/v1/status", nil, &st); err != nil {
		return err
	}
	if !st.Running {
		return fmt.Errorf("peer add --wait: the node is not running, so nothing is sent to %s yet; start it with issuemesh run (the peer is added)", name)
	}
	bar := newProgress(c.App.ErrWriter, "first sync with "+name)
	defer bar.done()
	start, most := time.Now(), 0
	deadline := start.Add(c.Duration("timeout"))
	for {
		var q []api.QueueEntry
		if err := call(c, "GET", "/v1/queue", nil, &q); err != nil {
			return err
		}
		pending, files := 0, ""
		for _, e := range q {
			if e.Peer == id {
				pending, files = e.Pending, filesLine("sending", e.FilesOut)
			}
		}
		most = max(most, pending)
		bar.describe("first sync with " + name + files)
		bar.show(most-pending, most)
		if pending == 0 {
			bar.done()
			fmt.Fprintf(c.App.Writer, "first sync with %s done in %s: every queued event acked\n", name, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("peer add --wait: %d of %d events to %s still pending after %s (the peer is added; issuemesh queue and errors show why)", pending, most, name, c.Duration("timeout"))
		}
		select {
		case <-c.Context.Done():
			return c.Context.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func cmdPeerList(c *cli.Context) error {
	var ps []api.PeerInfo
	if err := call(c, "GET", "/v1/peers", nil, &ps); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, ps)
	}
	printPeers(c.App.Writer, ps)
	for _, p := range ps {
		for _, a := range p.Addrs {
			fmt.Fprintf(c.App.Writer, "  %-12s %s\n", orDash(p.Name), a)
		}
	}
	return nil
}

func cmdPeerRemove(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("peer remove takes one PEER (its ID or name)")
	}
	var res api.RemoveResult
	if err := call(c, "DELETE", "/v1/peers/"+api.PathEscape(c.Args().First()), nil, &res); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintf(c.App.Writer, "removed peer %s %s: %d queued events dropped, %d received events dropped, %d twins unsynced\n",
		res.ID, res.Name, res.DroppedOut, res.DroppedIn, res.Unsynced)
	return nil
}

func cmdInvite(c *cli.Context) error {
	if c.NArg() != 0 {
		return errors.New("invite takes no arguments; use --name and --ttl")
	}
	var res api.InviteResult
	in := api.InviteInput{Name: c.String("name"), TTL: c.Duration("ttl").String()}
	if err := call(c, "POST", "/v1/invites", in, &res); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	// The code alone on stdout, so that scripts can take it; the rest on
	// stderr for the person.
	fmt.Fprintln(c.App.Writer, res.Code)
	fmt.Fprintf(c.App.ErrWriter, "single use, valid until %s; on the other node run: issuemesh accept CODE\n",
		res.Expires.Local().Format("2006-01-02 15:04:05 MST"))
	return nil
}

func cmdAccept(c *cli.Context) error {
	if c.NArg() != 1 {
		return errNoCode
	}
	var p struct {
		ID        string `json:"id"`
		Name      string `json:"name,omitempty"`
		Network   string `json:"network,omitempty"`    // a network's code
		NetworkID string `json:"network_id,omitempty"` // a network's code
		Members   int    `json:"members,omitempty"`
	}
	if err := call(c, "POST", "/v1/accept", api.AcceptInput{Code: c.Args().First(), Name: c.String("name")}, &p); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, p)
	}
	if p.Network != "" {
		fmt.Fprintf(c.App.Writer, "joined network %s (%s) through %s: %d members\n", p.Network, p.NetworkID, p.ID, p.Members)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "paired with %s %s\n", p.ID, p.Name)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printPeers(w io.Writer, peers []api.PeerInfo) {
	if len(peers) == 0 {
		fmt.Fprintln(w, "no peers: add one with 'issuemesh peer add MULTIADDR' or 'issuemesh accept CODE'")
		return
	}
	for _, p := range peers {
		conn := "disconnected"
		if p.Connected {
			conn = "connected, direct"
			if p.Relayed {
				conn = "connected, relayed"
			}
			if p.LatencyMS > 0 {
				conn += fmt.Sprintf(", %.1f ms", p.LatencyMS)
			}
		}
		if p.Paused {
			conn += ", paused"
		}
		fmt.Fprintf(w, "peer %-12s %s  %s, %d pending\n", orDash(p.Name), p.ID, conn, p.Pending)
		if p.SendError != "" {
			since := ""
			if p.SendErrorSince != nil {
				since = " since " + p.SendErrorSince.Local().Format(time.DateTime)
			}
			fmt.Fprintf(w, "     sending fails%s (%d sessions in a row; the events wait): %s\n", since, p.SendFailures, p.SendError)
		}
	}
}

func printNAT(w io.Writer, st api.Status) {
	nat := st.NAT
	line := fmt.Sprintf("reachability %s (configured %s)", nat.Reachability, nat.Configured)
	if st.Running {
		if nat.HolePunching {
			line += ", hole punching ready"
		} else {
			line += ", hole punching waits for a public address"
		}
		if nat.MDNS {
			line += ", mDNS on"
		}
	}
	fmt.Fprintln(w, line)
	refs := func(rs []api.PeerRef) string {
		var s []string
		for _, r := range rs {
			s = append(s, orDash(r.Name)+" "+r.ID)
		}
		return strings.Join(s, ", ")
	}
	if len(nat.Reservations) > 0 {
		fmt.Fprintf(w, "relayed by: %s\n", refs(nat.Reservations))
	} else if st.Running {
		fmt.Fprintln(w, "relayed by: nobody (no relay reservation)")
	}
	if len(nat.Relaying) > 0 {
		fmt.Fprintf(w, "relaying for: %s\n", refs(nat.Relaying))
	}
	if nat.OpenInvitations > 0 {
		fmt.Fprintf(w, "open invitations: %d\n", nat.OpenInvitations)
	}
}
