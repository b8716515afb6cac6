package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/node"
)

// printHealth is the tracker and config part of status.
func printHealth(w io.Writer, st api.Status) {
	h := st.Tracker
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format(time.DateTime)
	}
	fmt.Fprintf(w, "tracker %s: %s (last poll %s, last push %s)\n", h.Type, h.State, ago(h.LastPoll), ago(h.LastPush))
	if e := h.Error; e != nil {
		what := "retried"
		if e.Permanent {
			what = "permanent: no requests until config.yaml or the key file changes"
		}
		fmt.Fprintf(w, "  error %s since %s (%d times, %s): %s\n", e.Class, ago(e.Since), e.Count, what, e.Message)
		if !e.RetryAt.IsZero() {
			fmt.Fprintf(w, "  the tracker asks to wait until %s\n", ago(e.RetryAt))
		}
	}
	cs := st.Config
	if cs == nil {
		return
	}
	if !cs.Reloaded.IsZero() {
		fmt.Fprintf(w, "config reloaded %s: applied %s\n", ago(cs.Reloaded), orNothing(cs.Applied))
		if len(cs.NeedsRestart) > 0 {
			fmt.Fprintf(w, "  needs a restart: %s\n", strings.Join(cs.NeedsRestart, ", "))
		}
		for _, x := range cs.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", x)
		}
	}
	if r := cs.Refused; r != nil {
		fmt.Fprintf(w, "config.yaml refused since %s (the previous version keeps running): %s\n", ago(r.Since), r.Error)
	}
}

func orNothing(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// reloadOnHUP makes SIGHUP reload config.yaml until ctx ends.
func reloadOnHUP(ctx context.Context, n *node.Node) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				n.ReloadConfig()
			}
		}
	}()
}
