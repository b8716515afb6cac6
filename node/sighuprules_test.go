package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestSIGHUPReloadsRuleFiles: the reload a SIGHUP asks for (ReloadConfig)
// re-reads the rule files even when their modification time and size are
// as before (a file copied with its old time, or rewritten within the
// same second at the same length), which the periodic look never notices.
func TestSIGHUPReloadsRuleFiles(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.star")
	writeRule(t, out, "replica.summary = \"one\"\n")
	a := startRestartable(t, "a", Options{}, func(c *config.Config) {
		c.Connections = map[string]config.Connection{"*": {Outgoing: out}}
	}).testNode
	const link = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	summary := func() string {
		set, _, err := a.rules.Link(link)
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := set.Outgoing(adapters.Issue{Key: "K", Summary: "s"})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := r.Str("summary")
		return s
	}
	if got := summary(); got != "one" {
		t.Fatalf("summary before: %q", got)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	writeRule(t, out, "replica.summary = \"two\"\n") // same size
	if err := os.Chtimes(out, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	a.ReloadConfig()
	testutil.WaitFor(t, 10*time.Second, "the rules say two after the signal", func() bool { return summary() == "two" })
}
