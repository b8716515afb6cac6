package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node"
	"github.com/issuemesh/issuemesh/node/configcheck"
)

// `issuemesh config check`: the validation a running node does before it
// applies a changed config.yaml, offline.

func configCommands() []*cli.Command {
	return []*cli.Command{{
		Name:  "config",
		Usage: "the node's config.yaml",
		Subcommands: []*cli.Command{{
			Name:  "check",
			Usage: "validate config.yaml as a running node does before applying it: keys, rule files, triggers, maps against the tracker's values",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
				&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "give up asking the tracker after this long"},
			},
			Action: cmdConfigCheck,
		}},
	}}
}

func cmdConfigCheck(c *cli.Context) error {
	results := configResults(c)
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, results); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.App.Writer, "config: %s\n", filepath.Join(home(c), config.FileName))
		printResults(c, results)
	}
	for _, r := range results {
		if !r.OK {
			return errors.New("config.yaml has problems: see the FAIL lines; a running node refuses this version and keeps the one it runs")
		}
	}
	return nil
}

func configResults(c *cli.Context) []check.Result {
	cfg, err := config.Load(home(c))
	if err != nil {
		return []check.Result{{Name: config.FileName, OK: false, Detail: err.Error()}}
	}
	var tr adapters.Tracker
	if cfg.Tracker.Type != "local" {
		t, err := node.OpenRemoteTracker(home(c), cfg.Tracker, logger(c.App.ErrWriter, "error"))
		if err != nil {
			return []check.Result{{Name: "tracker", OK: false, Detail: err.Error()}}
		}
		defer t.Close()
		tr = t
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	return configcheck.Check(ctx, home(c), cfg, tr, logger(c.App.ErrWriter, "error"))
}

func printResults(c *cli.Context, results []check.Result) {
	for _, r := range results {
		mark := "ok  "
		switch {
		case !r.OK:
			mark = "FAIL"
		case r.Warning:
			mark = "warn"
		}
		fmt.Fprintf(c.App.Writer, "%s %s: %s\n", mark, r.Name, r.Detail)
	}
}
