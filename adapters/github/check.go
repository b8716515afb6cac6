package github

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters/check"
)

var _ check.Checker = (*Tracker)(nil)

type addFunc func(name string, ok, warn bool, detail string, args ...any)

// Check verifies the credentials (the token's user, or the GitHub App and
// its installation token), the scopes or permissions, each repository
// (reachable, issues enabled, the permissions, and whether GitHub's
// webhook for it reaches a node), the rate limit left, and the change
// feed; it says what GitHub cannot keep (files, private comments).
func (t *Tracker) Check(ctx context.Context) []check.Result {
	var out []check.Result
	add := func(name string, ok, warn bool, detail string, args ...any) {
		out = append(out, check.Result{Name: name, OK: ok, Warning: warn, Detail: fmt.Sprintf(detail, args...)})
	}
	var ok bool
	if t.app != nil {
		ok = t.checkApp(ctx, add)
	} else {
		ok = t.checkToken(ctx, add)
	}
	if !ok {
		return out
	}
	if a := t.WebhookAddr(); a != "" {
		add("webhook", true, false, "listening on %s for deliveries of issues and issue_comment events; whether GitHub reaches it shows in the repository's Settings, Webhooks, Recent deliveries", a)
	} else if t.hook.Configured() != "" {
		add("webhook", true, true, "tracker.webhook.listen is %s; the listener starts with the node (tracker check does not open it)", t.hook.Configured())
	} else {
		add("webhook", true, true, "no webhook: changes are found by polling only")
	}
	for _, r := range t.repos {
		if !t.checkRepo(ctx, r, add) {
			return out
		}
	}
	add("attachments", true, true, "GitHub's API has no file upload: files are not synced as files; a file attached on GitHub is a link in the body or a comment and travels as that text, and files from the partner do not reach GitHub")
	add("fields", true, true, "%s", t.lackingDetail())
	rl, resp, err := t.c.RateLimit.Get(ctx)
	if err != nil {
		add("rate limit", false, false, "%v", classify("read the rate limit", resp, err))
	} else if core := rl.GetCore(); core != nil {
		left := core.Remaining
		add("rate limit", left > 0, left < t.tr.Reserve(), "%d of %d requests left until %s (polls that find nothing new cost none: GitHub does not count 304s)",
			left, core.Limit, core.Reset.UTC().Format(time.RFC3339))
	}

	start := time.Now()
	is, _, err := t.Changes(ctx, "", len(t.repos))
	if err != nil {
		add("change feed", false, false, "%v", err)
		return out
	}
	first := "the repositories have no issues yet"
	if len(is) > 0 {
		first = "oldest change: " + is[0].Key + ", " + strings.TrimSpace(is[0].Summary)
	}
	add("change feed", true, false, "read in %v; %s", time.Since(start).Round(time.Millisecond), first)
	return out
}

// checkToken: the token's user and, for a classic token, its scopes.
func (t *Tracker) checkToken(ctx context.Context, add addFunc) bool {
	start := time.Now()
	me, resp, err := t.c.Users.Get(ctx, "")
	if err != nil {
		add("credentials", false, false, "%v", classify("read the token's user", resp, err))
		return false
	}
	add("credentials", true, false, "%s answers in %v; the token is user %q", t.c.BaseURL(), time.Since(start).Round(time.Millisecond), me.GetLogin())
	if sc, ok := resp.Header["X-Oauth-Scopes"]; ok {
		// A classic token says its scopes; a fine-grained one does not
		// (its permissions show in the repository's below).
		scopes := strings.Join(sc, ",")
		add("scopes", true, !strings.Contains(scopes, "repo"), "classic token with scopes %q (it needs repo, or public_repo for a public repository; a fine-grained token for these repositories only is safer)", scopes)
	} else {
		add("scopes", true, false, "a fine-grained token: no scopes; the permissions are checked on each repository")
	}
	return true
}

