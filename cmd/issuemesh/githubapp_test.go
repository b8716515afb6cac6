package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters/github/ghfake"
	"github.com/issuemesh/issuemesh/config"
)

// TestInitGitHubApp: init --tracker github with --app-id, --app-key-file,
// --installation and two --repo writes them; a token file besides an app
// is refused naming both keys; tracker check, against the fake GitHub
// (every exchange validated by GitHub's description), reports the app,
// its installation's access to both repositories and the rate limit.
func TestInitGitHubApp(t *testing.T) {
	spec, err := ghfake.LoadSpec()
	if err != nil {
		t.Skipf("GitHub's OpenAPI description (@octokit/openapi) is not available: %v", err)
	}
	f := ghfake.New(t, spec, "octo/widgets", "octo/gadgets")
	srv := f.Start()
	defer srv.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.App = &ghfake.App{ID: 42, Key: &key.PublicKey, Installation: 7, TokenTTL: time.Hour}
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("x\n"), 0o600)
	listen := []string{"--listen", "/ip4/127.0.0.1/tcp/0"}
	app := []string{"init", "--tracker", "github", "--url", f.URL() + "/api/v3/", "--repo", "octo/widgets", "--repo", "octo/gadgets", "--app-id", "42", "--app-key-file", pemFile, "--installation", "7"}
	if _, err := run(t, append(append([]string{"--home", filepath.Join(dir, "a")}, app...), append(listen, "--token-file", tok)...)...); err == nil || !strings.Contains(err.Error(), "tracker.token_file and tracker.app_id") {
		t.Fatalf("init with a token and an app: %v", err)
	}
	home := filepath.Join(dir, "b")
	if out, err := run(t, append(append([]string{"--home", home}, app...), listen...)...); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	cfg, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracker.Prefix = ""
	want := config.Tracker{Type: "github", URL: f.URL() + "/api/v3/", Repos: []string{"octo/widgets", "octo/gadgets"}, AppID: 42, AppKeyFile: pemFile, Installation: 7}
	if !reflect.DeepEqual(cfg.Tracker, want) {
		t.Fatalf("config: %+v, want %+v", cfg.Tracker, want)
	}
	out, err := run(t, "--home", home, "tracker", "check")
	if err != nil {
		t.Fatalf("check: %v: %s", err, out)
	}
	for _, w := range []string{"GitHub App \"issuemesh-test\" (42), installation 7", "reaches all 2 of this connection's repositories", "octo/gadgets (private) with issues", "requests left", "no file upload"} {
		if !strings.Contains(out, w) {
			t.Errorf("check says no %q:\n%s", w, out)
		}
	}
	if f.Checked() == 0 {
		t.Error("no exchange was validated")
	}
}
