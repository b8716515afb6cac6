package config

import (
	"strings"
	"testing"
)

// TestGitHubSection: repositories (one or a list), a token or a GitHub
// App (all three keys, not with a token), and keys no other type takes.
func TestGitHubSection(t *testing.T) {
	for _, tc := range []struct{ yaml, wantErr string }{
		{"tracker: {type: github, repo: octo/widgets, token_file: /t}\n", ""},
		{"tracker: {type: github, repos: [octo/widgets, octo/gadgets], pull_requests: true}\n", ""},
		{"tracker: {type: github, repo: octo/widgets, app_id: 42, app_key_file: /k.pem, installation: 7}\n", ""},
		{"tracker: {type: github}\n", "tracker.repo: missing; a github tracker needs tracker.repo (owner/repo) or tracker.repos"},
		{"tracker: {type: github, repos: [octo/widgets, nobody]}\n", `tracker.repos[1]: "nobody" is not owner/repo`},
		{"tracker: {type: github, repo: 'octo/a b'}\n", `tracker.repo: "octo/a b" is not owner/repo`},
		{"tracker: {type: github, repo: o/r, token_file: /t, app_id: 1, app_key_file: /k, installation: 2}\n", "tracker.token_file and tracker.app_id"},
		{"tracker: {type: github, repo: o/r, app_id: 1, installation: 2}\n", "tracker.app_key_file: missing"},
		{"tracker: {type: github, repo: o/r, app_id: 1, app_key_file: /k}\n", "tracker.installation: missing"},
		{"tracker: {type: github, repo: o/r, app_key_file: /k, installation: 2}\n", "tracker.app_id: missing"},
		{"tracker: {type: redmine, url: 'http://x', project: p, repos: [o/r]}\n", "tracker.repos: not a key of a redmine tracker"},
		{"tracker: {type: rt, url: 'http://x', queue: q, app_key_file: /k}\n", "tracker.app_key_file: not a key of a rt tracker"},
		{"tracker: {type: local, pull_requests: true}\n", "tracker.pull_requests: not a key of a local tracker"},
	} {
		_, err := Parse("h/config.yaml", []byte(tc.yaml))
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.wantErr)
		}
	}
}
