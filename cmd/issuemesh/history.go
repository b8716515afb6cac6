package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/store"
)

// printHistory prints `issuemesh history`: one line per record, as it
// always was, and under it, indented, what the record adds: each changed
// field's old and new value, and on an ack the time from the tracker's
// change to the peer's ack.
func printHistory(w io.Writer, h api.HistoryView) {
	fmt.Fprintf(w, "%s (twin %s)\n", h.Key, h.Twin)
	queued := map[string]store.Record{}
	for _, r := range h.Records {
		peer := r.PeerName
		if peer == "" {
			peer = short(r.Peer)
		}
		line := fmt.Sprintf("%s %-3s %-8s peer %s seq %d", r.Time.Local().Format("2006-01-02 15:04:05.000"), r.Dir, r.What, peer, r.Seq)
		if len(r.Fields) > 0 {
			line += " fields " + strings.Join(r.Fields, ",")
		}
		if r.LocalKey != "" && r.Dir == "out" && r.What == "acked" {
			line += " as " + r.LocalKey
		}
		if r.Error != "" {
			line += ": " + r.Error
		}
		if x := r.Conflict; x != nil {
			line += fmt.Sprintf(": kept %q over %q", x.Winner.Text(), x.Loser.Text())
		}
		fmt.Fprintln(w, line)
		for _, c := range r.Changes {
			cut := ""
			if c.Truncated {
				cut = fmt.Sprintf(" (cut to %d characters)", store.ChangeMax)
			}
			fmt.Fprintf(w, "    %s: %q -> %q%s\n", c.Field, c.Old, c.New, cut)
		}
		id := r.Peer + "/" + fmt.Sprint(r.Seq)
		switch {
		case r.Dir == "out" && r.What == "queued":
			queued[id] = r
		case r.Dir == "out" && r.What == "acked":
			if d, ok := store.ChangeToAck(queued[id], r); ok {
				fmt.Fprintf(w, "    change to ack %s (tracker change at %s)\n", d.Round(time.Millisecond), queued[id].Changed.Local().Format("2006-01-02 15:04:05.000"))
			}
		}
	}
}
