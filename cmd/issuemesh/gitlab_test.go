package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
	"github.com/issuemesh/issuemesh/config"
)

// TestInitGitLab: init --tracker gitlab writes url, project and token file; a
// missing url or a bad project is refused naming the key; tracker check
// reports refused credentials.
func TestInitGitLab(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "gitlab.token")
	if err := os.WriteFile(tok, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		w.Write([]byte(`{"message":"401 Unauthorized"}`))
	}))
	defer srv.Close()
	listen := []string{"--listen", "/ip4/127.0.0.1/tcp/0"}
	for _, c := range []struct {
		args []string
		key  string
	}{
		{[]string{"--project", "acme/widgets"}, "tracker.url"},
		{[]string{"--url", srv.URL, "--project", "nobody"}, "tracker.project"},
	} {
		args := append([]string{"--home", filepath.Join(dir, "x"), "init", "--tracker", "gitlab", "--token-file", tok}, append(c.args, listen...)...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Fatalf("init %v: %v, want an error naming %s", c.args, err, c.key)
		}
	}
	home := filepath.Join(dir, "b")
	if out, err := run(t, append([]string{"--home", home, "init", "--tracker", "gitlab", "--url", srv.URL + "/", "--project", "acme/widgets", "--token-file", tok}, listen...)...); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	cfg, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracker.Prefix = ""
	if !reflect.DeepEqual(cfg.Tracker, config.Tracker{Type: "gitlab", URL: srv.URL + "/", TokenFile: tok, Project: "acme/widgets"}) {
		t.Fatalf("config: %+v", cfg.Tracker)
	}
	out, err := run(t, "--home", home, "tracker", "check")
	if err == nil || !strings.Contains(out, "FAIL credentials") || !strings.Contains(out, "refused the token") {
		t.Fatalf("check with a refused token: %v: %s", err, out)
	}
}

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
