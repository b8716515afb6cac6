// Package gitlab is the issuemesh adapter of GitLab (GitLab.com and
// self-managed; one or more projects per connection), on GitLab's own Go client
// (gitlab.com/gitlab-org/api/client-go/v2): it reads changes (step 1,
// trigger), reads issues for the outgoing rules and creates or updates them
// for the incoming ones (step 6, apply).
//
// # Set-up
//
// tracker.url is GitLab's root URL (https://gitlab.com/ or a self-managed
// https://HOST/, without /api/v4), tracker.project the project's full path
// ("group/subgroup/name"). The token (a personal, group or project access
// token with the api scope, role Planner/Reporter or above) is read from the
// file named by tracker.token_file or the environment variable
// ISSUEMESH_GITLAB_TOKEN, never from config.yaml.
//
// # Fields
//
// Key is "group/name#IID" ("IID" and "#IID" are accepted). Summary is the
// title, Description the description (line ends "\n"). Status is GitLab's
// state, "opened" or "closed" ("open" is taken for "opened"; any other is
// rejected). GitLab has no priority: it is kept as the scoped label
// "priority::NAME", NAME one of Options.Priorities (default low, medium,
// high, urgent), and such labels are not in Labels. Other labels, scoped
// ones ("team::web") included, are Labels, by name (GitLab creates a label
// a project lacks). Assignee, Reporter, Type, Due, Fields (milestone,
// weight) and Relations (issue links) are the replica's typed fields:
// fields.go says how, and Lacks what GitLab has no place for (watchers,
// start date, parent issue, file deletes, setting the reporter).
// Extra["assignees"] is every assignee's username, comma-separated and
// sorted, Extra["epic"] the issue's epic (read only); Extra["milestone"],
// ["due_date"] and ["weight"] are still taken on writes, as the typed
// fields. Files are uploads linked from notes (attach.go).
//
// # Confidential issues
//
// A confidential issue never leaves: Changes, FindByTwin and Get leave it
// out (Get answers not found, saying why), unless Options.ShareConfidential
// (a rule of the connection that says so) is set; then it carries
// Extra["confidential"] = "true".
//
// # Notes
//
// Comments are the issue's notes, oldest first. System notes ("changed the
// label", "closed") are skipped. Internal notes (GitLab's "internal" flag,
// shown to project members only) are Internal comments, and a comment that
// comes Internal is written as an internal note, so the engine keeps them
// back as it keeps every tracker's internal comments. Synced comments carry
// their author and global ID as in the other forge adapters
// ("**Alice (partner) wrote:**", "<!-- issuemesh:comment ID -->").
//
// # Markers
//
// The twin ID of an issue created by sync is a hidden HTML comment at the
// end of the description ("<!-- issuemesh:twin ID -->", which GitLab's
// Markdown does not show), written in the create call itself, so a crash
// between create and link is recovered by FindByTwin: a search of the
// project's descriptions for the ID (GET /projects/:id/issues?search=ID&
// in=description, a substring match), every hit checked for the exact
// marker.
//
// # Changes
//
// Changes polls GET /projects/:id/issues?updated_after=T&order_by=
// updated_at&sort=asc&scope=all. A note added or edited touches its issue's
// updated_at on GitLab (the note model's belongs_to :noteable, touch: true),
// so one listing covers both. Package feed keeps the window exact with an
// overlap of Options.Settle (default 2 s) and drops what was returned
// before. The answer's RateLimit-Remaining/RateLimit-Reset pace the
// requests (package forge) and a 429's Retry-After sets when to try again.
//
// # Webhooks
//
// With tracker.webhook set, a listener checks GitLab's X-Gitlab-Token
// against the secret (GitLab sends the secret itself, not a signature),
// drops a delivery whose Idempotency-Key (or X-Gitlab-Event-UUID) it saw
// before, and rings the node's doorbell; the payload is never applied
// (package forge, dialect GitLab). Polling goes on beside it.
//
// # How it is tested
//
// GitLab cannot run on the test machine. The tests run against a stateful
// in-process fake (package glfake) written from GitLab's REST
// documentation, with the documentation's URL beside each endpoint it
// serves. GitLab's machine-readable description
// (doc/api/openapi/openapi_v2.yaml) is partial and lacks issues, notes,
// issue links and uploads, and no registry serves one: the npm registry's
// GitLab packages (@gitbeaker/core, gitlab-event-types) are TypeScript
// clients and types, not an OpenAPI or JSON Schema description, and
// GitLab's Go client (gitlab.com/gitlab-org/api/client-go/v2) ships Go
// types and a few JSON fixtures taken from the documentation, which
// glfake/testdata records where they fit. So nothing is
// validated against a schema. What is validated instead (glfake's doc):
// every answer of the fake against the example body of its endpoint in
// GitLab's documentation, recorded with its source URL in
// glfake/testdata (keys outside the example and JSON types that differ
// fail the test), and every request's body and query against the
// attributes the endpoint's documentation lists. Not validated: that the
// fake sends every key GitLab sends, value formats beyond JSON types,
// GitLab's permission and tier rules (blocks links and weight need
// Premium; the fake takes them), and the webhook payloads (never applied,
// so only the headers matter). The requests themselves are built by
// GitLab's own client. With ISSUEMESH_GITLAB_URL, _TOKEN and _PROJECT set,
// the contract suite also runs against that real GitLab
// (TestContractLive); otherwise it is skipped, saying so.
//
// # Projects
//
// A Tracker is one project; Open gives a Multi for several (projects.go).
//
// # Not covered
//
// Links across projects, and epics as parents. A note deleted on GitLab
// is absent from Get, and the issue comes in the feed (the note model's
// touch: true touches the issue on destroy too; not seen on a real GitLab
// here), so the engine marks the comment deleted.
// A page of the feed from which confidential issues were dropped may hold
// fewer than limit issues while more follow.
package gitlab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
	"github.com/issuemesh/issuemesh/adapters/internal/forge"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

