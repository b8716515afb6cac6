package gitlab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/issuemesh/issuemesh/adapters/check"
)

var (
	_ check.Checker    = (*Tracker)(nil)
	_ check.Vocabulary = (*Tracker)(nil)
)

// Check verifies the token (whose user it is), the project (reachable,
// issues on, the token's role in it), the rate limit GitLab reports, and
// the change feed.
func (t *Tracker) Check(ctx context.Context) []check.Result {
	var out []check.Result
	add := func(name string, ok, warn bool, detail string, args ...any) {
		out = append(out, check.Result{Name: name, OK: ok, Warning: warn, Detail: fmt.Sprintf(detail, args...)})
	}
	start := time.Now()
	me, resp, err := t.c.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		add("credentials", false, false, "%v", classify(ctx, "read the token's user", resp, err))
		return out
	}
	add("credentials", true, false, "%s answers in %v; the token is user %q", t.base, time.Since(start).Round(time.Millisecond), me.Username)
	p, resp, err := t.c.Projects.GetProject(t.project, nil, gl.WithContext(ctx))
	if err != nil {
		add("project", false, false, "%s: %v (the token needs the api scope and membership of the project)", t.project, classify(ctx, "read the project", resp, err))
		return out
	}
	if p.IssuesAccessLevel == gl.DisabledAccessControl {
		add("project", false, false, "%s has issues turned off (Settings, General, Visibility, Issues)", p.PathWithNamespace)
	} else {
		add("project", true, false, "%s (%s) with issues", p.PathWithNamespace, p.Visibility)
	}
	level := gl.NoPermissions
	if pm := p.Permissions; pm != nil {
		if pm.ProjectAccess != nil {
			level = pm.ProjectAccess.AccessLevel
		}
		if pm.GroupAccess != nil && pm.GroupAccess.AccessLevel > level {
			level = pm.GroupAccess.AccessLevel
		}
	}
	switch {
	case level >= gl.ReporterPermissions:
		add("permissions", true, false, "the token's role is %d (Reporter is 20): it may create and edit issues, labels and notes, and read confidential issues", level)
	case level == gl.NoPermissions:
		add("permissions", true, true, "GitLab did not say the token's role in %s (an administrator, or a public project): a write it may not make shows as a permission error", t.project)
	default:
		add("permissions", false, false, "the token's role is %d: it needs Reporter (20) or above (Planner, 15, cannot read all confidential issues)", level)
	}
	if t.share {
		add("confidential issues", true, true, "shared: tracker.share_confidential is set, so confidential issues leave like the others (marked extra.confidential)")
	} else {
		add("confidential issues", true, false, "kept back: a confidential issue is in no change feed and no read (set tracker.share_confidential to share them)")
	}
	if rem, reset := t.tr.RateLeft(); rem >= 0 {
		add("rate limit", true, rem < t.tr.Reserve(), "%d requests left until %s (requests are spaced below %d)", rem, reset.UTC().Format(time.RFC3339), t.tr.Reserve())
	} else {
		add("rate limit", true, false, "GitLab sent no RateLimit headers (no rate limit on this instance's API)")
	}
	var lacks []string
	for f := range t.Lacks() {
		lacks = append(lacks, string(f))
	}
	slices.Sort(lacks)
	add("fields", true, false, "assignee, type, due date, milestone, weight, related issues, notes and files sync; GitLab cannot hold or set %s (left out, never an error; the reporter is read)", strings.Join(lacks, ", "))
	start = time.Now()
	if _, _, err := t.Changes(ctx, "", 1); err != nil {
		add("change feed", false, false, "%v", err)
		return out
	}
	add("change feed", true, false, "reads in %v", time.Since(start).Round(time.Millisecond))
	return out
}

// Values: GitLab's states, the priority names, and the Extra fields.
func (t *Tracker) Values(context.Context) (check.Values, error) {
	return check.Values{Statuses: []string{"opened", "closed"}, Priorities: t.priorities,
		Fields: []string{fieldAssignees, fieldMilestone, fieldDue, fieldWeight, fieldConfidential}}, nil
}
