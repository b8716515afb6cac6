package config

import (
	"strings"
	"testing"
)

func TestTrackerSection(t *testing.T) {
	for _, tc := range []struct{ yaml, wantErr string }{
		{"tracker: {type: redmine, url: 'http://127.0.0.1:3000', project: sup, api_key_file: /k}\n", ""},
		{"tracker: {type: redmine, url: 'https://rm.example.com/redmine', project: sup}\n", ""},
		{"tracker: {type: rt, url: 'http://127.0.0.1:8080', queue: General, token_file: /t, timezone: Europe/Berlin}\n", ""},
		{"tracker: {type: redmine, project: sup}\n", "tracker.url: missing; a redmine tracker needs tracker.url and tracker.project"},
		{"tracker: {type: redmine, url: 'http://x'}\n", "tracker.project: missing"},
		{"tracker: {type: rt, url: 'http://x'}\n", "tracker.queue: missing"},
		{"tracker: {type: redmine, url: 'localhost:3000', project: p}\n", `tracker.url: "localhost:3000" is not an http`},
		{"tracker: {type: redmine, url: 'http://admin:pw@x/', project: p}\n", "carries credentials"},
		{"tracker: {type: redmine, url: 'http://x', project: p, queue: q}\n", "tracker.queue: not a key of a redmine tracker"},
		{"tracker: {type: rt, url: 'http://x', queue: q, api_key_file: /k}\n", "tracker.api_key_file: not a key of a rt tracker"},
		{"tracker: {type: local, url: 'http://x'}\n", "tracker.url: not a key of a local tracker"},
		{"tracker: {type: rt, url: 'http://x', queue: q, timezone: Mars/Base}\n", `tracker.timezone: "Mars/Base"`},
		{"tracker: {type: redmine, url: 'http://x', project: p, api_key: abc}\n", "field api_key not found"},
		{"tracker: {type: ''}\n", "tracker.type: missing; use one of local, redmine, rt"},
		{"tracker: {type: gitea, url: 'https://gitea.example.com/', repo: acme/widgets, token_file: /t, webhook: {listen: '127.0.0.1:8444', secret_file: /s}}\n", ""},
		{"tracker: {type: gitea, repo: acme/widgets}\n", "tracker.url: missing; a gitea tracker needs tracker.url and tracker.repo"},
		{"tracker: {type: gitea, url: 'http://x', repo: nobody}\n", `tracker.repo: "nobody" is not owner/repo`},
		{"tracker: {type: gitea, url: 'http://x', repo: a/b, queue: q}\n", "tracker.queue: not a key of a gitea tracker"},
		{"tracker: {type: redmine, url: 'http://x', project: p, webhook: {listen: ':1'}}\n", "a redmine tracker takes no webhook (github, gitea and gitlab do)"},
		{"tracker: {type: gitlab, url: 'https://gitlab.com/', project: acme/widgets, share_confidential: true}\n", ""},
		{"tracker: {type: gitea, url: 'http://x', repo: a/b, share_confidential: true}\n", "tracker.share_confidential: not a key of a gitea tracker (gitlab takes it"},
		{"tracker: {type: gitlab, url: 'https://gitlab.com/', project: acme/widgets, projects: [acme/gadgets, acme/tools/cli]}\n", ""},
		{"tracker: {type: gitlab, url: 'https://gitlab.com/', project: acme/widgets, projects: [gadgets]}\n", `tracker.projects[0]: "gadgets" is not a GitLab project's full path`},
		{"tracker: {type: jira, url: 'https://x.atlassian.net/', project: P, projects: [a/b]}\n", "tracker.projects: not a key of a jira tracker"},
		{"tracker: {type: gitlab, url: 'https://gitlab.com/', project: acme/widgets, share_confidential: maybe}\n", "cannot unmarshal !!str `maybe` into bool"},
	} {
		c, err := Parse("h/config.yaml", []byte(tc.yaml))
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.yaml, err)
			} else if c.Tracker.Prefix != "LOCAL" {
				t.Errorf("%s: defaults lost: %+v", tc.yaml, c.Tracker)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.wantErr)
		}
	}
}
