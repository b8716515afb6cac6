package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/urfave/cli/v2"
)

// Networks: network create|invite|list|leave. A network code is accepted
// with the accept command.

func networkCommands() []*cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return []*cli.Command{{
		Name:  "network",
		Usage: "multi-party sync networks: every member syncs with every other",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a network with this node as its first member", ArgsUsage: "NAME",
				Flags: []cli.Flag{jsonFlag}, Action: cmdNetworkCreate,
			},
			{
				Name: "invite", Usage: "print a single-use code for another node to join the network with 'issuemesh accept CODE'", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "the name the new member gets in the network"},
					&cli.DurationFlag{Name: "ttl", Value: 24 * time.Hour, Usage: "how long the code can be accepted"},
					jsonFlag,
				},
				Action: cmdNetworkInvite,
			},
			{Name: "list", Usage: "list networks with their members, connected or not", Flags: []cli.Flag{jsonFlag}, Action: cmdNetworkList},
			{
				Name: "leave", Usage: "leave a network: tell its members and stop syncing with it (the node must be running)", ArgsUsage: "NAME",
				Flags: []cli.Flag{jsonFlag}, Action: cmdNetworkLeave,
			},
		},
	}}
}

func oneName(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("network %s takes one network NAME", what)
	}
	return c.Args().First(), nil
}

func cmdNetworkCreate(c *cli.Context) error {
	name, err := oneName(c, "create")
	if err != nil {
		return err
	}
	var info api.NetworkInfo
	if err := call(c, "POST", "/v1/networks", api.NetworkInput{Name: name}, &info); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, info)
	}
	fmt.Fprintf(c.App.Writer, "created network %s (%s); invite members with: issuemesh network invite %s\n", info.Name, info.ID, info.Name)
	return nil
}

func cmdNetworkInvite(c *cli.Context) error {
	name, err := oneName(c, "invite")
	if err != nil {
		return err
	}
	var res api.InviteResult
	in := api.NetworkInput{Member: c.String("name"), TTL: c.Duration("ttl").String()}
	if err := call(c, "POST", "/v1/networks/"+api.PathEscape(name)+"/invites", in, &res); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintln(c.App.Writer, res.Code)
	fmt.Fprintf(c.App.ErrWriter, "joins network %s; single use, valid until %s; on the other node run: issuemesh accept CODE\n",
		res.Network, res.Expires.Local().Format("2006-01-02 15:04:05 MST"))
	return nil
}

func cmdNetworkList(c *cli.Context) error {
	var infos []api.NetworkInfo
	if err := call(c, "GET", "/v1/networks", nil, &infos); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, infos)
	}
	printNetworks(c.App.Writer, infos)
	return nil
}

func printNetworks(w io.Writer, infos []api.NetworkInfo) {
	if len(infos) == 0 {
		fmt.Fprintln(w, "no networks: create one with 'issuemesh network create NAME' or accept a network's code")
		return
	}
	for _, n := range infos {
		var notes []string
		if n.Left {
			notes = append(notes, "left")
		}
		if n.Pending > 0 {
			notes = append(notes, fmt.Sprintf("%d to publish", n.Pending))
		}
		line := fmt.Sprintf("network %s %s", n.Name, n.ID)
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintln(w, line)
		for _, m := range n.Members {
			state := "disconnected"
			switch {
			case m.Self:
				state = "this node"
			case m.Connected:
				state = "connected"
			}
			if m.State != "joined" {
				state = m.State
			}
			fmt.Fprintf(w, "  member %-12s %s  %s\n", orDash(m.Name), m.ID, state)
		}
	}
}

func cmdNetworkLeave(c *cli.Context) error {
	name, err := oneName(c, "leave")
	if err != nil {
		return err
	}
	var info api.NetworkInfo
	if err := call(c, "POST", "/v1/networks/"+api.PathEscape(name)+"/leave", nil, &info); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, info)
	}
	fmt.Fprintf(c.App.Writer, "left network %s (%s)\n", info.Name, info.ID)
	return nil
}

var errNoCode = errors.New("accept takes one invitation CODE (it starts with im1)")
