package redmine

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters/check"
)

var _ check.Checker = (*Tracker)(nil)

// Check verifies the connection, the API key, the project, the names of
// statuses, priorities and trackers, and the custom fields.
func (t *Tracker) Check(ctx context.Context) []check.Result {
	var out []check.Result
	add := func(name string, ok bool, detail string, args ...any) {
		out = append(out, check.Result{Name: name, OK: ok, Detail: fmt.Sprintf(detail, args...)})
	}
	var me struct {
		User *struct {
			Login string `json:"login"`
			Admin bool   `json:"admin"`
		} `json:"user"`
	}
	start := time.Now()
	if err := t.get(ctx, "/users/current.json", nil, &me); err != nil {
		add("connection and API key", false, "%v (is the REST API enabled in Administration > Settings > API, and is the key right?)", err)
		return out
	}
	if me.User == nil {
		add("connection and API key", false, "%s/users/current.json answered without a user: is this Redmine?", t.c.BaseURL())
		return out
	}
	role := "not an administrator: custom fields are found through the project's issues"
	if me.User.Admin {
		role = "administrator"
	}
	add("connection and API key", true, "%s answers in %v; the key is user %q (%s)", t.c.BaseURL(), time.Since(start).Round(time.Millisecond), me.User.Login, role)

	var pr struct {
		Project *struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"project"`
	}
	if err := t.get(ctx, "/projects/"+url.PathEscape(t.project)+".json", nil, &pr); err != nil || pr.Project == nil {
		add("project", false, "project %q: %v (tracker.project is the project's identifier, as in its URL)", t.project, err)
		return out
	}
	add("project", true, "%q is project %d, %q", t.project, pr.Project.ID, pr.Project.Name)

	nc, err := t.cache(ctx, time.Nanosecond)
	if err != nil {
		add("statuses, priorities, trackers", false, "%v", err)
		return out
	}
	add("statuses", len(nc.statuses) > 0, "%s", orNone(names(nc.statuses)))
	add("priorities", len(nc.priorities) > 0, "%s", orNone(names(nc.priorities)))
	add("trackers", len(nc.trackers) > 0, "%s", orNone(names(nc.trackers)))
	how := ""
	if nc.cfFromIssue {
		how = " (or, as the key is not an administrator's, the project has no issue yet to find it on)"
	}
	if nc.twinCF != 0 {
		add("twin field", true, "custom field %q is number %d", TwinField, nc.twinCF)
	} else {
		out = append(out, check.Result{Name: "twin field", OK: true, Warning: true,
			Detail: fmt.Sprintf("no issue custom field %q%s: twin IDs are kept in a hidden line at the end of the description", TwinField, how)})
	}
	if nc.labelsCF != 0 {
		add("labels field", true, "custom field %q is number %d", LabelsField, nc.labelsCF)
	} else {
		out = append(out, check.Result{Name: "labels field", OK: true, Warning: true,
			Detail: fmt.Sprintf("no issue custom field %q%s: labels are not kept (create it as a text field for all projects, used as a filter)", LabelsField, how)})
	}
	if nc.markerCF != 0 {
		add("marker field", true, "custom field %q is number %d: markers stay out of the notes Redmine mails", MarkerField, nc.markerCF)
	} else {
		out = append(out, check.Result{Name: "marker field", OK: true, Warning: true,
			Detail: fmt.Sprintf("no issue custom field %q seen (it needs an administrator's key): synced notes end with a marker line, hidden in Redmine's pages but printed in its plain-text mail (scripts/redmine.sh shows how to create it)", MarkerField)})
	}
	start = time.Now()
	is, _, err := t.Changes(ctx, "", 1)
	if err != nil {
		add("change feed", false, "%v", err)
		return out
	}
	first := "the project has no issues yet"
	if len(is) > 0 {
		first = "oldest change: issue " + is[0].Key + ", " + strings.TrimSpace(is[0].Summary)
	}
	add("change feed", true, "read in %v; %s", time.Since(start).Round(time.Millisecond), first)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

var _ check.Vocabulary = (*Tracker)(nil)

// Values lists Redmine's statuses and priorities as it has them now, the
// one extra field it takes ("tracker") and its issue custom fields.
func (t *Tracker) Values(ctx context.Context) (check.Values, error) {
	nc, err := t.cache(ctx, time.Nanosecond)
	if err != nil {
		return check.Values{}, err
	}
	list := func(rs []ref) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.Name
		}
		return out
	}
	custom := []string{}
	for _, d := range nc.cfs {
		if !nc.own(d.ID) {
			custom = append(custom, d.Name)
		}
	}
	return check.Values{Statuses: list(nc.statuses), Priorities: list(nc.priorities), Fields: []string{"tracker"}, CustomFields: custom}, nil
}
