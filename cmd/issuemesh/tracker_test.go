package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/config"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	err := app.Run(interspersed(app, append([]string{"issuemesh"}, args...)))
	return out.String() + errb.String(), err
}

// TestInitTrackerAndCheck: init writes a working redmine config, rejects
// incomplete ones naming the flag, and tracker check says what is wrong.
func TestInitTrackerAndCheck(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "redmine.key")
	if err := os.WriteFile(key, []byte("wrong-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Redmine-Api-Key") != "right-key" {
			w.WriteHeader(401)
			return
		}
		w.Write([]byte(`{"user":{"login":"sync","admin":false}}`))
	}))
	defer srv.Close()
	listen := []string{"--listen", "/ip4/127.0.0.1/tcp/0"}

	if _, err := run(t, append([]string{"--home", filepath.Join(dir, "a"), "init", "--tracker", "redmine", "--url", srv.URL, "--api-key-file", key}, listen...)...); err == nil || !strings.Contains(err.Error(), "tracker.project: missing") {
		t.Fatalf("init without --project: %v", err)
	}
	if _, err := run(t, append([]string{"--home", filepath.Join(dir, "b"), "init", "--tracker", "redmine", "--url", srv.URL, "--api-key-file", filepath.Join(dir, "nope"), "--project", "p"}, listen...)...); err == nil || !strings.Contains(err.Error(), "--api-key-file") {
		t.Fatalf("init with a missing key file: %v", err)
	}
	home := filepath.Join(dir, "c")
	if out, err := run(t, append([]string{"--home", home, "init", "--tracker", "redmine", "--url", srv.URL, "--api-key-file", key, "--project", "sup"}, listen...)...); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	cfg, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracker.Prefix = "" // the local tracker's default, ignored by the others
	if !reflect.DeepEqual(cfg.Tracker, config.Tracker{Type: "redmine", URL: srv.URL, APIKeyFile: key, Project: "sup"}) {
		t.Fatalf("config: %+v", cfg.Tracker)
	}
	out, err := run(t, "--home", home, "tracker", "check")
	if err == nil || !strings.Contains(out, "FAIL connection and API key") || !strings.Contains(out, "refused the credentials") {
		t.Fatalf("check with a wrong key: %v: %s", err, out)
	}
	if err := os.WriteFile(key, []byte("right-key"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = run(t, "--home", home, "tracker", "check")
	if !strings.Contains(out, `ok   connection and API key`) || !strings.Contains(out, `FAIL project: project "sup"`) {
		t.Fatalf("check with the right key and no project: %s", out)
	}
}
