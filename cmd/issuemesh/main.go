// Command issuemesh runs an issuemesh node and talks to it: it creates a
// node's home, runs the node, adds peers and works with the issues of the
// embedded local tracker. While a node runs, every command goes through its
// admin API on the unix socket in the home; otherwise commands open the home
// directly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/internal/runlock"
	"github.com/issuemesh/issuemesh/node"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	app := newApp(os.Stdout, os.Stderr)
	if err := app.Run(interspersed(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "issuemesh:", err)
		os.Exit(1)
	}
}

func defaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".issuemesh")
	}
	return ".issuemesh"
}

func newApp(stdout, stderr io.Writer) *cli.App {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return &cli.App{
		Name:      "issuemesh",
		Usage:     "sync issues between trackers, peer to peer",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "home", Usage: "the node's home folder", EnvVars: []string{"ISSUEMESH_HOME"}, Value: defaultHome()},
		},
		Commands: append([]*cli.Command{
			{
				Name:  "init",
				Usage: "create a node's home: identity key and config.yaml",
				Flags: append([]cli.Flag{
					&cli.StringSliceFlag{Name: "listen", Usage: "listen multiaddr (repeatable); default TCP and QUIC on port 4001"},
				}, trackerInitFlags()...),
				Action: cmdInit,
			},
			{Name: "run", Usage: "run the node in the foreground until SIGINT or SIGTERM", Flags: append(consoleRunFlags(), logFormatFlag), Action: cmdRun},
			{Name: "id", Usage: "print the peer ID and addresses", Flags: []cli.Flag{jsonFlag}, Action: cmdID},
			{Name: "status", Usage: "show the node's state: peers, connections, pending events", Flags: []cli.Flag{jsonFlag}, Action: cmdStatus},
			{
				Name:  "issue",
				Usage: "work with the issues of the embedded local tracker",
				Subcommands: append([]*cli.Command{
					{Name: "create", Usage: "create an issue and print its key", Flags: issueFlags(true), Action: cmdIssueCreate},
					{Name: "edit", Usage: "change an issue", ArgsUsage: "KEY", Flags: issueFlags(false), Action: cmdIssueEdit},
					{
						Name: "comment", Usage: "comment on an issue", ArgsUsage: "KEY",
						Flags: []cli.Flag{
							&cli.StringFlag{Name: "body", Usage: "the comment"},
							textFileFlag("body", "comment"),
							&cli.StringFlag{Name: "author", Usage: "who writes it (default: $USER)"},
							&cli.BoolFlag{Name: "internal", Usage: "an internal comment: never leaves this node under the default rules"},
							commentFlags()[0], commentFlags()[1],
						},
						Action: cmdIssueComment,
					},
					{Name: "show", Usage: "show an issue with its comments and twins", ArgsUsage: "KEY", Flags: []cli.Flag{jsonFlag}, Action: cmdIssueShow},
					attachCommand(),
					{Name: "list", Usage: "list issues", Flags: []cli.Flag{jsonFlag}, Action: cmdIssueList},
				}, relationCommands()...),
			},
		}, slices.Concat([]*cli.Command{conflictsCommand(), resolveCommand()}, peerCommands(), networkCommands(), opsCommands(), manualCommands(), rulesCommands(), trackerCommands(), configCommands(), backupCommands(), doctorCommands(), consoleCommands())...),
	}
}

func issueFlags(create bool) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "summary", Required: create, Usage: "one-line summary"},
		&cli.StringFlag{Name: "description", Usage: "description"},
		textFileFlag("description", "description"),
		&cli.StringFlag{Name: "status", Usage: "status (default Open)"},
		&cli.StringFlag{Name: "priority", Usage: "priority (default Normal)"},
		&cli.StringSliceFlag{Name: "label", Usage: "label (repeatable; on edit, replaces the labels)"},
	}, fieldFlags()...)
}

func home(c *cli.Context) string { return c.String("home") }

func logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// client connects to the running node, or opens the home in-process.
func client(c *cli.Context) (*api.Client, error) {
	return node.Dial(home(c), logger(c.App.ErrWriter, "warn"))
}

