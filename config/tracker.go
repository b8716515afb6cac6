package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// TrackerTypes are the values of tracker.type.
var TrackerTypes = []string{"local", "redmine", "rt", "github", "gitea", "jira", "gitlab"}

// validate checks the tracker section: the keys its type needs, and no key
// of another type (a key that would be ignored is a mistake worth naming).
// tracker.prefix is the local tracker's and is ignored by the others, as
// the default config sets it.
func (t *Tracker) validate() error {
	need := map[string][]string{
		"local":   {},
		"redmine": {"url", "project"},
		"rt":      {"url", "queue"},
		"github":  {},
		"gitea":   {"url", "repo"},
		"jira":    {"url", "project"},
		"gitlab":  {"url", "project"},
	}
	allowed := map[string][]string{
		"local":   {},
		"redmine": {"url", "project", "api_key_file"},
		"rt":      {"url", "queue", "token_file", "timezone"},
		"github":  {"url", "repo", "token_file", "app_key_file"},
		"gitea":   {"url", "repo", "token_file"},
		"jira":    {"url", "project", "email", "token_file", "pat_file"},
		"gitlab":  {"url", "project", "token_file"},
	}
	if t.Type == "" {
		return errors.New("tracker.type: missing; use one of " + strings.Join(TrackerTypes, ", "))
	}
	if _, ok := need[t.Type]; !ok {
		return fmt.Errorf("tracker.type: %q is not a tracker this node knows; use one of %s", t.Type, strings.Join(TrackerTypes, ", "))
	}
	if t.Type == "local" && t.Prefix != "" && strings.ContainsAny(t.Prefix, " /-") {
		return fmt.Errorf("tracker.prefix: %q may not contain spaces, '/' or '-'", t.Prefix)
	}
	vals := map[string]string{"url": t.URL, "project": t.Project, "queue": t.Queue, "api_key_file": t.APIKeyFile, "token_file": t.TokenFile, "timezone": t.Timezone, "repo": t.Repo, "app_key_file": t.AppKeyFile, "email": t.Email, "pat_file": t.PATFile}
	for _, k := range need[t.Type] {
		if strings.TrimSpace(vals[k]) == "" {
			return fmt.Errorf("tracker.%s: missing; a %s tracker needs %s", k, t.Type, strings.Join(prefixed(need[t.Type]), " and "))
		}
	}
	for _, k := range []string{"url", "project", "queue", "repo", "api_key_file", "token_file", "timezone", "app_key_file", "email", "pat_file"} {
		if vals[k] != "" && !slices.Contains(allowed[t.Type], k) {
			return fmt.Errorf("tracker.%s: not a key of a %s tracker (it takes %s)", k, t.Type, orNothing(prefixed(allowed[t.Type])))
		}
	}
	if t.URL != "" {
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("tracker.url: %q is not an http:// or https:// URL", t.URL)
		}
		if u.User != nil {
			return fmt.Errorf("tracker.url: %s carries credentials; put them in the key or token file instead", u.Redacted())
		}
	}
	if p := time.Duration(t.PollInterval); p != 0 && (p < 100*time.Millisecond || p > time.Hour) {
		return fmt.Errorf("tracker.poll_interval: %s is outside 100ms to 1h", time.Duration(t.PollInterval))
	}
	if t.ShareConfidential && t.Type != "gitlab" {
		return fmt.Errorf("tracker.share_confidential: not a key of a %s tracker (gitlab takes it: GitLab's confidential issues)", t.Type)
	}
	if err := t.validateJira(); err != nil {
		return err
	}
	if t.Webhook != nil {
		if t.Type != "github" && t.Type != "gitea" && t.Type != "gitlab" {
			return fmt.Errorf("tracker.webhook: a %s tracker takes no webhook (github, gitea and gitlab do)", t.Type)
		}
		if _, _, err := net.SplitHostPort(t.Webhook.Listen); err != nil {
			return fmt.Errorf("tracker.webhook.listen: %q is not host:port: %w", t.Webhook.Listen, err)
		}
	}
	if p := strings.Trim(t.Project, "/"); t.Type == "gitlab" && (!strings.Contains(p, "/") || strings.ContainsAny(p, " #")) {
		return fmt.Errorf("tracker.project: %q is not a GitLab project's full path (want group/name, as in the project's URL)", t.Project)
	}
	if len(t.Projects) > 0 && t.Type != "gitlab" {
		return fmt.Errorf("tracker.projects: not a key of a %s tracker (gitlab takes it)", t.Type)
	}
	for i, p := range t.Projects {
		if p = strings.Trim(p, "/"); !strings.Contains(p, "/") || strings.ContainsAny(p, " #") {
			return fmt.Errorf("tracker.projects[%d]: %q is not a GitLab project's full path (want group/name, as in the project's URL)", i, t.Projects[i])
		}
	}
	if err := t.validateGitHub(); err != nil {
		return err
	}
	if t.Timezone != "" {
		if _, err := time.LoadLocation(t.Timezone); err != nil {
			return fmt.Errorf("tracker.timezone: %q is not a time zone this machine knows (e.g. UTC, Europe/Berlin): %w", t.Timezone, err)
		}
	}
	return nil
}

