package main

import (
	"io"
	"slices"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	tests := []struct{ in, want []string }{
		{[]string{"im", "--home", "h", "peer", "add", "/ip4/x", "--name", "bob"}, []string{"im", "--home", "h", "peer", "add", "--name", "bob", "/ip4/x"}},
		{[]string{"im", "issue", "edit", "LOCAL-1", "--status", "Done", "--label", "a"}, []string{"im", "issue", "edit", "--status", "Done", "--label", "a", "LOCAL-1"}},
		{[]string{"im", "issue", "show", "LOCAL-1", "--json"}, []string{"im", "issue", "show", "--json", "LOCAL-1"}},
		{[]string{"im", "issue", "comment", "K", "--body=x y"}, []string{"im", "issue", "comment", "--body=x y", "K"}},
		{[]string{"im", "issue", "edit", "K", "--", "--summary"}, []string{"im", "issue", "edit", "K", "--", "--summary"}},
		{[]string{"im", "status"}, []string{"im", "status"}},
	}
	for _, tt := range tests {
		if got := interspersed(app, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("interspersed(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
