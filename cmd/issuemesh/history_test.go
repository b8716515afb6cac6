package main

import (
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/store"
)

// The history text keeps each record's line and adds, indented, old and
// new values and the change-to-ack time.
func TestPrintHistoryValuesAndChangeToAck(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	h := api.HistoryView{Key: "A-1", Twin: "tw", Records: []store.Record{
		{Time: t0.Add(time.Second), Dir: "out", Peer: "p1", PeerName: "bob", Seq: 3, What: "queued", Fields: []string{"summary"},
			Changes: []store.Change{store.NewChange("summary", "first", "second")}, Changed: t0},
		{Time: t0.Add(2500 * time.Millisecond), Dir: "out", Peer: "p1", PeerName: "bob", Seq: 3, What: "acked", LocalKey: "B-1"},
	}}
	var b strings.Builder
	printHistory(&b, h)
	text := b.String()
	for _, want := range []string{
		"out queued   peer bob seq 3 fields summary\n",
		"    summary: \"first\" -> \"second\"\n",
		"out acked    peer bob seq 3 as B-1\n",
		"    change to ack 2.5s (tracker change at ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("history text lacks %q:\n%s", want, text)
		}
	}
}
