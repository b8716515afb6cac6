package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/console"
	"github.com/issuemesh/issuemesh/node"
)

// The web console: run --console ADDR (or console.listen in config.yaml)
// serves it; console url prints a one-time login link.

var _ console.Node = (*node.Node)(nil)

func consoleRunFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "console", Usage: "serve the web console on `ADDR` (host:port; loopback unless config.yaml names TLS files), overriding console.listen"},
	}
}

func consoleCommands() []*cli.Command {
	return []*cli.Command{{
		Name:  "console",
		Usage: "the web console of the running node",
		Subcommands: []*cli.Command{{
			Name:   "url",
			Usage:  "print a one-time login link to the console (valid 15 minutes, for one browser)",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: cmdConsoleURL,
		}},
	}}
}

// startConsole serves the console when configured; stop ends it and waits.
func startConsole(ctx context.Context, c *cli.Context, cfg *config.Config, n *node.Node, log *slog.Logger) (stop func(), err error) {
	cc := cfg.Console
	if a := c.String("console"); a != "" {
		cc.Listen = a
	}
	if cc.Listen == "" {
		return func() {}, nil
	}
	if err := config.ValidateConsole(cc); err != nil {
		return nil, err
	}
	s, err := console.New(console.Options{Node: n, Home: home(c), Config: cc, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := s.Listen(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ctx); err != nil {
			log.Error("console stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

func cmdConsoleURL(c *cli.Context) error {
	sock := filepath.Join(home(c), console.SocketFile)
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := cl.Post("http://console/login-link", "application/json", nil)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || isRefused(err) {
			return fmt.Errorf("the console is not running on %s: start the node with `issuemesh run --console 127.0.0.1:7447`, or set console: {listen: 127.0.0.1:7447} in config.yaml and restart it", home(c))
		}
		return fmt.Errorf("asking the console for a login link over %s: %w", sock, err)
	}
	defer resp.Body.Close()
	var link console.LoginLink
	if err := json.NewDecoder(resp.Body).Decode(&link); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("the console's answer over %s: %d %v", sock, resp.StatusCode, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, link)
	}
	fmt.Fprintln(c.App.Writer, link.URL)
	return nil
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
