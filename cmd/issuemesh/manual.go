package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/replica"
)

// Manual sync commands: sync, unsync, link.

func manualCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "sync", Usage: "share one issue with a peer now, or every matching issue not shared yet (--all)", ArgsUsage: "[KEY]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "to", Required: true, Usage: "the peer (ID or name)"},
				&cli.BoolFlag{Name: "all", Usage: "every issue that matches the connection's trigger and is not shared yet"},
				&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
			},
			Action: cmdSync,
		},
		{
			Name: "unsync", Usage: "stop syncing an issue with a peer, on both sides; both issues stay", ArgsUsage: "KEY",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "from", Required: true, Usage: "the peer (ID or name)"}},
			Action: cmdUnsync,
		},
		{
			Name: "link", Usage: "connect an issue here with one that exists at the peer; this side's state lands there", ArgsUsage: "KEY",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "to", Required: true, Usage: "the peer (ID or name)"},
				&cli.StringFlag{Name: "remote", Required: true, Usage: "the issue's key at the peer"},
			},
			Action: cmdLink,
		},
	}
}

func cmdSync(c *cli.Context) error {
	if !c.Bool("all") {
		key, err := oneKey(c)
		if err != nil {
			return errors.New("sync takes one issue KEY, or --all")
		}
		var res api.SyncResult
		if err := call(c, "POST", "/v1/sync", api.SyncInput{Key: key, To: c.String("to")}, &res); err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c.App.Writer, res)
		}
		if res.Shared == 1 {
			fmt.Fprintf(c.App.Writer, "%s queued for %s\n", key, c.String("to"))
		} else {
			fmt.Fprintf(c.App.Writer, "%s is shared with %s already and unchanged: nothing to send\n", key, c.String("to"))
		}
		return nil
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	var sum api.SyncResult
	in := api.SyncInput{To: c.String("to"), All: true, Limit: 200}
	bar := newProgress(c.App.ErrWriter, "sharing issues")
	start := time.Now()
	for {
		var res api.SyncResult
		if err := cl.Do(c.Context, "POST", "/v1/sync", in, &res); err != nil {
			bar.done()
			return err
		}
		sum.Shared += res.Shared
		sum.Already += res.Already
		sum.Skipped += res.Skipped
		sum.Total = res.Total
		bar.show(sum.Shared+sum.Already+sum.Skipped, res.Total)
		if res.Done {
			break
		}
		in.Cursor = res.Cursor
	}
	bar.done()
	sum.Done = true
	if c.Bool("json") {
		return printJSON(c.App.Writer, sum)
	}
	fmt.Fprintf(c.App.Writer, "shared %d issues with %s, %d were shared already, %d do not match the trigger (%s)\n",
		sum.Shared, c.String("to"), sum.Already, sum.Skipped, time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdUnsync(c *cli.Context) error {
	key, err := oneKey(c)
	if err != nil {
		return err
	}
	if err := call(c, "POST", "/v1/unsync", api.UnsyncInput{Key: key, From: c.String("from")}, nil); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s is no longer synced with %s; both issues stay\n", key, c.String("from"))
	return nil
}

func cmdLink(c *cli.Context) error {
	key, err := oneKey(c)
	if err != nil {
		return err
	}
	if err := call(c, "POST", "/v1/link", api.LinkInput{Key: key, To: c.String("to"), Remote: c.String("remote")}, nil); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s linked to %s at %s; the peer confirms when it applies it (see issue show)\n", key, c.String("remote"), c.String("to"))
	return nil
}

func rulesCommands() []*cli.Command {
	return []*cli.Command{{
		Name:  "rules",
		Usage: "check a connection's rules on real issues without syncing",
		Subcommands: []*cli.Command{{
			Name:      "test",
			Usage:     "print the replica the outgoing rules make (--to), or the changes the incoming rules would make (--from with --replica)",
			ArgsUsage: "KEY",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "to", Usage: "test the outgoing rules of the connection with this peer"},
				&cli.StringFlag{Name: "from", Usage: "test the incoming rules of the connection with this peer"},
				&cli.StringFlag{Name: "replica", Usage: "a JSON file holding the replica to feed the incoming rules"},
			},
			Action: cmdRulesTest,
		}},
	}}
}

func cmdRulesTest(c *cli.Context) error {
	key, err := oneKey(c)
	if err != nil {
		return err
	}
	in := api.RulesTestInput{Key: key, To: c.String("to"), From: c.String("from")}
	if f := c.String("replica"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read the replica: %w", err)
		}
		// Checked here to name the file; the node checks it again.
		if _, err := api.ParseReplicaJSON(b, replica.Clock{}); err != nil {
			return fmt.Errorf("%s: %w (the shape is the replica rules test --to prints; see README, \"rules test\")", f, err)
		}
		in.Replica = b
	}
	var res api.RulesTestResult
	if err := call(c, "POST", "/v1/rules/test", in, &res); err != nil {
		return err
	}
	if res.Note != "" {
		fmt.Fprintln(c.App.ErrWriter, "note:", res.Note)
	}
	return printJSON(c.App.Writer, res)
}
