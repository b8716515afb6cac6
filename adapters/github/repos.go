package github

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/issuemesh/issuemesh/adapters/internal/forge"
)

// repoRef is one repository of the connection.
type repoRef struct{ owner, name string }

func (r repoRef) String() string { return r.owner + "/" + r.name }

// key is the issue key of number n: unique across repositories.
func (r repoRef) key(n int) string { return r.String() + "#" + strconv.Itoa(n) }

// parseRepo reads "owner/repo".
func parseRepo(s string) (repoRef, bool) {
	owner, name, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/ #") || strings.ContainsAny(owner, " #") {
		return repoRef{}, false
	}
	return repoRef{owner, name}, true
}

// parseRepos reads tracker.repo and tracker.repos into one list without
// repeats (GitHub's names are case-insensitive), repo first.
func parseRepos(repo string, repos []string) ([]repoRef, error) {
	var out []repoRef
	add := func(key, s string) error {
		r, ok := parseRepo(s)
		if !ok {
			return fmt.Errorf("github: %s %q: want owner/repo", key, s)
		}
		for _, o := range out {
			if strings.EqualFold(o.String(), r.String()) {
				return nil
			}
		}
		out = append(out, r)
		return nil
	}
	if repo != "" {
		if err := add("tracker.repo", repo); err != nil {
			return nil, err
		}
	}
	for i, s := range repos {
		if err := add(fmt.Sprintf("tracker.repos[%d]", i), s); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("github: no repository: set tracker.repo (owner/repo) or tracker.repos")
	}
	return out, nil
}

// repoNamed finds one of the connection's repositories by name.
func (t *Tracker) repoNamed(name string) (repoRef, bool) {
	for _, r := range t.repos {
		if strings.EqualFold(r.String(), strings.TrimSpace(name)) {
			return r, true
		}
	}
	return repoRef{}, false
}

// number parses a key: "owner/repo#N", or "N" and "#N" when the
// connection has one repository.
func (t *Tracker) number(key string) (repoRef, int, error) {
	s := strings.TrimSpace(key)
	r := t.repos[0]
	if name, n, ok := strings.Cut(s, "#"); ok {
		if name != "" {
			var in bool
			if r, in = t.repoNamed(name); !in {
				return repoRef{}, 0, notFound("issue %q is not in this connection's repositories (%s)", key, strings.Join(t.Repos(), ", "))
			}
		} else if len(t.repos) > 1 {
			return repoRef{}, 0, notFound("%q names no repository; this connection has several (want owner/repo#NUMBER)", key)
		}
		s = n
	} else if len(t.repos) > 1 {
		return repoRef{}, 0, notFound("%q names no repository; this connection has several (want owner/repo#NUMBER)", key)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return repoRef{}, 0, notFound("%q is not an issue key (want %s#NUMBER)", key, t.Repo())
	}
	return r, n, nil
}

// issueURL matches an issue's API or web address.
var issueURL = regexp.MustCompile(`(?:/repos)?/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/(?:issues|pull)/([0-9]+)$`)

// keyOfURL is the key of the issue at an API URL (parent_issue_url,
// issue_url), "" when it is none.
func keyOfURL(u string) string {
	m := issueURL.FindStringSubmatch(u)
	if m == nil {
		return ""
	}
	return m[1] + "/" + m[2] + "#" + m[3]
}

// repoOfURL is the repository and number of an issue's API URL.
func repoOfURL(u string) (repoRef, int, bool) {
	m := issueURL.FindStringSubmatch(u)
	if m == nil {
		return repoRef{}, 0, false
	}
	n, err := strconv.Atoi(m[3])
	return repoRef{m[1], m[2]}, n, err == nil
}

// mentions finds GitHub's issue references in text: #N, owner/repo#N and
// issue or pull request links on github.com.
var mentions = forge.NewMentions("https://github.com")

// references lists the issues a body mentions, as sorted keys without
// repeats and without the issue itself; "" when none.
func references(r repoRef, self int, body string) string {
	return mentions.Keys(r.owner, r.name, self, body)
}

// readOnly are the fields GitHub derives: a patch that sets them is
// ignored for them (the partner's values mean nothing here).
var readOnly = map[string]bool{"sub_issues": true, "references": true, "pull_request": true}

func unknownField(k string) error {
	return rejected("field %q: GitHub issues have only assignees, milestone, parent and repo besides the standard fields (sub_issues, references and pull_request are read only)", k)
}
