package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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