// checkApp: the app (by its JWT), an installation token, its permissions,
// and the repositories the installation may reach.
func (t *Tracker) checkApp(ctx context.Context, add addFunc) bool {
	start := time.Now()
	c, err := t.app.appClient()
	if err != nil {
		add("credentials", false, false, "%v", err)
		return false
	}
	app, resp, err := c.Apps.Get(ctx, "")
	if err != nil {
		add("credentials", false, false, "GitHub refused the app's JWT (check tracker.app_id and tracker.app_key_file): %v", classify("read the app", resp, err))
		return false
	}
	if _, err := t.app.current(ctx); err != nil {
		add("credentials", false, false, "app %q (%d): %v", app.GetSlug(), app.GetID(), err)
		return false
	}
	exp, perms, _ := t.app.state()
	add("credentials", true, false, "%s answers in %v; GitHub App %q (%d), installation %d: token valid until %s, renewed %v before",
		t.c.BaseURL(), time.Since(start).Round(time.Millisecond), app.GetSlug(), app.GetID(), t.app.installation, exp.UTC().Format(time.RFC3339), renewBefore)
	var ps []string
	for k, v := range perms {
		if v != "" {
			ps = append(ps, k+": "+v)
		}
	}
	slices.Sort(ps)
	switch {
	case perms["issues"] != "write":
		add("scopes", false, false, "the installation's permissions are %s; it needs issues: write (the app's settings, Permissions, Repository, Issues)", strings.Join(ps, ", "))
		return false
	case perms["repository_hooks"] == "":
		add("scopes", true, true, "the installation's permissions are %s; with webhooks: read, tracker check could say whether GitHub's webhooks reach the node", strings.Join(ps, ", "))
	default:
		add("scopes", true, false, "the installation's permissions are %s", strings.Join(ps, ", "))
	}
	var names []string
	opts := &gh.ListOptions{PerPage: 100}
	for {
		lr, resp, err := t.c.Apps.ListRepos(ctx, opts)
		if err != nil {
			add("repository access", false, false, "%v", classify("list the installation's repositories", resp, err))
			return false
		}
		for _, r := range lr.Repositories {
			names = append(names, strings.ToLower(r.GetFullName()))
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	var missing []string
	for _, r := range t.repos {
		if !slices.Contains(names, strings.ToLower(r.String())) {
			missing = append(missing, r.String())
		}
	}
	if len(missing) > 0 {
		add("repository access", false, false, "the installation cannot reach %s (it may reach %d repositories): add them in the installation's settings, Repository access", strings.Join(missing, ", "), len(names))
		return false
	}
	add("repository access", true, false, "the installation reaches all %d of this connection's repositories", len(t.repos))
	return true
}

// checkRepo: the repository, the permissions on it, its webhook.
func (t *Tracker) checkRepo(ctx context.Context, r repoRef, add addFunc) bool {
	repo, resp, err := t.c.Repositories.Get(ctx, r.owner, r.name)
	if err != nil {
		add("repository", false, false, "%s: %v (a fine-grained token or an app installation must be granted this repository)", r, classify("read the repository", resp, err))
		return false
	}
	if !repo.GetHasIssues() {
		add("repository", false, false, "%s has issues turned off (Settings, Features, Issues)", r)
		return false
	}
	vis := "public"
	if repo.GetPrivate() {
		vis = "private"
	}
	add("repository", true, false, "%s (%s) with issues", repo.GetFullName(), vis)
	if p := repo.GetPermissions(); p != nil {
		if p.GetPush() || p.GetTriage() {
			add("permissions", true, false, "%s: the credentials may write issues, labels and assignees (push %v, triage %v)", r, p.GetPush(), p.GetTriage())
		} else {
			add("permissions", true, true, "%s: the credentials may not triage: GitHub silently drops labels, assignees and milestones they set (push %v, triage %v)", r, p.GetPush(), p.GetTriage())
		}
	}
	if repo.GetPrivate() {
		add("internal comments", true, true, "GitHub has no private comments: a comment synced as internal is marked, but readable by anyone who can read %s", r)
	} else {
		add("internal comments", true, true, "GitHub has no private comments: a comment synced as internal would be public in %s; keep internal comments out of this connection's rules", r)
	}
	t.checkHooks(ctx, r, add)
	return true
}

// checkHooks reports whether GitHub's webhooks of r deliver issue events
// and how their last delivery went: what the node cannot see from its
// side (behind NAT, GitHub's deliveries never arrive).
func (t *Tracker) checkHooks(ctx context.Context, r repoRef, add addFunc) {
	hooks, resp, err := t.c.Repositories.ListHooks(ctx, r.owner, r.name, &gh.ListOptions{PerPage: 100})
	if err != nil {
		add("webhook reachability", true, true, "%s: cannot read the repository's webhooks (%v); the credentials need webhooks: read, or see Settings, Webhooks, Recent deliveries", r, classify("list webhooks", resp, err))
		return
	}
	found := false
	for _, h := range hooks {
		if !h.GetActive() || !(slices.Contains(h.Events, "issues") || slices.Contains(h.Events, "*")) {
			continue
		}
		found = true
		url := h.GetConfig().GetURL()
		last := h.GetLastResponse()
		code, _ := last["code"].(float64)
		msg, _ := last["message"].(string)
		switch {
		case code == 0:
			add("webhook reachability", true, true, "%s: webhook %d to %s has delivered nothing yet; polling finds the changes meanwhile", r, h.GetID(), url)
		case code >= 200 && code < 300:
			add("webhook reachability", true, false, "%s: webhook %d reaches %s (last delivery answered %d)", r, h.GetID(), url, int(code))
		default:
			add("webhook reachability", true, true, "%s: webhook %d cannot reach %s (last delivery: %d %s); changes are found by polling only, at tracker.poll_interval", r, h.GetID(), url, int(code), msg)
		}
	}
	if !found {
		add("webhook reachability", true, true, "%s has no active webhook for issues events: changes are found by polling only (see the README, Connect GitHub)", r)
	}
}

var _ check.Vocabulary = (*Tracker)(nil)

// Values lists the statuses GitHub can set, the priorities kept as labels,
// and the extra fields.
func (t *Tracker) Values(context.Context) (check.Values, error) {
	return check.Values{Statuses: append(append([]string{}, writable...), "duplicate"), Priorities: t.priorities, Fields: []string{"assignees", "milestone", "parent", "repo", "sub_issues", "references", "pull_request"}}, nil
}