// call runs one admin API request.
func call(c *cli.Context, method, path string, in, out any) error {
	cl, err := client(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Do(c.Context, method, path, in, out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdInit(c *cli.Context) error {
	cfg := config.Default()
	if l := c.StringSlice("listen"); len(l) > 0 {
		cfg.Listen = l
	}
	if err := applyTrackerFlags(c, cfg); err != nil {
		return err
	}
	id, err := node.Init(home(c), cfg)
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "Initialised a node in %s\n", home(c))
	fmt.Fprintf(w, "peer id: %s\n", id)
	printInitAddrs(w, cfg.Listen, id)
	return nil
}

func cmdRun(c *cli.Context) error {
	cfg, err := config.Load(home(c))
	if err != nil {
		return err
	}
	lock, err := runlock.Acquire(home(c))
	if err != nil {
		return err
	}
	defer lock.Release()
	log, level, err := runLogger(c.App.ErrWriter, c.String("log-format"), cfg.Log)
	if err != nil {
		return err
	}
	n, err := node.OpenWait(home(c), node.Options{Logger: log, LogLevel: level})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	limitMemory(ctx)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		log.Info("shutting down; send the signal again to force", "signal", s.String())
		cancel()
		select {
		case <-sigs:
			log.Error("forced exit")
		case <-time.After(30 * time.Second):
			// What it is stuck on, for a bug report.
			log.Error("shutdown took longer than 30s; forced exit; goroutine stacks follow")
			_ = pprof.Lookup("goroutine").WriteTo(c.App.ErrWriter, 2)
		}
		os.Exit(1)
	}()
	reloadOnHUP(ctx, n)
	stopConsole, err := startConsole(ctx, c, cfg, n, log)
	if err != nil {
		n.Close()
		return err
	}
	runErr := n.Run(ctx)
	stopConsole()
	if err := n.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		log.Info("node stopped cleanly")
	}
	return runErr
}

func cmdID(c *cli.Context) error {
	var id api.IDInfo
	if err := call(c, "GET", "/v1/id", nil, &id); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, id)
	}
	fmt.Fprintln(c.App.Writer, id.PeerID)
	for _, a := range id.Addrs {
		fmt.Fprintln(c.App.Writer, a)
	}
	return nil
}

func cmdStatus(c *cli.Context) error {
	var st api.Status
	if err := call(c, "GET", "/v1/status", nil, &st); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, st)
	}
	w := c.App.Writer
	state := "not running"
	if st.Running {
		state = "running"
	}
	fmt.Fprintf(w, "node %s (%s)\n", st.PeerID, state)
	for _, a := range st.Addrs {
		fmt.Fprintf(w, "  address %s\n", a)
	}
	fmt.Fprintf(w, "twins %d, pending events %d, received waiting %d, blocked twins %d\n", st.Twins, st.Pending, st.Incoming, st.Blocked)
	if st.BlockedRecords > st.Blocked {
		fmt.Fprintf(w, "  blocked records %d (a twin blocked on several links or both ways; see errors)\n", st.BlockedRecords)
	}
	for _, h := range st.Held {
		fmt.Fprintf(w, "  held conflict: %s %s waits for issuemesh resolve %s %s --keep ours|theirs|VALUE\n", h.Key, h.Field, h.Key, h.Field)
	}
	if st.Refused > 0 {
		fmt.Fprintf(w, "  refused events %d since start (clocks too far ahead, or forged; see errors)\n", st.Refused)
	}
	for _, re := range st.RulesErrors {
		what := "refused (nothing flows on it until fixed)"
		if re.Running {
			what = "rule file refused (the last good rules keep running)"
		}
		name := re.Link
		if re.PeerName != "" {
			name = re.PeerName + " (" + re.Link + ")"
		}
		fmt.Fprintf(w, "rules of %s: %s since %s: %s\n", name, what, re.Since.Local().Format(time.DateTime), re.Error)
	}
	printHealth(w, st)
	if st.Disk.Low {
		fmt.Fprintf(w, "disk full since %s: %s\n", st.Disk.Since.Local().Format(time.DateTime), st.Disk.Error)
	}
	printLife(w, st)
	printNAT(w, st)
	printPeers(w, st.Peers)
	return nil
}

