package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/store"
)

// Operator commands: queue, errors, retry, pause, resume, history.

func opsCommands() []*cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return []*cli.Command{
		{Name: "queue", Usage: "show pending events per peer, with the age of the oldest", Flags: []cli.Flag{jsonFlag}, Action: cmdQueue},
		{Name: "errors", Usage: "show blocked twins: the error and since when", Flags: []cli.Flag{jsonFlag}, Action: cmdErrors},
		{
			Name: "retry", Usage: "apply a blocked issue again (or every blocked one)", ArgsUsage: "KEY",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "retry every blocked twin"}, jsonFlag},
			Action: cmdRetry,
		},
		{Name: "pause", Usage: "stop sending to a peer; changes keep queueing", ArgsUsage: "PEER", Action: func(c *cli.Context) error { return cmdPause(c, true) }},
		{Name: "resume", Usage: "send to a paused peer again, queued changes first", ArgsUsage: "PEER", Action: func(c *cli.Context) error { return cmdPause(c, false) }},
		{Name: "history", Usage: "what was sent and received for an issue, with results", ArgsUsage: "KEY", Flags: []cli.Flag{jsonFlag}, Action: cmdHistory},
	}
}

func cmdQueue(c *cli.Context) error {
	var q []api.QueueEntry
	if err := call(c, "GET", "/v1/queue", nil, &q); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, q)
	}
	w := c.App.Writer
	if len(q) == 0 {
		fmt.Fprintln(w, "no peers")
	}
	for _, e := range q {
		name := e.PeerName
		if name == "" {
			name = e.Peer
		}
		line := fmt.Sprintf("%-12s %6d pending", name, e.Pending)
		if e.Age != "" {
			line += ", oldest " + e.Age + " old"
		}
		if e.Incoming > 0 {
			line += fmt.Sprintf(", %d received waiting", e.Incoming)
		}
		if e.Blocked > 0 {
			line += fmt.Sprintf(", %d blocked (see errors)", e.Blocked)
		}
		line += filesLine("sending", e.FilesOut) + filesLine("receiving", e.FilesIn)
		if e.Paused {
			line += " (paused)"
		}
		fmt.Fprintln(w, line)
	}
	printTrackerWait(c, w)
	return nil
}

// filesLine is what queue says of the files moving one way: ", sending
// 2 files, 12 MiB of 40 MiB", or nothing.
func filesLine(verb string, fp *api.FileProgress) string {
	if fp == nil || fp.Files == 0 {
		return ""
	}
	return ", " + verb + " " + fp.String()
}

func cmdErrors(c *cli.Context) error {
	var bs []store.Blocked
	if err := call(c, "GET", "/v1/errors", nil, &bs); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, bs)
	}
	w := c.App.Writer
	printTrackerWait(c, w)
	if len(bs) == 0 {
		fmt.Fprintln(w, "no blocked twins")
	}
	for _, b := range bs {
		if b.Dir == api.DirDisk {
			fmt.Fprintf(w, "disk of %s too full since %s: %s\n", b.Peer, b.Since.Local().Format(time.DateTime), b.Error)
			continue
		}
		if b.Dir == api.DirRefused {
			what := "an event"
			if b.LocalKey != "" {
				what = "an event of " + b.LocalKey
			}
			fmt.Fprintf(w, "refused %s from %s at %s (not applied): %s\n", what, peerLabel(b.Peer, b.PeerName), b.Since.Local().Format(time.DateTime), b.Error)
			continue
		}
		if b.Dir == api.DirRules {
			fmt.Fprintf(w, "rules of %s do not load since %s: %s\n", peerLabel(b.Peer, b.PeerName), b.Since.Local().Format(time.DateTime), b.Error)
			continue
		}
		peer := peerLabel(b.Peer, b.PeerName)
		where := "here"
		switch {
		case b.Remote:
			where = "at peer " + peer
		case b.Outgoing:
			where = "here for peer " + peer + " (not sent)"
		case b.Peer != "":
			where = "here (events from " + peer + " wait)"
		}
		key := b.LocalKey
		if key == "" {
			key = "(twin " + b.Twin + ", not created here)"
		}
		fmt.Fprintf(w, "%s blocked %s since %s (%d attempts): %s\n", key, where, b.Since.Local().Format(time.DateTime), b.Attempts, b.Error)
	}
	if len(bs) > 0 {
		fmt.Fprintln(w, "fix the cause, then: issuemesh retry KEY (or --all)")
	}
	return nil
}

func cmdRetry(c *cli.Context) error {
	in := api.RetryInput{All: c.Bool("all")}
	if !in.All {
		if c.NArg() != 1 {
			return errors.New("retry takes one issue KEY, or --all")
		}
		in.Key = c.Args().First()
	}
	var res api.RetryResult
	if err := call(c, "POST", "/v1/retry", in, &res); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	keys := make([]string, 0, len(res.Retried))
	for _, b := range res.Retried {
		keys = append(keys, b.LocalKey)
	}
	fmt.Fprintf(c.App.Writer, "retrying %d: %s\n", len(keys), strings.Join(keys, " "))
	return nil
}

func cmdPause(c *cli.Context, pause bool) error {
	if c.NArg() != 1 {
		return fmt.Errorf("%s takes one PEER (its ID or name)", c.Command.Name)
	}
	verb := "pause"
	if !pause {
		verb = "resume"
	}
	var pi api.PeerInfo
	if err := call(c, "POST", "/v1/peers/"+api.PathEscape(c.Args().First())+"/"+verb, nil, &pi); err != nil {
		return err
	}
	state := "resumed"
	if pi.Paused {
		state = "paused"
	}
	fmt.Fprintf(c.App.Writer, "%s %s (%d pending)\n", state, pi.ID, pi.Pending)
	return nil
}

func cmdHistory(c *cli.Context) error {
	key, err := oneKey(c)
	if err != nil {
		return err
	}
	var h api.HistoryView
	if err := call(c, "GET", "/v1/history/"+api.PathEscape(key), nil, &h); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, h)
	}
	printHistory(c.App.Writer, h)
	return nil
}

// peerLabel is a peer's name with its ID, or its ID when it has no name.
func peerLabel(id, name string) string {
	if name == "" {
		return id
	}
	return name + " (" + short(id) + ")"
}

func short(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}
