package main

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/node"
)

// printTrackerWait adds to queue and errors why events wait when the
// tracker said to come back later (a rate limit: GitHub's 403/429): the
// time it gave, so that an operator sees the queue is held, not stuck.
// Nothing is printed when the status cannot be read or all is well.
func printTrackerWait(c *cli.Context, w io.Writer) {
	var st node.Status
	if err := call(c, "GET", "/v1/status", nil, &st); err != nil {
		return
	}
	e := st.Tracker.Error
	if e == nil || e.Class != adapters.ClassRateLimited || e.RetryAt.IsZero() || !time.Now().Before(e.RetryAt) {
		return
	}
	fmt.Fprintf(w, "tracker %s rate-limited until %s (in %s): events for it wait in the queue and go on then; nothing is lost\n  %s\n",
		st.Tracker.Type, e.RetryAt.Local().Format(time.DateTime), time.Until(e.RetryAt).Round(time.Second), e.Message)
}
