package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/config"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// A reload applies the poll interval, the log level and the connections
// live, names the keys that need a restart, and refuses a version with a
// problem while the running one stays.
func TestReloadAppliesWhatCanChangeLive(t *testing.T) {
	lv := new(slog.LevelVar)
	a := startNode(t, "a", Options{LogLevel: lv})
	path := filepath.Join(a.home, config.FileName)
	cfg, err := config.Load(a.home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracker.PollInterval = config.Duration(700 * time.Millisecond)
	cfg.Log = "debug"
	cfg.MDNS = true
	cfg.Connections = map[string]config.Connection{"*": {StatusMap: map[string]string{"Open": "Todo"}}}
	if err := cfg.Write(a.home); err != nil {
		t.Fatal(err)
	}
	a.ReloadConfig()
	testutil.WaitFor(t, 10*time.Second, "the reload is applied", func() bool {
		st := a.live.State()
		return st != nil && !st.Reloaded.IsZero()
	})
	st := a.live.State()
	applied := strings.Join(st.Applied, "; ")
	for _, want := range []string{"connections", "tracker.poll_interval 700ms", "log debug"} {
		if !strings.Contains(applied, want) {
			t.Errorf("applied %q lacks %q", applied, want)
		}
	}
	if !slices.Equal(st.NeedsRestart, []string{"mdns"}) || st.Refused != nil {
		t.Errorf("needs restart %v, refused %+v; want [mdns], none", st.NeedsRestart, st.Refused)
	}
	if lv.Level() != slog.LevelDebug || a.live.pollEvery() != 700*time.Millisecond || a.live.current().Connection("x", "").StatusMap["Open"] != "Todo" {
		t.Errorf("level %v, poll %v, map %v", lv.Level(), a.live.pollEvery(), a.live.current().Connection("x", "").StatusMap)
	}

	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(b, []byte("bogus_key: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	a.ReloadConfig()
	testutil.WaitFor(t, 10*time.Second, "the broken version is refused", func() bool {
		st := a.live.State()
		return st != nil && st.Refused != nil && strings.Contains(st.Refused.Error, "bogus_key")
	})
	if a.live.pollEvery() != 700*time.Millisecond {
		t.Errorf("the refused version changed the running config")
	}
}
