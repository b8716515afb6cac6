package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
)

// TestTrackerCheckGitLab: on a GitLab (the fake) that takes the token,
// tracker check reports the credentials, the token's role and the rate
// limit as OK, and what GitLab lacks.
func TestTrackerCheckGitLab(t *testing.T) {
	f := glfake.New(t)
	dir := t.TempDir()
	tok := filepath.Join(dir, "gitlab.token")
	if err := os.WriteFile(tok, []byte(glfake.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "h")
	if out, err := run(t, "--home", home, "init", "--tracker", "gitlab", "--url", f.URL(), "--project", f.Project, "--token-file", tok, "--listen", "/ip4/127.0.0.1/tcp/0"); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	out, err := run(t, "--home", home, "tracker", "check")
	if err != nil {
		t.Fatalf("tracker check: %v: %s", err, out)
	}
	for _, want := range []string{"ok   credentials", `the token is user "issuemesh-bot"`, "ok   permissions: the token's role is 30", "ok   rate limit:", "requests left", "ok   confidential issues: kept back", "watchers"} {
		if !strings.Contains(out, want) {
			t.Errorf("tracker check lacks %q:\n%s", want, out)
		}
	}
}
