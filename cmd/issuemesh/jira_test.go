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

// TestInitJira: init --tracker jira writes url, project, email and token
// file (Cloud) or the PAT file (Data Center); a missing project, an email
// with a PAT, or a token without an email is refused naming the key;
// tracker check reports refused credentials.
func TestInitJira(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "jira.token")
	if err := os.WriteFile(tok, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		w.Write([]byte(`{"errorMessages":["Client must be authenticated to access this resource."],"errors":{}}`))
	}))
	defer srv.Close()
	listen := []string{"--listen", "/ip4/127.0.0.1/tcp/0"}
	for _, c := range []struct {
		args []string
		key  string
	}{
		{[]string{"--url", srv.URL, "--email", "a@example.com", "--token-file", tok}, "tracker.project"},
		{[]string{"--url", srv.URL, "--project", "PROJ", "--email", "a@example.com", "--pat-file", tok}, "tracker.pat_file"},
		{[]string{"--url", srv.URL, "--project", "PROJ", "--token-file", tok}, "tracker.email"},
	} {
		args := append([]string{"--home", filepath.Join(dir, "x"), "init", "--tracker", "jira"}, append(c.args, listen...)...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Fatalf("init %v: %v, want an error naming %s", c.args, err, c.key)
		}
	}
	for _, c := range []struct {
		args []string
		want config.Tracker
	}{
		{[]string{"--email", "a@example.com", "--token-file", tok}, config.Tracker{Type: "jira", URL: srv.URL, Project: "PROJ", Email: "a@example.com", TokenFile: tok}},
		{[]string{"--pat-file", tok}, config.Tracker{Type: "jira", URL: srv.URL, Project: "PROJ", PATFile: tok}},
	} {
		home := filepath.Join(dir, c.args[0])
		if out, err := run(t, append(append([]string{"--home", home, "init", "--tracker", "jira", "--url", srv.URL, "--project", "PROJ"}, c.args...), listen...)...); err != nil {
			t.Fatalf("init: %v: %s", err, out)
		}
		cfg, err := config.Load(home)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Tracker.Prefix = ""
		if !reflect.DeepEqual(cfg.Tracker, c.want) {
			t.Fatalf("config: %+v, want %+v", cfg.Tracker, c.want)
		}
		out, err := run(t, "--home", home, "tracker", "check")
		if err == nil || !strings.Contains(out, "FAIL credentials") || !strings.Contains(out, "refused the credentials") {
			t.Fatalf("check with refused credentials: %v: %s", err, out)
		}
	}
}