func issueInput(c *cli.Context) (api.IssueInput, error) {
	var in api.IssueInput
	str := func(name string) *string {
		if !c.IsSet(name) {
			return nil
		}
		s := c.String(name)
		return &s
	}
	in.Summary, in.Status, in.Priority = str("summary"), str("status"), str("priority")
	if c.IsSet("label") {
		l := c.StringSlice("label")
		in.Labels = &l
	}
	in.IssueFields = fieldInput(c)
	var err error
	in.Description, err = textValue(c, "description")
	return in, err
}

func oneKey(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("%s takes one issue KEY, e.g. LOCAL-7", c.Command.FullName())
	}
	return c.Args().First(), nil
}

func cmdIssueCreate(c *cli.Context) error {
	in, err := issueInput(c)
	if err != nil {
		return err
	}
	var v api.IssueView
	if err := call(c, "POST", "/v1/issues", in, &v); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, v.Key)
	return nil
}

func cmdIssueEdit(c *cli.Context) error {
	key, err := oneKey(c)
	if err != nil {
		return err
	}
	in, err := issueInput(c)
	if err != nil {
		return err
	}
	var v api.IssueView
	if err := call(c, "PATCH", "/v1/issues/"+api.PathEscape(key), in, &v); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, v.Key)
	return nil
}

func cmdIssueComment(c *cli.Context) error {
	key, err := oneKey(c)
	if err != nil {
		return err
	}
	if handled, err := commentEditOrDelete(c, key); handled {
		return err
	}
	author := c.String("author")
	if author == "" {
		author = os.Getenv("USER")
	}
	body, err := textValue(c, "body")
	if err != nil {
		return err
	}
	if body == nil {
		return errors.New("issue comment needs --body TEXT or --body-file FILE (- for standard input)")
	}
	var v api.IssueView
	in := api.CommentInput{Body: *body, Author: author, Internal: c.Bool("internal")}
	if err := call(c, "POST", "/v1/issues/"+api.PathEscape(key)+"/comments", in, &v); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, v.Key)
	return nil
}

func cmdIssueShow(c *cli.Context) error {
	key, err := oneKey(c)
	if err != nil {
		return err
	}
	var v api.IssueView
	if err := call(c, "GET", "/v1/issues/"+api.PathEscape(key), nil, &v); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, v)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s  %s\n", v.Key, v.Summary)
	fmt.Fprintf(w, "status: %s   priority: %s", v.Status, v.Priority)
	if len(v.Labels) > 0 {
		fmt.Fprintf(w, "   labels: %s", strings.Join(v.Labels, ", "))
	}
	fmt.Fprintln(w)
	printFields(w, v)
	if v.Description != "" {
		fmt.Fprintf(w, "\n%s\n", v.Description)
	}
	for _, t := range v.Twins {
		name := t.PeerName
		if name == "" {
			name = t.Peer
		}
		key := t.Key
		if key == "" {
			key = "(not acknowledged yet)"
		}
		fmt.Fprintf(w, "twin at %s: %s\n", name, key)
	}
	if len(v.Comments) > 0 {
		fmt.Fprintln(w)
	}
	for _, cm := range v.Comments {
		tag := ""
		if cm.Internal {
			tag = " (internal)"
		}
		fmt.Fprintf(w, "[%s] %s wrote on %s%s:\n  %s\n", cm.ID, cm.Author, cm.Created.Local().Format("2006-01-02 15:04"), tag, strings.ReplaceAll(cm.Body, "\n", "\n  "))
	}
	printAttachments(w, v)
	return nil
}

func cmdIssueList(c *cli.Context) error {
	var vs []api.IssueView
	if err := call(c, "GET", "/v1/issues", nil, &vs); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, vs)
	}
	w := c.App.Writer
	if len(vs) == 0 {
		fmt.Fprintln(w, "no issues")
	}
	for _, v := range vs {
		twins := make([]string, 0, len(v.Twins))
		for _, t := range v.Twins {
			if t.Key != "" {
				name := t.PeerName
				if name == "" {
					name = t.Peer[max(0, len(t.Peer)-8):]
				}
				twins = append(twins, name+":"+t.Key)
			}
		}
		tw := ""
		if len(twins) > 0 {
			tw = "  [" + strings.Join(twins, " ") + "]"
		}
		fmt.Fprintf(w, "%-10s %-12s %-8s %s%s\n", v.Key, v.Status, v.Priority, v.Summary, tw)
	}
	return nil
}
