package github

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters/check"
)

var _ check.Checker = (*Tracker)(nil)

// Check verifies the token (whose user it is), the repository (reachable,
// issues enabled, the token's permissions), the rate limit left, and the
// change feed; it says what GitHub cannot keep (files, private comments).
func (t *Tracker) Check(ctx context.Context) []check.Result {
	var out []check.Result
	add := func(name string, ok, warn bool, detail string, args ...any) {
		out = append(out, check.Result{Name: name, OK: ok, Warning: warn, Detail: fmt.Sprintf(detail, args...)})
	}
	start := time.Now()
	me, resp, err := t.c.Users.Get(ctx, "")
	if err != nil {
		add("credentials", false, false, "%v", classify("read the token's user", resp, err))
		return out
	}
	add("credentials", true, false, "%s answers in %v; the token is user %q", t.c.BaseURL(), time.Since(start).Round(time.Millisecond), me.GetLogin())
	if sc, ok := resp.Header["X-Oauth-Scopes"]; ok {
		// A classic token says its scopes; a fine-grained one does not
		// (its permissions show in the repository's below).
		scopes := strings.Join(sc, ",")
		add("scopes", true, !strings.Contains(scopes, "repo"), "classic token with scopes %q (it needs repo, or public_repo for a public repository; a fine-grained token for this one repository is safer)", scopes)
	} else {
		add("scopes", true, false, "a fine-grained token (or an app's): no scopes; the permissions are checked on the repository")
	}
	if a := t.WebhookAddr(); a != "" {
		add("webhook", true, false, "listening on %s for deliveries of issues and issue_comment events; whether GitHub reaches it shows in the repository's Settings, Webhooks, Recent deliveries", a)
	} else if t.hook.Configured() != "" {
		add("webhook", true, true, "tracker.webhook.listen is %s; the listener starts with the node (tracker check does not open it)", t.hook.Configured())
	} else {
		add("webhook", true, true, "no webhook: changes are found by polling only")
	}

	repo, resp, err := t.c.Repositories.Get(ctx, t.owner, t.repo)
	if err != nil {
		add("repository", false, false, "%s: %v (a fine-grained token must be granted this repository)", t.Repo(), classify("read the repository", resp, err))
		return out
	}
	switch {
	case !repo.GetHasIssues():
		add("repository", false, false, "%s has issues turned off (Settings, Features, Issues)", t.Repo())
	default:
		vis := "public"
		if repo.GetPrivate() {
			vis = "private"
		}
		add("repository", true, false, "%s (%s) with issues", repo.GetFullName(), vis)
	}
	if p := repo.GetPermissions(); p != nil {
		if p.GetPush() || p.GetTriage() {
			add("permissions", true, false, "the token's user may write issues, labels and assignees (push %v, triage %v)", p.GetPush(), p.GetTriage())
		} else {
			add("permissions", true, true, "the token's user may not triage: GitHub silently drops labels, assignees and milestones it sets (push %v, triage %v)", p.GetPush(), p.GetTriage())
		}
	}
	if repo.GetPrivate() {
		add("internal comments", true, true, "GitHub has no private comments: a comment synced as internal is marked, but readable by anyone who can read %s", t.Repo())
	} else {
		add("internal comments", true, true, "GitHub has no private comments: a comment synced as internal would be public in %s; keep internal comments out of this connection's rules", t.Repo())
	}
	add("attachments", true, true, "GitHub's API has no file upload: files are not synced to GitHub (links in text travel as text)")

	rl, resp, err := t.c.RateLimit.Get(ctx)
	if err != nil {
		add("rate limit", false, false, "%v", classify("read the rate limit", resp, err))
	} else if core := rl.GetCore(); core != nil {
		left := core.Remaining
		add("rate limit", left > 0, left < t.tr.Reserve(), "%d of %d requests left until %s (polls that find nothing new cost none: GitHub does not count 304s)",
			left, core.Limit, core.Reset.UTC().Format(time.RFC3339))
	}

	start = time.Now()
	is, _, err := t.Changes(ctx, "", 1)
	if err != nil {
		add("change feed", false, false, "%v", err)
		return out
	}
	first := "the repository has no issues yet"
	if len(is) > 0 {
		first = "oldest change: " + is[0].Key + ", " + strings.TrimSpace(is[0].Summary)
	}
	add("change feed", true, false, "read in %v; %s", time.Since(start).Round(time.Millisecond), first)
	return out
}

var _ check.Vocabulary = (*Tracker)(nil)

// Values lists the statuses GitHub can set, the priorities kept as labels,
// and the extra fields.
func (t *Tracker) Values(context.Context) (check.Values, error) {
	return check.Values{Statuses: append(append([]string{}, writable...), "duplicate"), Priorities: t.priorities, Fields: []string{"assignees", "milestone"}}, nil
}
