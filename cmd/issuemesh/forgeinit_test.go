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

// TestInitForges: init --tracker github, gitea and gitlab write what the
// tracker needs (repository or project, token file, URL); a missing URL,
// a bad repository or project is refused naming the key; tracker check
// reports the forge's refusal of the token.
func TestInitForges(t *testing.T) {
	type badInit struct {
		args []string
		key  string // the config key the error names
	}
	for _, c := range []struct {
		tracker string
		refusal string // the forge's 401 body
		bad     []badInit
		args    []string // a valid init besides --token-file; URL stands for the fake's URL
		want    config.Tracker
	}{
		{
			tracker: "github",
			refusal: `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`,
			bad:     []badInit{{[]string{"--repo", "nobody"}, "tracker.repo"}},
			args:    []string{"--repo", "octo/widgets", "--url", "URL/api/v3/"},
			want:    config.Tracker{Type: "github", URL: "URL/api/v3/", Repo: "octo/widgets"},
		},
		{
			tracker: "gitea",
			refusal: `{"message":"user does not exist [uid: 0, name: ]","url":"/api/swagger"}`,
			bad:     []badInit{{[]string{"--repo", "octo/widgets"}, "tracker.url"}, {[]string{"--url", "URL", "--repo", "nobody"}, "tracker.repo"}},
			args:    []string{"--url", "URL/", "--repo", "octo/widgets"},
			want:    config.Tracker{Type: "gitea", URL: "URL/", Repo: "octo/widgets"},
		},
		{
			tracker: "gitlab",
			refusal: `{"message":"401 Unauthorized"}`,
			bad:     []badInit{{[]string{"--project", "acme/widgets"}, "tracker.url"}, {[]string{"--url", "URL", "--project", "nobody"}, "tracker.project"}},
			args:    []string{"--url", "URL/", "--project", "acme/widgets"},
			want:    config.Tracker{Type: "gitlab", URL: "URL/", Project: "acme/widgets"},
		},
	} {
		t.Run(c.tracker, func(t *testing.T) {
			dir := t.TempDir()
			tok := filepath.Join(dir, c.tracker+".token")
			if err := os.WriteFile(tok, []byte("wrong\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(401)
				w.Write([]byte(c.refusal))
			}))
			defer srv.Close()
			url := func(args []string) []string {
				out := make([]string, len(args))
				for i, a := range args {
					out[i] = strings.Replace(a, "URL", srv.URL, 1)
				}
				return out
			}
			listen := []string{"--listen", "/ip4/127.0.0.1/tcp/0"}
			init := func(home string, args []string) (string, error) {
				a := append([]string{"--home", home, "init", "--tracker", c.tracker, "--token-file", tok}, url(args)...)
				return run(t, append(a, listen...)...)
			}
			for _, b := range c.bad {
				if _, err := init(filepath.Join(dir, "x"), b.args); err == nil || !strings.Contains(err.Error(), b.key) {
					t.Fatalf("init %v: %v, want an error naming %s", b.args, err, b.key)
				}
			}
			home := filepath.Join(dir, "ok")
			if out, err := init(home, c.args); err != nil {
				t.Fatalf("init: %v: %s", err, out)
			}
			cfg, err := config.Load(home)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Tracker.Prefix = ""
			want := c.want
			want.URL, want.TokenFile = strings.Replace(want.URL, "URL", srv.URL, 1), tok
			if !reflect.DeepEqual(cfg.Tracker, want) {
				t.Fatalf("config: %+v, want %+v", cfg.Tracker, want)
			}
			out, err := run(t, "--home", home, "tracker", "check")
			if err == nil || !strings.Contains(out, "FAIL credentials") || !strings.Contains(out, "refused the token") {
				t.Fatalf("check with a refused token: %v: %s", err, out)
			}
		})
	}
}
