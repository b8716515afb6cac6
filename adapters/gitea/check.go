package gitea

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/adapters/internal/forge"
)

var _ check.Checker = (*Tracker)(nil)

// Check verifies the token (whose user it is), the server's version, the
// repository (reachable, issues on, the token's permissions), the
// repository's webhooks that would reach a node, the attachment settings,
// and the change feed.
func (t *Tracker) Check(ctx context.Context) []check.Result {
	var out []check.Result
	add := func(name string, ok, warn bool, detail string, args ...any) {
		out = append(out, check.Result{Name: name, OK: ok, Warning: warn, Detail: fmt.Sprintf(detail, args...)})
	}
	start := time.Now()
	me, resp, err := t.api(ctx).GetMyUserInfo()
	if err != nil {
		add("credentials", false, false, "%v", classify(ctx, "read the token's user", resp, err))
		return out
	}
	add("credentials", true, false, "%s answers in %v; the token is user %q", t.base, time.Since(start).Round(time.Millisecond), me.UserName)
	if v, _, err := t.api(ctx).ServerVersion(); err == nil {
		add("version", true, false, "Gitea (or Forgejo) %s", v)
	}

	repo, resp, err := t.api(ctx).GetRepo(t.owner, t.repo)
	if err != nil {
		add("repository", false, false, "%s: %v (the token needs the scope read:repository and access to it)", t.Repo(), classify(ctx, "read the repository", resp, err))
		return out
	}
	switch {
	case !repo.HasIssues:
		add("repository", false, false, "%s has issues turned off (Settings, Units, Issues)", t.Repo())
	case repo.InternalTracker == nil && repo.ExternalTracker != nil:
		add("repository", false, false, "%s uses an external issue tracker", t.Repo())
	default:
		vis := "public"
		if repo.Private {
			vis = "private"
		}
		add("repository", true, false, "%s (%s) with issues", repo.FullName, vis)
	}
	switch it := repo.InternalTracker; {
	case it != nil && !it.EnableIssueDependencies:
		add("fields", true, true, "%s; issue dependencies are turned off in %s (Settings, Issues), so blocks and blocked-by relations are refused", forge.LackingDetail("Gitea", t.Lacks()), t.Repo())
	default:
		add("fields", true, true, "%s", forge.LackingDetail("Gitea", t.Lacks()))
	}
	if p := repo.Permissions; p != nil {
		if p.Push || p.Admin {
			add("permissions", true, false, "the token's user may write issues, labels and milestones (push %v, admin %v)", p.Push, p.Admin)
		} else {
			add("permissions", false, false, "the token's user may only read %s: give it write access (a collaborator with write, or a team)", t.Repo())
		}
	}
	add("scopes", true, true, "Gitea does not tell a token its scopes: it needs write:issue and read:repository (a write refused for the scope shows as a permission error in issuemesh errors)")
	t.checkHooks(ctx, add)
	add("internal comments", true, true, "Gitea has no private comments: a comment synced as internal is marked, but readable by whoever can read %s", t.Repo())
	if as, resp, err := t.api(ctx).GetGlobalAttachmentSettings(); err != nil {
		add("attachments", false, true, "%v", classify(ctx, "read the attachment settings", resp, err))
	} else if !as.Enabled {
		add("attachments", true, true, "attachments are turned off on this Gitea ([attachment] ENABLED): files are not synced")
	} else {
		all := as.AllowedTypes == "" || slices.Contains(strings.Split(as.AllowedTypes, ","), "*/*")
		add("attachments", true, !all, "files up to %d MB, types %q%s", as.MaxSize, as.AllowedTypes,
			map[bool]string{true: "", false: " (others are refused: set [attachment] ALLOWED_TYPES = */* to sync any file)"}[all])
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
	add("change feed", true, false, "read in %v; %s; an unchanged poll costs 2 requests (Gitea sends no ETag on its listings)", time.Since(start).Round(time.Millisecond), first)
	return out
}

// checkHooks lists the repository's webhooks that send issue events and
// says whether the node's listener is among them.
func (t *Tracker) checkHooks(ctx context.Context, add func(string, bool, bool, string, ...any)) {
	listen := t.hook.Addr() // the running listener's, else the configured one
	if listen == "" {
		listen = t.hook.Configured()
	}
	hooks, resp, err := t.api(ctx).ListRepoHooks(t.owner, t.repo, sdk.ListHooksOptions{})
	if err != nil {
		if listen == "" {
			add("webhook", true, true, "no webhook configured: changes are found by polling only")
			return
		}
		add("webhook", true, true, "tracker.webhook.listen is %s, but the repository's webhooks cannot be listed (%v; it takes an admin of the repository): check in Settings, Webhooks that one sends Issues and Issue Comment events to this node with the same secret", listen, classify(ctx, "list webhooks", resp, err))
		return
	}
	var urls []string
	ids := map[string]int64{}
	for _, h := range hooks {
		u := h.Config["url"]
		if !h.Active || u == "" {
			continue
		}
		if h.Type != "gitea" && h.Type != "forgejo" {
			continue
		}
		urls = append(urls, u)
		ids[u] = h.ID
	}
	switch {
	case listen == "" && len(urls) == 0:
		add("webhook", true, true, "no webhook: changes are found by polling only")
	case listen == "":
		add("webhook", true, true, "the repository has webhooks (%s) but tracker.webhook is not set: this node only polls", strings.Join(urls, ", "))
	case len(urls) == 0:
		add("webhook", false, true, "tracker.webhook.listen is %s but %s has no active Gitea webhook: add one (Settings, Webhooks, Gitea; events Issues and Issue Comment; the same secret); polling goes on meanwhile", listen, t.Repo())
	default:
		port := listen[strings.LastIndexByte(listen, ':')+1:]
		var hook int64
		for _, u := range urls {
			if strings.Contains(u, ":"+port) && hook == 0 {
				hook = ids[u]
			}
		}
		if hook == 0 {
			add("webhook", true, true, "tracker.webhook.listen is %s; the repository's webhooks: %s (none names port %s)", listen, strings.Join(urls, ", "), port)
			return
		}
		err := t.hook.Probe(ctx, 5*time.Second, func(ctx context.Context) error { return t.testHook(ctx, hook) })
		if err != nil {
			add("webhook", true, true, "tracker.webhook.listen is %s; webhooks %s; a test delivery did not arrive: %v", listen, strings.Join(urls, ", "), err)
			return
		}
		add("webhook", true, false, "tracker.webhook.listen is %s; Gitea's test delivery of webhook %d reached it, signed with the same secret", listen, hook)
	}
}

var _ check.Vocabulary = (*Tracker)(nil)

// Values lists the statuses Gitea has, the priorities kept as labels, and
// the extra fields.
func (t *Tracker) Values(context.Context) (check.Values, error) {
	return check.Values{Statuses: []string{"open", "closed"}, Priorities: t.priorities, Fields: []string{fieldAssignees, fieldMilestone, fieldReferences}}, nil
}

// testHook asks Gitea for a test delivery of webhook id (a push event of
// the repository's last commit; the SDK has no call for it).
func (t *Tracker) testHook(ctx context.Context, id int64) error {
	op := fmt.Sprintf("ask for a test delivery of webhook %d", id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/v1/repos/%s/%s/hooks/%d/tests", t.base, t.owner, t.repo, id), nil)
	if err != nil {
		return fmt.Errorf("gitea: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "token "+t.token)
	resp, err := t.hc.Do(req)
	if err != nil {
		return classify(ctx, op, nil, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("gitea: %s: Gitea answered 404: the repository has no commit to send", op)
	}
	if resp.StatusCode/100 != 2 {
		return classify(ctx, op, &sdk.Response{Response: resp}, fmt.Errorf("status %s", resp.Status))
	}
	return nil
}
