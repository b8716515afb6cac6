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

// TestInitGitHub: init --tracker github writes repo, token file and the
// Enterprise URL; a bad repo is refused naming the key; tracker check
// reports refused credentials.
func TestInitGitHub(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "github.token")
	if err := os.WriteFile(tok, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		w.Write([]byte(`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`))
	}))
	defer srv.Close()
	listen := []string{"--listen", "/ip4/127.0.0.1/tcp/0"}
	if _, err := run(t, append([]string{"--home", filepath.Join(dir, "a"), "init", "--tracker", "github", "--repo", "nobody", "--token-file", tok}, listen...)...); err == nil || !strings.Contains(err.Error(), "tracker.repo") {
		t.Fatalf("init with a bad repo: %v", err)
	}
	home := filepath.Join(dir, "b")
	if out, err := run(t, append([]string{"--home", home, "init", "--tracker", "github", "--repo", "octo/widgets", "--token-file", tok, "--url", srv.URL + "/api/v3/"}, listen...)...); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	cfg, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracker.Prefix = ""
	if !reflect.DeepEqual(cfg.Tracker, config.Tracker{Type: "github", URL: srv.URL + "/api/v3/", TokenFile: tok, Repo: "octo/widgets"}) {
		t.Fatalf("config: %+v", cfg.Tracker)
	}
	out, err := run(t, "--home", home, "tracker", "check")
	if err == nil || !strings.Contains(out, "FAIL credentials") || !strings.Contains(out, "refused the token") {
		t.Fatalf("check with a refused token: %v: %s", err, out)
	}
}
