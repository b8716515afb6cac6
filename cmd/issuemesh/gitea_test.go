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

// TestInitGitea: init --tracker gitea writes url, repo and token file; a
// missing url or a bad repo is refused naming the key; tracker check
// reports refused credentials.
func TestInitGitea(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "gitea.token")
	if err := os.WriteFile(tok, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		w.Write([]byte(`{"message":"user does not exist [uid: 0, name: ]","url":"/api/swagger"}`))
	}))
	defer srv.Close()
	listen := []string{"--listen", "/ip4/127.0.0.1/tcp/0"}
	for _, c := range []struct {
		args []string
		key  string
	}{
		{[]string{"--repo", "octo/widgets"}, "tracker.url"},
		{[]string{"--url", srv.URL, "--repo", "nobody"}, "tracker.repo"},
	} {
		args := append([]string{"--home", filepath.Join(dir, "x"), "init", "--tracker", "gitea", "--token-file", tok}, append(c.args, listen...)...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Fatalf("init %v: %v, want an error naming %s", c.args, err, c.key)
		}
	}
	home := filepath.Join(dir, "b")
	if out, err := run(t, append([]string{"--home", home, "init", "--tracker", "gitea", "--url", srv.URL + "/", "--repo", "octo/widgets", "--token-file", tok}, listen...)...); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	cfg, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracker.Prefix = ""
	if !reflect.DeepEqual(cfg.Tracker, config.Tracker{Type: "gitea", URL: srv.URL + "/", TokenFile: tok, Repo: "octo/widgets"}) {
		t.Fatalf("config: %+v", cfg.Tracker)
	}
	out, err := run(t, "--home", home, "tracker", "check")
	if err == nil || !strings.Contains(out, "FAIL credentials") || !strings.Contains(out, "refused the token") {
		t.Fatalf("check with a refused token: %v: %s", err, out)
	}
}