// EnvToken is the environment variable read when no token file is given.
const EnvToken = "ISSUEMESH_GITLAB_TOKEN"

// EnvWebhookSecret is read when tracker.webhook has no secret_file.
const EnvWebhookSecret = "ISSUEMESH_GITLAB_WEBHOOK_SECRET"

// LoadToken reads the token from file or, when file is empty, from
// ISSUEMESH_GITLAB_TOKEN. Errors name the config key tracker.token_file.
func LoadToken(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvToken, "tracker.token_file", log)
}

// LoadWebhookSecret reads the webhook secret from file or, when file is
// empty, from ISSUEMESH_GITLAB_WEBHOOK_SECRET.
func LoadWebhookSecret(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvWebhookSecret, "tracker.webhook.secret_file", log)
}

// DefaultSettle is the feed's overlap for GitLab.
const DefaultSettle = 2 * time.Second

// PriorityPrefix starts the scoped label that keeps an issue's priority.
const PriorityPrefix = "priority::"

// pageSize is GitLab's largest per_page.
const pageSize = 100

const internalMark = "internal"

// Extra fields.
const (
	fieldAssignees    = "assignees"
	fieldMilestone    = "milestone"
	fieldDue          = "due_date"
	fieldWeight       = "weight"
	fieldConfidential = "confidential"
)

// Options configure New.
type Options struct {
	// URL is GitLab's root URL, e.g. https://gitlab.com/.
	URL string
	// Token authenticates every request (PRIVATE-TOKEN).
	Token string
	// Project is the project's full path, "group/name".
	Project string
	// Projects are more projects on the same connection (Open); issues
	// created by sync go to Project.
	Projects []string
	// Priorities are the valid priority names (default low, medium, high,
	// urgent).
	Priorities []string
	// ShareConfidential lets confidential issues leave (a rule says so).
	ShareConfidential bool
	// Settle is the feed's overlap (default DefaultSettle).
	Settle time.Duration
	// HTTPClient's transport is wrapped; nil: a client with a 30 s timeout.
	HTTPClient *http.Client
	// WebhookListen, when set, is the address (host:port) of a listener
	// for GitLab's webhook deliveries, checked with WebhookSecret.
	WebhookListen, WebhookSecret string
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	// hookProjects are the projects whose deliveries the listener takes
	// (Open: all of them); empty: Project.
	hookProjects string
}

// Tracker is one GitLab project seen as an adapters.Tracker. It is safe for
// concurrent use.
type Tracker struct {
	base       string
	c          *gl.Client
	hc         *http.Client
	tr         *forge.Transport
	project    string
	priorities []string
	share      bool
	settle     time.Duration
	log        *slog.Logger
	hook       *forge.Listener

	mu      sync.Mutex
	digests map[string]fileSum // of uploads people made, by SECRET/NAME
}

