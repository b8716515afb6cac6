package engine

import "testing"

func TestLinkAndSourceKeys(t *testing.T) {
	for _, c := range []struct {
		key       LinkKey
		peer, net string
	}{
		{PeerLink("12D3KooWA"), "12D3KooWA", ""},
		{NetLink("n1"), "", "n1"},
		{LinkKey("net:"), "", ""},
	} {
		if got := c.key.Peer(); got != c.peer {
			t.Errorf("%q.Peer() = %q, want %q", c.key, got, c.peer)
		}
		if got := c.key.Net(); got != c.net {
			t.Errorf("%q.Net() = %q, want %q", c.key, got, c.net)
		}
		if c.key.IsNet() != (c.peer == "") {
			t.Errorf("%q.IsNet() = %v", c.key, c.key.IsNet())
		}
	}
	for _, c := range []struct {
		src    SourceKey
		link   LinkKey
		author string
	}{
		{PeerSource("12D3KooWA"), "12D3KooWA", ""},
		{NetSource("n1", "12D3KooWB"), "net:n1", "12D3KooWB"},
	} {
		if got := c.src.Link(); got != c.link {
			t.Errorf("%q.Link() = %q, want %q", c.src, got, c.link)
		}
		if got := c.src.Author(); got != c.author {
			t.Errorf("%q.Author() = %q, want %q", c.src, got, c.author)
		}
	}
}
