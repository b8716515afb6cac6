package jira

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

var (
	_ check.Checker    = (*Tracker)(nil)
	_ check.Vocabulary = (*Tracker)(nil)
)

// permissions tracker check asks for
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get).
var permissions = []string{"BROWSE_PROJECTS", "CREATE_ISSUES", "EDIT_ISSUES", "TRANSITION_ISSUES", "ADD_COMMENTS", "EDIT_ALL_COMMENTS", "CREATE_ATTACHMENTS", "LINK_ISSUES"}

// Check verifies the credentials (whose user, which time zone), the
// project and its issue type, the token's permissions in the project, the
// statuses and the transitions seen from a new issue's status, the
// priorities, the change feed and the rate limit Jira reports.
func (t *Tracker) Check(ctx context.Context) []check.Result {
	var out []check.Result
	add := func(name string, ok, warn bool, detail string, args ...any) {
		out = append(out, check.Result{Name: name, OK: ok, Warning: warn, Detail: fmt.Sprintf(detail, args...)})
	}
	start := time.Now()
	me, err := t.myself(ctx)
	if err != nil {
		add("credentials", false, false, "%v", err)
		return out
	}
	kind := "Data Center (REST v2, personal access token)"
	if t.cloud {
		kind = "Cloud (REST v3, API token of " + t.opts.Email + ")"
	}
	add("credentials", true, false, "%s answers in %v as %s; Jira %s; the user's time zone %q is used for JQL dates",
		t.opts.URL, time.Since(start).Round(time.Millisecond), me.DisplayName, kind, me.TimeZone)

	var proj struct {
		Key        string `json:"key"`
		Name       string `json:"name"`
		IssueTypes []struct {
			Name    string `json:"name"`
			Subtask bool   `json:"subtask"`
		} `json:"issueTypes"`
	}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-projectidorkey-get
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/project/" + t.opts.Project}, &proj); err != nil {
		add("project", false, false, "project %s: %v", t.opts.Project, err)
		return out
	}
	var types []string
	for _, it := range proj.IssueTypes {
		types = append(types, it.Name)
	}
	add("project", true, false, "%s (%s)", proj.Key, proj.Name)
	if len(types) > 0 && !slices.Contains(types, t.opts.IssueType) {
		add("issue types", false, false, "new issues are created as %q, which project %s lacks (it has %s)", t.opts.IssueType, t.opts.Project, strings.Join(types, ", "))
	} else {
		add("issue types", true, false, "%s; new issues are %q", strings.Join(types, ", "), t.opts.IssueType)
	}

	var perms struct {
		Permissions map[string]struct {
			Have bool `json:"havePermission"`
		} `json:"permissions"`
	}
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/mypermissions",
		Query: url.Values{"projectKey": {t.opts.Project}, "permissions": {strings.Join(permissions, ",")}}}, &perms); err != nil {
		add("permissions", false, true, "could not read them: %v", err)
	} else {
		var missing []string
		for _, p := range permissions {
			if !perms.Permissions[p].Have {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			add("permissions", false, false, "the user lacks %s in project %s (Project settings, Permissions)", strings.Join(missing, ", "), t.opts.Project)
		} else {
			add("permissions", true, false, "browse, create, edit, transition, comment, edit comments, attach, link")
		}
	}

	if ss, err := t.projectStatuses(ctx); err != nil {
		add("statuses", false, false, "%v", err)
	} else {
		add("statuses", len(ss) > 0, false, "%s issues: %s; a status is set through the workflow's transitions (several in a row where needed)", t.opts.IssueType, strings.Join(ss, ", "))
	}
	if ps, err := t.priorities(ctx); err != nil {
		add("priorities", false, false, "%v", err)
	} else {
		add("priorities", true, false, "%s", strings.Join(ps, ", "))
	}

	if defs, err := t.fieldDefs(ctx); err != nil {
		add("fields", false, false, "%v", err)
	} else {
		var fs []string
		for _, d := range defs {
			k := d.kind
			if k == "" {
				k = "text"
			}
			fs = append(fs, fmt.Sprintf("%s (%s)", d.Name, k))
		}
		add("fields", true, false, "synced by name: %s; a field_map names these (config check); type, assignee, reporter, due date, links, parent and sub-tasks as Jira's own fields", strings.Join(fs, ", "))
	}
	var lacks []string
	for f, why := range t.Lacks() {
		lacks = append(lacks, string(f)+": "+why)
	}
	slices.Sort(lacks)
	add("not synced", true, true, "%s", strings.Join(lacks, "; "))

	start = time.Now()
	is, _, err := t.Changes(ctx, "", 1)
	if err != nil {
		add("change feed", false, false, "%v", err)
		return out
	}
	first := "the project has no issues yet"
	if len(is) > 0 {
		first = "oldest change: " + is[0].Key + ", " + strings.TrimSpace(is[0].Summary)
		var tr struct {
			Transitions []transition `json:"transitions"`
		}
		if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/issue/" + is[0].Key + "/transitions"}, &tr); err == nil {
			var ts []string
			for _, x := range tr.Transitions {
				ts = append(ts, fmt.Sprintf("%s -> %s", x.Name, x.To.Name))
			}
			add("transitions", true, false, "from %q (%s): %s", is[0].Status, is[0].Key, strings.Join(ts, ", "))
		}
	}
	add("change feed", true, false, "read in %v; %s; an unchanged poll costs 1 search request", time.Since(start).Round(time.Millisecond), first)

	rl := t.RateLimit()
	switch {
	case rl.Seen:
		add("rate limit", rl.Remaining > 0, rl.Remaining < rl.Limit/10, "%d of %d requests left, reset at %s%s; this node's budget: %d requests a minute",
			rl.Remaining, rl.Limit, rl.Reset.Format(time.RFC3339), map[bool]string{true: " (" + rl.Reason + ")", false: ""}[rl.Reason != ""], t.opts.RequestsPerMinute)
	default:
		add("rate limit", true, false, "Jira sent no X-RateLimit headers; this node's budget: %d requests a minute (tracker.requests_per_minute)", t.opts.RequestsPerMinute)
	}
	return out
}

// Values lists the statuses, priorities and custom fields the maps are
// checked against.
func (t *Tracker) Values(ctx context.Context) (check.Values, error) {
	ss, err := t.projectStatuses(ctx)
	if err != nil {
		return check.Values{}, err
	}
	ps, err := t.priorities(ctx)
	if err != nil {
		return check.Values{}, err
	}
	defs, err := t.fieldDefs(ctx)
	if err != nil {
		return check.Values{}, err
	}
	cfs := []string{}
	for _, d := range defs {
		cfs = append(cfs, d.Name)
	}
	return check.Values{Statuses: ss, Priorities: ps, CustomFields: cfs}, nil
}