var _ adapters.Tracker = (*Tracker)(nil)

// New returns the adapter. It does no I/O: Check verifies the set-up.
func New(opts Options) (*Tracker, error) {
	if opts.Token == "" {
		return nil, errors.New("gitlab: no token given (tracker.token_file or " + EnvToken + ")")
	}
	u, err := url.Parse(strings.TrimSpace(opts.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitlab: tracker.url %q: want GitLab's http:// or https:// root URL", opts.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("gitlab: tracker.url %s carries credentials; put the token in tracker.token_file", u.Redacted())
	}
	base := strings.TrimSuffix(strings.TrimRight(u.String(), "/"), "/api/v4")
	project := strings.Trim(strings.TrimSpace(opts.Project), "/")
	if !strings.Contains(project, "/") || strings.ContainsAny(project, " #") || strings.Contains(project, "//") {
		return nil, fmt.Errorf("gitlab: tracker.project %q: want the project's full path, group/name", opts.Project)
	}
	if opts.WebhookListen != "" && opts.WebhookSecret == "" {
		return nil, errors.New("gitlab: a webhook listener needs its secret (tracker.webhook.secret_file)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "gitlab", "project", project)
	hc := &http.Client{Timeout: 30 * time.Second}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	tr := forge.NewTransport(hc.Transport, 100)
	hc.Transport = tr
	c, err := gl.NewClient(opts.Token, gl.WithBaseURL(base+"/api/v4"), gl.WithHTTPClient(hc),
		gl.WithCustomRetryMax(2), gl.WithCustomRetryWaitMinMax(200*time.Millisecond, 5*time.Second), gl.WithUserAgent("issuemesh"))
	if err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	pr := opts.Priorities
	if len(pr) == 0 {
		pr = []string{"low", "medium", "high", "urgent"}
	}
	settle := opts.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	return &Tracker{base: base, c: c, hc: hc, tr: tr, project: project, priorities: pr, share: opts.ShareConfidential, settle: settle, log: log,
		hook: forge.NewListener(forge.GitLab(), opts.WebhookListen, opts.WebhookSecret, cmp.Or(opts.hookProjects, project), log), digests: map[string]fileSum{}}, nil
}

// OnChange registers the node's doorbell, rung by accepted webhook
// deliveries, and starts the webhook listener when one is configured.
func (t *Tracker) OnChange(fn func()) { t.hook.OnChange(fn) }

// WebhookAddr is the listener's address ("" when none runs).
func (t *Tracker) WebhookAddr() string { return t.hook.Addr() }

// Close stops the webhook listener and releases idle connections.
func (t *Tracker) Close() error {
	t.hook.Close()
	t.hc.CloseIdleConnections()
	return nil
}

// Project is the project's full path.
func (t *Tracker) Project() string { return t.project }

// URL is GitLab's root URL.
func (t *Tracker) URL() string { return t.base }

func (t *Tracker) key(n int64) string { return t.project + "#" + strconv.FormatInt(n, 10) }

func (t *Tracker) number(key string) (int64, error) {
	s := strings.TrimSpace(key)
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		if r := s[:i]; r != "" && !strings.EqualFold(r, t.project) {
			return 0, notFound("issue %q is not in project %s", key, t.project)
		}
		s = s[i+1:]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, notFound("%q is not an issue key (want %s#IID)", key, t.project)
	}
	return n, nil
}

// ---- reading ----

func (t *Tracker) getWire(ctx context.Context, n int64) (*gl.Issue, error) {
	w, resp, err := t.c.Issues.GetIssue(t.project, n, gl.WithContext(ctx))
	if err != nil {
		return nil, classify(ctx, "get issue "+t.key(n), resp, err)
	}
	if w.IID == 0 {
		return nil, fmt.Errorf("gitlab: get issue %s: the answer has no iid: %w", t.key(n), adapters.ErrBadAnswer)
	}
	return w, nil
}

// kept reports whether w is kept back (confidential, not shared).
func (t *Tracker) kept(w *gl.Issue) bool { return w.Confidential && !t.share }

func (t *Tracker) notes(ctx context.Context, n int64) ([]*gl.Note, error) {
	var all []*gl.Note
	opt := &gl.ListIssueNotesOptions{ListOptions: gl.ListOptions{PerPage: pageSize}, OrderBy: new("created_at"), Sort: new("asc")}
	for page := int64(1); ; page++ {
		opt.Page = page
		ns, resp, err := t.c.Notes.ListIssueNotes(t.project, n, opt, gl.WithContext(ctx))
		if err != nil {
			return nil, classify(ctx, "list the notes of "+t.key(n), resp, err)
		}
		for _, x := range ns {
			if !x.System {
				all = append(all, x)
			}
		}
		if resp.NextPage == 0 || len(ns) < pageSize {
			return all, nil
		}
	}
}

// Get returns the issue with its notes.
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	n, err := t.number(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	if t.kept(w) {
		return adapters.Issue{}, notFound("%s is confidential and kept back (no rule shares confidential issues)", t.key(n))
	}
	return t.full(ctx, w)
}

func (t *Tracker) full(ctx context.Context, w *gl.Issue) (adapters.Issue, error) {
	ns, err := t.notes(ctx, w.IID)
	if err != nil {
		return adapters.Issue{}, err
	}
	ls, err := t.links(ctx, w)
	if err != nil {
		return adapters.Issue{}, err
	}
	is := t.issue(w, ns)
	is.Relations = relationsOf(ls)
	if is.Attachments, err = t.files(ctx, w, ns); err != nil {
		return adapters.Issue{}, err
	}
	return is, nil
}

func stamp(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return *p
}

func (t *Tracker) issue(w *gl.Issue, ns []*gl.Note) adapters.Issue {
	body, marks := textmark.Split(w.Description)
	is := adapters.Issue{
		Key: t.key(w.IID), Summary: w.Title, Description: body, Status: w.State,
		Created: stamp(w.CreatedAt), Updated: stamp(w.UpdatedAt), TwinID: marks[textmark.Twin],
	}
	for _, l := range w.Labels {
		if p, ok := strings.CutPrefix(l, PriorityPrefix); ok {
			if v, ok := t.priority(p); ok {
				is.Priority = v
				continue
			}
		}
		is.Labels = append(is.Labels, l)
	}
	slices.Sort(is.Labels)
	extra := map[string]string{}
	var logins []string
	for _, a := range w.Assignees {
		logins = append(logins, a.Username)
	}
	if len(logins) > 0 {
		slices.Sort(logins)
		extra[fieldAssignees] = strings.Join(logins, ",")
	}
	if w.Confidential {
		extra[fieldConfidential] = "true"
	}
	if len(extra) > 0 {
		is.Extra = extra
	}
	fillFields(&is, w)
	for _, x := range ns {
		if isFileNote(x) {
			continue
		}
		is.Comments = append(is.Comments, commentOf(x))
	}
	return is
}

func commentOf(x *gl.Note) adapters.Comment {
	body, marks := textmark.Split(x.Body)
	out := adapters.Comment{ID: strconv.FormatInt(x.ID, 10), Created: stamp(x.CreatedAt), Updated: stamp(x.UpdatedAt),
		Author: x.Author.Username, Internal: x.Internal}
	if _, ok := marks[internalMark]; ok {
		out.Internal = true
	}
	if sid, ok := marks[textmark.Comment]; ok {
		out.SyncID = sid
		if a, rest, ok := textmark.CutAuthor(body); ok {
			out.Author, body = a, rest
		}
	}
	out.Body = body
	return out
}

func commentBody(c adapters.Comment) string {
	b := textmark.Normalize(c.Body)
	if c.SyncID != "" {
		b = textmark.Add(textmark.Hidden, textmark.WithAuthor(textmark.Hidden, c.Author, b), textmark.Comment, c.SyncID)
	}
	return b
}

// ---- statuses, priorities, fields ----

// stateOf is the state_event that reaches status s.
func stateOf(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "opened", "open":
		return "opened", nil
	case "closed":
		return "closed", nil
	}
	return "", rejected("status %q is not one GitLab has; valid: opened, closed (map others in the connection's status map, or to a scoped label)", s)
}

func (t *Tracker) priority(p string) (string, bool) {
	for _, v := range t.priorities {
		if strings.EqualFold(v, strings.TrimSpace(p)) {
			return v, true
		}
	}
	return "", false
}

func (t *Tracker) priorityLabel(p string) (string, error) {
	v, ok := t.priority(p)
	if !ok {
		return "", rejected("priority %q is not one of %s (GitLab keeps priorities as the scoped label %q)", p, strings.Join(t.priorities, ", "), PriorityPrefix+"NAME")
	}
	return PriorityPrefix + v, nil
}

func allLabels(labels []string, prio string) []string {
	all := slices.Clone(labels)
	if prio != "" {
		all = append(all, prio)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func validTwin(tw string) error {
	if err := textmark.Valid(tw); err != nil {
		return rejected("twin ID: %v", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func checkExtra(extra map[string]string) error {
	for k := range extra {
		switch {
		case k == fieldAssignees, k == fieldMilestone, k == fieldDue, k == fieldWeight, k == fieldConfidential:
		case k == fieldEpic, strings.Contains(k, " at "):
			// read only (the epic), or the rules' note of what the
			// partner has that cannot land here ("assignee at PEER"):
			// GitLab has no place for it, and it must not block the twin:
			// left out.
		default:
			return rejected("field %q: GitLab issues have only assignees, milestone, due_date, weight and confidential besides the standard fields", k)
		}
	}
	return nil
}

func dueDate(v string) (*gl.ISOTime, error) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
	if err != nil {
		return nil, rejected("due_date %q is not a date YYYY-MM-DD", v)
	}
	iso := gl.ISOTime(d)
	return &iso, nil
}

func weight(v string) (int64, error) {
	w, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || w < 0 {
		return 0, rejected("weight %q is not a whole number of 0 or more", v)
	}
	return w, nil
}

// userIDs resolves usernames to user IDs (GET /users?username=).
func (t *Tracker) userIDs(ctx context.Context, names []string) ([]int64, error) {
	ids := []int64{}
	for _, n := range names {
		us, resp, err := t.c.Users.ListUsers(&gl.ListUsersOptions{Username: new(n)}, gl.WithContext(ctx))
		if err != nil {
			return nil, classify(ctx, "look up user "+n, resp, err)
		}
		if len(us) == 0 {
			return nil, rejected("assignee %q is not a GitLab user (map people in the connection's user map)", n)
		}
		ids = append(ids, us[0].ID)
	}
	return ids, nil
}

// milestone finds a project milestone by title.
func (t *Tracker) milestone(ctx context.Context, title string) (int64, error) {
	ms, resp, err := t.c.Milestones.ListMilestones(t.project, &gl.ListMilestonesOptions{Title: new(title)}, gl.WithContext(ctx))
	if err != nil {
		return 0, classify(ctx, "look up milestone "+title, resp, err)
	}
	for _, m := range ms {
		if m.Title == title {
			return m.ID, nil
		}
	}
	return 0, rejected("milestone %q does not exist in %s", title, t.project)
}

// Create creates the issue with its twin marker, labels and fields in one
// call, closes it when asked, then adds its notes.
func (t *Tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	if strings.TrimSpace(in.Summary) == "" {
		return adapters.Issue{}, rejected("an issue needs a title (the summary is blank)")
	}
	if err := checkExtra(in.Extra); err != nil {
		return adapters.Issue{}, err
	}
	closed := false
	if in.Status != "" {
		st, err := stateOf(in.Status)
		if err != nil {
			return adapters.Issue{}, err
		}
		closed = st == "closed"
	}
	prio := ""
	if in.Priority != "" {
		var err error
		if prio, err = t.priorityLabel(in.Priority); err != nil {
			return adapters.Issue{}, err
		}
	}
	body := textmark.Normalize(in.Description)
	if in.TwinID != "" {
		if err := validTwin(in.TwinID); err != nil {
			return adapters.Issue{}, err
		}
		body = textmark.Add(textmark.Hidden, body, textmark.Twin, in.TwinID)
	}
	labels := gl.LabelOptions(allLabels(in.Labels, prio))
	req := &gl.CreateIssueOptions{Title: new(in.Summary), Description: new(body), Labels: &labels}
	typed := typedFields{assignee: in.Assignee, fields: in.Fields}
	if in.Type != "" {
		typed.typ = &in.Type
	}
	if in.Due != "" {
		typed.due = &in.Due
	}
	if err := t.fields(ctx, in.Extra, nil, typed, nil, func(f setField) {
		req.AssigneeIDs, req.MilestoneID, req.DueDate, req.Weight = f.assignees, f.milestone, f.due, f.weight
		req.Confidential, req.IssueType = f.confidential, f.issueType
	}); err != nil {
		return adapters.Issue{}, err
	}
	w, resp, err := t.c.Issues.CreateIssue(t.project, req, gl.WithContext(ctx))
	if err != nil {
		return adapters.Issue{}, classify(ctx, "create an issue in "+t.project, resp, err)
	}
	if closed {
		if w, resp, err = t.c.Issues.UpdateIssue(t.project, w.IID, &gl.UpdateIssueOptions{StateEvent: new("close")}, gl.WithContext(ctx)); err != nil {
			return adapters.Issue{}, classify(ctx, "close new issue "+t.key(w.IID), resp, err)
		}
	}
	var ns []*gl.Note
	for _, c := range in.Comments {
		made, resp, err := t.c.Notes.CreateIssueNote(t.project, w.IID, &gl.CreateIssueNoteOptions{Body: new(commentBody(c)), Internal: new(c.Internal)}, gl.WithContext(ctx))
		if err != nil {
			return adapters.Issue{}, classify(ctx, "add a note to new issue "+t.key(w.IID), resp, err)
		}
		ns = append(ns, made)
	}
	ls, err := t.relate(ctx, w.IID, nil, in.Relations, nil)
	if err != nil {
		return adapters.Issue{}, err
	}
	out := t.issue(w, ns)
	out.Relations = relationsOf(ls)
	return out, nil
}

// setField is the resolved Extra fields of a create or update.
type setField struct {
	assignees               *[]int64
	milestone               *int64
	due                     *gl.ISOTime
	weight                  *int64
	confidential            *bool
	issueType               *string
	noDue, noMile, noWeight bool
}

// fields resolves the Extra fields that differ from cur (nil: a create)
// and the typed fields that differ from w (nil: a create).
func (t *Tracker) fields(ctx context.Context, extra, cur map[string]string, typed typedFields, w *gl.Issue, set func(setField)) error {
	var f setField
	// Extra's milestone, due_date and weight (the names before the typed
	// model) are the typed fields by other names.
	for k, v := range extra {
		switch k {
		case fieldDue:
			if typed.due == nil {
				typed.due = &v
			}
		case fieldMilestone, fieldWeight:
			if _, ok := typed.fields[k]; !ok {
				typed.fields = maps.Clone(typed.fields)
				if typed.fields == nil {
					typed.fields = map[string]adapters.FieldValue{}
				}
				typed.fields[k] = adapters.FieldValue{Text: v}
			}
		}
	}
	if err := t.resolveTyped(ctx, typed, w, &f); err != nil {
		return err
	}
	for k, v := range extra {
		if cur != nil && v == cur[k] {
			continue
		}
		switch k {
		case fieldAssignees:
			ids, err := t.userIDs(ctx, splitList(v))
			if err != nil {
				return err
			}
			f.assignees = &ids
		case fieldConfidential:
			b := v == "true"
			if v != "" && v != "true" && v != "false" {
				return rejected("confidential %q: want true or false", v)
			}
			f.confidential = &b
		}
	}
	set(f)
	return nil
}

// Update reads the issue, sends one PUT with every changed field, then
// the note calls.
func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	n, err := t.number(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	if err := checkExtra(p.Extra); err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	if t.kept(w) {
		return adapters.Issue{}, notFound("%s is confidential and kept back (no rule shares confidential issues)", t.key(n))
	}
	cur := t.issue(w, nil)
	req := &gl.UpdateIssueOptions{}
	changed := false
	if p.Summary != nil && *p.Summary != cur.Summary {
		if strings.TrimSpace(*p.Summary) == "" {
			return adapters.Issue{}, rejected("an issue needs a title (the summary is blank)")
		}
		req.Title, changed = p.Summary, true
	}
	if p.Status != nil {
		st, err := stateOf(*p.Status)
		if err != nil {
			return adapters.Issue{}, err
		}
		if st != cur.Status {
			ev := "close"
			if st == "opened" {
				ev = "reopen"
			}
			req.StateEvent, changed = &ev, true
		}
	}
	desc, twin := cur.Description, cur.TwinID
	if p.Description != nil {
		desc = textmark.Normalize(*p.Description)
	}
	if p.TwinID != nil {
		if *p.TwinID != "" {
			if err := validTwin(*p.TwinID); err != nil {
				return adapters.Issue{}, err
			}
		}
		twin = *p.TwinID
	}
	if desc != cur.Description || twin != cur.TwinID {
		b := desc
		if twin != "" {
			b = textmark.Add(textmark.Hidden, b, textmark.Twin, twin)
		}
		req.Description, changed = &b, true
	}
	if p.Labels != nil || p.Priority != nil {
		labels, prio, oldPrio := cur.Labels, "", ""
		if cur.Priority != "" {
			prio, oldPrio = PriorityPrefix+cur.Priority, PriorityPrefix+cur.Priority
		}
		if p.Labels != nil {
			labels = *p.Labels
		}
		if p.Priority != nil {
			prio = ""
			if *p.Priority != "" {
				if prio, err = t.priorityLabel(*p.Priority); err != nil {
					return adapters.Issue{}, err
				}
			}
		}
		if all := allLabels(labels, prio); !slices.Equal(all, allLabels(cur.Labels, oldPrio)) {
			lo := gl.LabelOptions(all)
			if lo == nil {
				lo = gl.LabelOptions{""} // labels= (empty) removes them all
			}
			req.Labels, changed = &lo, true
		}
	}
	typed := typedFields{assignee: p.Assignee, typ: p.Type, due: p.Due, fields: p.Fields}
	if err := t.fields(ctx, p.Extra, cur.Extra, typed, w, func(f setField) {
		if f.assignees != nil || f.milestone != nil || f.due != nil || f.weight != nil || f.confidential != nil || f.issueType != nil || f.noDue || f.noMile || f.noWeight {
			changed = true
		}
		req.AssigneeIDs, req.MilestoneID, req.DueDate, req.Weight, req.Confidential = f.assignees, f.milestone, f.due, f.weight, f.confidential
		req.IssueType = f.issueType
		req.ResetDueDate, req.ResetMilestoneID, req.ResetWeight = f.noDue, f.noMile, f.noWeight
	}); err != nil {
		return adapters.Issue{}, err
	}
	ns, err := t.notes(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	ls, err := t.links(ctx, w)
	if err != nil {
		return adapters.Issue{}, err
	}
	if changed {
		nw, resp, err := t.c.Issues.UpdateIssue(t.project, n, req, gl.WithContext(ctx))
		if err != nil {
			return adapters.Issue{}, classify(ctx, "update issue "+t.key(n), resp, err)
		}
		w = nw
	}
	if ns, err = t.applyNotes(ctx, n, ns, p); err != nil {
		return adapters.Issue{}, err
	}
	if ls, err = t.relate(ctx, n, ls, p.AddRelations, p.RemoveRelations); err != nil {
		return adapters.Issue{}, err
	}
	out := t.issue(w, ns)
	out.Relations = relationsOf(ls)
	if out.Attachments, err = t.files(ctx, w, ns); err != nil {
		return adapters.Issue{}, err
	}
	return out, nil
}

func (t *Tracker) applyNotes(ctx context.Context, n int64, ns []*gl.Note, p adapters.Patch) ([]*gl.Note, error) {
	find := func(id, sync string) int {
		for i, x := range ns {
			if id != "" && strconv.FormatInt(x.ID, 10) == id {
				return i
			}
			if id == "" && sync != "" && commentOf(x).SyncID == sync {
				return i
			}
		}
		return -1
	}
	edit := func(i int, body string) error {
		old := commentOf(ns[i])
		if old.Body == textmark.Normalize(body) {
			return nil
		}
		old.Body = body
		up, resp, err := t.c.Notes.UpdateIssueNote(t.project, n, ns[i].ID, &gl.UpdateIssueNoteOptions{Body: new(commentBody(old))}, gl.WithContext(ctx))
		if err != nil {
			return classify(ctx, fmt.Sprintf("edit note %d of %s", ns[i].ID, t.key(n)), resp, err)
		}
		ns[i] = up
		return nil
	}
	for _, c := range p.AddComments {
		if c.SyncID != "" {
			if i := find("", c.SyncID); i >= 0 {
				if err := edit(i, c.Body); err != nil {
					return nil, err
				}
				continue
			}
		}
		made, resp, err := t.c.Notes.CreateIssueNote(t.project, n, &gl.CreateIssueNoteOptions{Body: new(commentBody(c)), Internal: new(c.Internal)}, gl.WithContext(ctx))
		if err != nil {
			return nil, classify(ctx, "add a note to "+t.key(n), resp, err)
		}
		ns = append(ns, made)
	}
	for _, id := range p.DeleteComments {
		i := find(id, "")
		if i < 0 {
			continue // gone already
		}
		if resp, err := t.c.Notes.DeleteIssueNote(t.project, n, ns[i].ID, gl.WithContext(ctx)); err != nil && (resp == nil || resp.StatusCode != 404) {
			return nil, classify(ctx, fmt.Sprintf("delete note %d of %s", ns[i].ID, t.key(n)), resp, err)
		}
		ns = slices.Delete(ns, i, i+1)
	}
	for _, c := range p.EditComments {
		i := find(c.ID, c.SyncID)
		if i < 0 {
			return nil, notFound("note %q (sync ID %q) is not on %s", c.ID, c.SyncID, t.key(n))
		}
		if err := edit(i, c.Body); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// FindByTwin searches the project's descriptions for the marker.
func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	if textmark.Valid(twin) != nil {
		return adapters.Issue{}, notFound("no issue carries twin %q", twin)
	}
	opt := &gl.ListProjectIssuesOptions{ListOptions: gl.ListOptions{PerPage: pageSize}, Search: new(twin), In: new("description"), Scope: new("all")}
	for page := int64(1); ; page++ {
		opt.Page = page
		ws, resp, err := t.c.Issues.ListProjectIssues(t.project, opt, gl.WithContext(ctx))
		if err != nil {
			return adapters.Issue{}, classify(ctx, "search issues for twin "+twin, resp, err)
		}
		for _, w := range ws {
			if t.kept(w) {
				continue
			}
			if _, marks := textmark.Split(w.Description); marks[textmark.Twin] == twin {
				return t.full(ctx, w)
			}
		}
		if resp.NextPage == 0 || len(ws) < pageSize {
			return adapters.Issue{}, notFound("no issue of %s carries twin %q", t.project, twin)
		}
	}
}

// ---- change feed ----

// Changes: see the package documentation.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	if limit <= 0 {
		limit = 1000
	}
	var (
		read  bool
		from  time.Time
		items []*gl.Issue
		date  time.Time
	)
	page := func(ctx context.Context, since time.Time, offset, limit int) ([]*gl.Issue, time.Time, error) {
		if !read || since.Before(from) {
			items, from, read = nil, since, true
			seen := map[int64]bool{}
			opt := &gl.ListProjectIssuesOptions{ListOptions: gl.ListOptions{PerPage: pageSize}, OrderBy: new("updated_at"), Sort: new("asc"), Scope: new("all")}
			if !since.IsZero() {
				opt.UpdatedAfter = new(since)
			}
			for p := int64(1); ; p++ {
				opt.Page = p
				ws, resp, err := t.c.Issues.ListProjectIssues(t.project, opt, gl.WithContext(ctx))
				if err != nil {
					return nil, time.Time{}, classify(ctx, "list changed issues", resp, err)
				}
				if p == 1 {
					date, _ = http.ParseTime(resp.Header.Get("Date"))
				}
				for _, w := range ws {
					if !seen[w.IID] { // an issue changed between pages shows twice
						seen[w.IID] = true
						items = append(items, w)
					}
				}
				if resp.NextPage == 0 || len(ws) < pageSize {
					break
				}
			}
			slices.SortFunc(items, func(a, b *gl.Issue) int {
				if c := stamp(a.UpdatedAt).Compare(stamp(b.UpdatedAt)); c != 0 {
					return c
				}
				return int(a.IID - b.IID)
			})
		}
		var rest []*gl.Issue
		for _, w := range items {
			if !stamp(w.UpdatedAt).Before(since) {
				rest = append(rest, w)
			}
		}
		if offset >= len(rest) {
			return nil, date, nil
		}
		return rest[offset:min(len(rest), offset+limit)], date, nil
	}
	ws, next, err := feed.Changes(ctx, since, limit, feed.Options{Settle: t.settle, PageSize: pageSize}, page,
		func(w *gl.Issue) string { return strconv.FormatInt(w.IID, 10) },
		func(w *gl.Issue) time.Time { return stamp(w.UpdatedAt) })
	if err != nil {
		return nil, since, err
	}
	out := []adapters.Issue{}
	for _, w := range ws {
		if t.kept(w) {
			t.log.Debug("confidential issue kept back", "issue", t.key(w.IID))
			continue
		}
		out = append(out, t.issue(w, nil))
	}
	return out, next, nil
}