func prefixed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = "tracker." + k
	}
	return out
}

func orNothing(keys []string) string {
	if len(keys) == 0 {
		return "none of these"
	}
	return strings.Join(keys, ", ")
}

// validateGitHub checks the keys only a github tracker takes: its
// repositories, and a token or a GitHub App (not both).
func (t *Tracker) validateGitHub() error {
	if t.Type != "github" {
		switch {
		case len(t.Repos) > 0:
			return fmt.Errorf("tracker.repos: not a key of a %s tracker (github takes it)", t.Type)
		case t.PullRequests:
			return fmt.Errorf("tracker.pull_requests: not a key of a %s tracker (github takes it)", t.Type)
		case t.AppID != 0 || t.Installation != 0:
			return fmt.Errorf("tracker.app_id, tracker.installation: not keys of a %s tracker (github takes them)", t.Type)
		case t.Repo != "":
			return checkRepo("tracker.repo", t.Repo)
		}
		return nil
	}
	if t.Repo == "" && len(t.Repos) == 0 {
		return errors.New("tracker.repo: missing; a github tracker needs tracker.repo (owner/repo) or tracker.repos (a list of them)")
	}
	check := checkRepo
	if t.Repo != "" {
		if err := check("tracker.repo", t.Repo); err != nil {
			return err
		}
	}
	for i, r := range t.Repos {
		if err := check(fmt.Sprintf("tracker.repos[%d]", i), r); err != nil {
			return err
		}
	}
	app := t.AppID != 0 || t.AppKeyFile != "" || t.Installation != 0
	switch {
	case !app:
		return nil
	case t.TokenFile != "":
		return errors.New("tracker.token_file and tracker.app_id: a github tracker authenticates by token or as a GitHub App, not both")
	case t.AppID <= 0:
		return errors.New("tracker.app_id: missing; a GitHub App needs tracker.app_id, tracker.app_key_file and tracker.installation")
	case t.AppKeyFile == "":
		return errors.New("tracker.app_key_file: missing; a GitHub App needs tracker.app_id, tracker.app_key_file and tracker.installation")
	case t.Installation <= 0:
		return errors.New("tracker.installation: missing; a GitHub App needs tracker.app_id, tracker.app_key_file and tracker.installation")
	}
	return nil
}

// checkRepo checks that s (the value of key) is owner/repo.
func checkRepo(key, s string) error {
	if o, r, ok := strings.Cut(s, "/"); !ok || o == "" || r == "" || strings.ContainsAny(r, "/ #") || strings.ContainsAny(o, " #") {
		return fmt.Errorf("%s: %q is not owner/repo", key, s)
	}
	return nil
}
