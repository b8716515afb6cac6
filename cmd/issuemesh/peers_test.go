package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/api"
)

// The peer lines of status and peer list: a peer that cannot be sent to
// gets a second line saying so, with since when, how many sessions and
// the last error; a healthy one does not.
func TestPrintPeersShowsSendFailure(t *testing.T) {
	since := time.Date(2026, 12, 4, 21, 0, 0, 0, time.Local)
	tests := []struct {
		name    string
		peer    api.PeerInfo
		want    []string
		wantNot string
	}{
		{"healthy", api.PeerInfo{ID: "12D3KooWa", Name: "bob", Connected: true, Pending: 0},
			[]string{"peer bob", "connected, direct, 0 pending"}, "sending fails"},
		{"failing", api.PeerInfo{ID: "12D3KooWb", Name: "carol", Pending: 4, SendError: "failed to dial: connection refused", SendErrorSince: &since, SendFailures: 5},
			[]string{"disconnected, 4 pending", "sending fails since 2026-12-04 21:00:00 (5 sessions in a row; the events wait): failed to dial: connection refused"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printPeers(&b, []api.PeerInfo{tt.peer})
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			if tt.wantNot != "" && strings.Contains(b.String(), tt.wantNot) {
				t.Errorf("output has %q:\n%s", tt.wantNot, b.String())
			}
		})
	}
}
