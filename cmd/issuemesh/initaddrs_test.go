package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

var portZero = regexp.MustCompile(`address: \S*/(tcp|udp)/0/`)

// TestInitAddrs: init prints an address with a fixed port for peers, and
// instead of a /tcp/0 or /udp/0 address (which nobody can dial) a note
// that `issuemesh id` shows the port once the node runs.
func TestInitAddrs(t *testing.T) {
	id, err := peer.Decode("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		listen        []string
		addrs, notes  int
		wantSubstring string
	}{
		{[]string{"/ip4/127.0.0.1/tcp/4001"}, 1, 0, "address: /ip4/127.0.0.1/tcp/4001/p2p/" + id.String()},
		{[]string{"/ip4/127.0.0.1/tcp/0"}, 0, 1, "run `issuemesh id`"},
		{[]string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/0/quic-v1"}, 1, 1, "/udp/0/quic-v1 takes a free port"},
	}
	for _, tt := range tests {
		var b strings.Builder
		printInitAddrs(&b, tt.listen, id)
		out := b.String()
		if got := strings.Count(out, "address: "); got != tt.addrs {
			t.Errorf("%v: %d address lines, want %d:\n%s", tt.listen, got, tt.addrs, out)
		}
		if got := strings.Count(out, "note: "); got != tt.notes {
			t.Errorf("%v: %d notes, want %d:\n%s", tt.listen, got, tt.notes, out)
		}
		if portZero.MatchString(out) {
			t.Errorf("%v: prints a port-0 address:\n%s", tt.listen, out)
		}
		if !strings.Contains(out, tt.wantSubstring) {
			t.Errorf("%v: output lacks %q:\n%s", tt.listen, tt.wantSubstring, out)
		}
	}
}

// TestInitCommandPrintsNoPortZero: `issuemesh init` itself (not only its
// helper) prints no address with port 0, and the note in its place.
func TestInitCommandPrintsNoPortZero(t *testing.T) {
	tests := []struct {
		listen    string
		addrs     int
		wantInOut string
	}{
		{"/ip4/127.0.0.1/tcp/0", 0, "run `issuemesh id`"},
		{"/ip4/127.0.0.1/tcp/4917", 1, "address: /ip4/127.0.0.1/tcp/4917/p2p/"},
	}
	for _, tt := range tests {
		out, err := run(t, "--home", t.TempDir(), "init", "--listen", tt.listen)
		if err != nil {
			t.Fatalf("init --listen %s: %v\n%s", tt.listen, err, out)
		}
		if portZero.MatchString(out) {
			t.Errorf("init --listen %s prints a port-0 address:\n%s", tt.listen, out)
		}
		if got := strings.Count(out, "address: "); got != tt.addrs {
			t.Errorf("init --listen %s: %d address lines, want %d:\n%s", tt.listen, got, tt.addrs, out)
		}
		if !strings.Contains(out, tt.wantInOut) {
			t.Errorf("init --listen %s: output lacks %q:\n%s", tt.listen, tt.wantInOut, out)
		}
	}
}
