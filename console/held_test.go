package console

import (
	"io"
	"strings"
	"testing"
)

// TestOverviewShowsHeldConflicts: a conflict held for a person (status
// "held") shows on the overview with the command that resolves it.
func TestOverviewShowsHeldConflicts(t *testing.T) {
	s, _, ts := newTestConsole(t)
	c, _ := login(t, s, ts)
	resp, err := c.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "Held conflict") || !strings.Contains(string(b), "issuemesh resolve LOCAL-1 status --keep") {
		t.Fatalf("the overview does not show the held conflict:\n%s", b)
	}
}
