// Package github is the issuemesh adapter of GitHub (github.com and GitHub
// Enterprise Server), on google/go-github.
//
// # Set-up
//
// One repository (tracker.repo, "owner/repo") or several (tracker.repos)
// per node. Credentials, never from config.yaml: a fine-grained token
// with Issues read and write on the repositories, from the file named by
// tracker.token_file or the environment variable ISSUEMESH_GITHUB_TOKEN;
// or a GitHub App (tracker.app_id, tracker.app_key_file with its private
// key, tracker.installation), whose installation token is made from a
// JWT and renewed before it expires (app.go). tracker.url is the API's
// base URL for GitHub Enterprise Server (https://HOST/api/v3/); empty
// means api.github.com.
//
// # Fields
//
// Key is "owner/repo#N", unique across the repositories of a connection
// ("N" and "#N" are accepted when there is one repository). Pull
// requests, which GitHub's issues endpoints also return, are left out
// (Get of a pull request's number is ErrNotFound and the feed skips
// them) unless tracker.pull_requests is true; then they sync as issues
// with Extra["pull_request"] "true" (their code is not synced). Summary is the
// title, Description the body (line ends "\n"). Status is one of
// "open", "reopened" (open with state_reason reopened), "closed" (state
// closed, reason completed), "not_planned" and, read only, "duplicate";
// any other is rejected naming the valid ones. GitHub has no priority: it
// is kept as a label "priority: NAME", NAME one of Options.Priorities
// (default low, medium, high, urgent), and such labels are not in Labels.
// Other labels are Labels (GitHub creates a label the first time it is set).
// Extra["assignees"] is the assignees' logins, comma-separated and sorted;
// Extra["milestone"] the milestone's title ("" removes it; an unknown title
// is rejected); Extra["repo"] the issue's repository (on Create it picks
// one of the connection's, default the first; an issue is never moved);
// Extra["parent"] the key of its parent issue (sub-issues; "" removes
// it); read only, Extra["sub_issues"] the keys of its sub-issues and
// Extra["references"] the keys of the issues its body mentions (#N,
// owner/repo#N, issue URLs), comma-separated and sorted. Attachments are
// not kept as files: GitHub's API has no file upload, so a file shows as
// the link that GitHub's web editor writes into the body or a comment,
// and travels as that text (tracker check says so). A comment is edited
// in place (Patch.EditComments) and deleted with DeleteComment; a comment
// deleted on GitHub is absent from the next Get.
//
// # Markers
//
// The twin ID of an issue created by sync is a hidden HTML comment at the
// end of the body ("<!-- issuemesh:twin ID -->", invisible in GitHub's
// rendering), written in the create call itself, so a crash between create
// and link is recovered by FindByTwin, which scans the repository's issues
// newest first. A comment added by sync starts with its author
// ("**Alice (partner) wrote:**", as the token's user is its GitHub author)
// and ends with a hidden marker carrying its global ID; an internal
// comment ends with "<!-- issuemesh:internal -->". GitHub has no private
// comments: an internal comment is readable by whoever can read the
// repository. The default outgoing rules do not send internal comments;
// rules that do should not point at a public repository.
//
// # Changes
//
// Changes polls GET /repos/O/R/issues?state=all&sort=updated&direction=asc
// &since=T (GitHub's stamps have one-second resolution; package feed keeps
// the window exact, with an overlap of Options.Settle, default 10 s), then
// GET /repos/O/R/issues/comments?since=T, because editing a comment does
// not change the issue's updated_at: an issue whose comment changed is
// returned too (one GET per such issue). Both feeds are asked with
// If-None-Match: an unchanged poll answers 304, which GitHub does not count
// against the rate limit. The cursor is the two feeds' cursors joined by
// "|".
//
// # Not (yet) covered
//
// A comment deleted on GitHub does not change the issue's updated_at nor
// appear in the comments feed: the feed finds it by the issue's comment
// count (a sweep every Options.CommentSweep, free while nothing changes)
// or at once from the webhook delivery that names the issue (sweep.go).
// Issue references are read, never written (they are text).
//
// # Rate limits
//
// See package forge (pacing before the limit, ETags, the webhook
// listener shared with Gitea) and errors.go (the
// classes of GitHub's errors: a 403/429 rate limit is rate_limited with
// its reset time).
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/forge"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

// EnvToken is the environment variable read when no token file is given.
const EnvToken = "ISSUEMESH_GITHUB_TOKEN"

// EnvWebhookSecret is read when tracker.webhook has no secret_file.
const EnvWebhookSecret = "ISSUEMESH_GITHUB_WEBHOOK_SECRET"

// LoadWebhookSecret reads the webhook secret from file or, when file is
// empty, from ISSUEMESH_GITHUB_WEBHOOK_SECRET.
func LoadWebhookSecret(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvWebhookSecret, "tracker.webhook.secret_file", log)
}

// LoadToken reads the token from file or, when file is empty, from
// ISSUEMESH_GITHUB_TOKEN. Errors name the config key tracker.token_file.
func LoadToken(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvToken, "tracker.token_file", log)
}

// DefaultSettle is the feed's overlap for GitHub: its listing is served
// from replicas that can lag a write by a few seconds.
const DefaultSettle = 10 * time.Second

// Marker kind of an internal comment.
const internalMark = "internal"

// PriorityPrefix starts the label that keeps an issue's priority.
const PriorityPrefix = "priority: "

// Options configure New.
type Options struct {
	// BaseURL of the API: empty for api.github.com; for GitHub Enterprise
	// Server https://HOST/api/v3/.
	BaseURL string
	// Token authenticates every request; with App set, leave it empty.
	Token string
	// App authenticates as a GitHub App's installation instead.
	App *App
	// Repo is "owner/repo"; Repos more of them (Repo, when set, first).
	Repo  string
	Repos []string
	// PullRequests syncs pull requests as issues too.
	PullRequests bool
	// Priorities are the valid priority names (default low, medium, high,
	// urgent).
	Priorities []string
	// Settle is the feed's overlap (default DefaultSettle).
	Settle time.Duration
	// Reserve: below this many requests left before the reset, requests
	// are spaced out (default 100).
	Reserve int
	// HTTPClient's transport is wrapped; nil: a client with a 30 s timeout.
	HTTPClient *http.Client
	// WebhookListen, when set, is the address (host:port) of a listener
	// for GitHub's webhook deliveries, verified with WebhookSecret; see
	// Webhook. It starts when the node registers OnChange.
	WebhookListen, WebhookSecret string
	// CommentSweep is how often the feed compares every issue's comment
	// count with the one last read, to find deleted comments (sweep.go;
	// default DefaultCommentSweep, negative: never).
	CommentSweep time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Tracker is one GitHub repository seen as an adapters.Tracker. It is safe
// for concurrent use.
type Tracker struct {
	c          *gh.Client
	tr         *forge.Transport
	app        *appTokens // nil: a token
	repos      []repoRef  // the first takes creates by default
	pulls      bool
	priorities []string
	settle     time.Duration
	log        *slog.Logger
	hook       *forge.Listener
	sweep      *commentSweep
}

var _ adapters.Tracker = (*Tracker)(nil)

// New returns the adapter. It does no I/O: Check verifies the set-up.
func New(opts Options) (*Tracker, error) {
	if opts.Token == "" && opts.App == nil {
		return nil, errors.New("github: no token given (tracker.token_file, $" + EnvToken + ") and no GitHub App (tracker.app_id)")
	}
	if opts.Token != "" && opts.App != nil {
		return nil, errors.New("github: both a token and a GitHub App are given: use one")
	}
	repos, err := parseRepos(opts.Repo, opts.Repos)
	if err != nil {
		return nil, err
	}
	common, err := forge.Common{Priorities: opts.Priorities, Settle: opts.Settle, HTTPClient: opts.HTTPClient,
		WebhookListen: opts.WebhookListen, WebhookSecret: opts.WebhookSecret, Logger: opts.Logger}.Resolve("github", repos[0].String(), DefaultSettle)
	if err != nil {
		return nil, err
	}
	log, hc := common.Logger, common.HTTPClient
	if opts.Reserve <= 0 {
		opts.Reserve = 100
	}
	tr := forge.NewTransport(hc.Transport, opts.Reserve)
	hc.Transport = tr
	copts := []gh.ClientOptionsFunc{gh.WithUserAgent("issuemesh")}
	if opts.BaseURL != "" {
		copts = append(copts, gh.WithEnterpriseURLs(opts.BaseURL, opts.BaseURL))
	}
	var app *appTokens
	if opts.App != nil {
		if app, err = newAppTokens(*opts.App, tr, copts); err != nil {
			return nil, err
		}
		hc.Transport = app
	} else {
		copts = append(copts, gh.WithAuthToken(opts.Token))
	}
	c, err := gh.NewClient(append(copts, gh.WithHTTPClient(hc))...)
	if err != nil {
		return nil, fmt.Errorf("github: tracker.url %q: %w", opts.BaseURL, err)
	}
	every := opts.CommentSweep
	if every == 0 {
		every = DefaultCommentSweep
	}
	names := make([]string, len(repos))
	for i, r := range repos {
		names[i] = r.String()
	}
	return &Tracker{c: c, tr: tr, app: app, repos: repos, pulls: opts.PullRequests, priorities: common.Priorities, settle: common.Settle, log: log,
		hook:  forge.NewListener(forge.GitHub(), opts.WebhookListen, opts.WebhookSecret, strings.Join(names, ","), log),
		sweep: newCommentSweep(every)}, nil
}

// OnChange registers the node's doorbell, rung by accepted webhook
// deliveries, and starts the webhook listener when one is configured (a
// listener that cannot start is logged; polling goes on).
func (t *Tracker) OnChange(fn func()) { t.hook.OnChange(fn) }

// WebhookAddr is the listener's address ("" when none runs).
func (t *Tracker) WebhookAddr() string { return t.hook.Addr() }

// Close stops the webhook listener and releases idle connections.
func (t *Tracker) Close() error {
	t.hook.Close()
	t.c.Client().CloseIdleConnections()
	return nil
}

// Repo is the first repository, "owner/repo".
func (t *Tracker) Repo() string { return t.repos[0].String() }

// Repos are the connection's repositories, "owner/repo".
func (t *Tracker) Repos() []string {
	var out []string
	for _, r := range t.repos {
		out = append(out, r.String())
	}
	return out
}

// ---- reading ----

func (t *Tracker) getWire(ctx context.Context, r repoRef, n int) (*gh.Issue, error) {
	is, resp, err := t.c.Issues.Get(ctx, r.owner, r.name, n)
	if err != nil {
		return nil, classify(fmt.Sprintf("get issue %s", r.key(n)), resp, err)
	}
	if is.IsPullRequest() && !t.pulls {
		return nil, notFound("%s is a pull request, which is not synced (tracker.pull_requests is off)", r.key(n))
	}
	if is.Number == nil {
		return nil, fmt.Errorf("github: get issue %s: the answer has no number: %w", r.key(n), adapters.ErrBadAnswer)
	}
	t.sweep.note(r.key(n), is.GetComments())
	return is, nil
}

func (t *Tracker) comments(ctx context.Context, r repoRef, n int) ([]*gh.IssueComment, error) {
	var all []*gh.IssueComment
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := t.c.Issues.ListComments(ctx, r.owner, r.name, n, opts)
		if err != nil {
			return nil, classify(fmt.Sprintf("list the comments of %s", r.key(n)), resp, err)
		}
		all = append(all, cs...)
		if resp.NextPage == 0 {
			return all, nil
		}
		opts.Page = resp.NextPage
	}
}

// Get returns the issue with its comments (and its sub-issues, when
// GitHub's summary says it has some).
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	r, n, err := t.number(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, r, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	cs, err := t.comments(ctx, r, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	is := t.issue(r, w, cs)
	if err := t.addSubIssues(ctx, r, w, &is); err != nil {
		return adapters.Issue{}, err
	}
	return is, nil
}

func (t *Tracker) issue(r repoRef, w *gh.Issue, cs []*gh.IssueComment) adapters.Issue {
	body, marks := textmark.Split(w.GetBody())
	is := adapters.Issue{
		Key: r.key(w.GetNumber()), Summary: w.GetTitle(), Description: body,
		Status: statusOf(w), Created: w.GetCreatedAt().Time, Updated: w.GetUpdatedAt().Time,
		TwinID: marks[textmark.Twin],
	}
	for _, l := range w.Labels {
		name := l.GetName()
		if p, ok := strings.CutPrefix(name, PriorityPrefix); ok {
			if v, ok := t.priority(p); ok {
				is.Priority = v
				continue
			}
		}
		is.Labels = append(is.Labels, name)
	}
	slices.Sort(is.Labels)
	extra := map[string]string{}
	if len(t.repos) > 1 {
		extra["repo"] = r.String()
	}
	if w.IsPullRequest() {
		extra["pull_request"] = "true"
	}
	if p := keyOfURL(w.GetParentIssueURL()); p != "" {
		extra["parent"] = p
	}
	if refs := references(r, w.GetNumber(), body); refs != "" {
		extra["references"] = refs
	}
	var logins []string
	for _, a := range w.Assignees {
		logins = append(logins, a.GetLogin())
	}
	if len(logins) > 0 {
		slices.Sort(logins)
		extra["assignees"] = strings.Join(logins, ",")
	}
	if w.Milestone != nil {
		extra["milestone"] = w.Milestone.GetTitle()
	}
	if len(extra) > 0 {
		is.Extra = extra
	}
	for _, c := range cs {
		is.Comments = append(is.Comments, commentOf(c))
		if u := c.GetUpdatedAt().Time; u.After(is.Updated) {
			is.Updated = u
		}
	}
	fillFields(&is, w)
	return is
}

func commentOf(c *gh.IssueComment) adapters.Comment {
	body, marks := textmark.Split(c.GetBody())
	out := adapters.Comment{
		ID: strconv.FormatInt(c.GetID(), 10), Author: c.GetUser().GetLogin(),
		Created: c.GetCreatedAt().Time, Updated: c.GetUpdatedAt().Time,
	}
	_, out.Internal = marks[internalMark]
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
	b := c.Body
	if c.SyncID != "" {
		b = textmark.Add(textmark.Hidden, textmark.WithAuthor(textmark.Hidden, c.Author, b), textmark.Comment, c.SyncID)
	}
	if c.Internal {
		b = textmark.Add(textmark.Hidden, b, internalMark, "")
	}
	return b
}

// ---- statuses and priorities ----

var writable = []string{"open", "reopened", "closed", "not_planned"}

func statusOf(w *gh.Issue) string {
	r := w.GetStateReason()
	if w.GetState() == "closed" {
		switch r {
		case "not_planned", "duplicate":
			return r
		}
		return "closed"
	}
	if r == "reopened" {
		return "reopened"
	}
	return "open"
}

// stateOf gives the state and state_reason that write status s.
func stateOf(s string) (state, reason string, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "open":
		return "open", "", nil
	case "reopened":
		return "open", "reopened", nil
	case "closed":
		return "closed", "completed", nil
	case "not_planned", "not planned":
		return "closed", "not_planned", nil
	}
	return "", "", rejected("status %q is not one GitHub can set; valid: %s", s, strings.Join(writable, ", "))
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
		return "", rejected("priority %q is not one of %s (GitHub keeps priorities as %q labels)", p, strings.Join(t.priorities, ", "), PriorityPrefix+"NAME")
	}
	return PriorityPrefix + v, nil
}

// ---- writing ----

func validTwin(tw string) error {
	if err := textmark.Valid(tw); err != nil {
		return rejected("twin ID: %v", err)
	}
	return nil
}

// Create creates the issue, then sets a closed status (GitHub opens every
// new issue) and adds the comments.
func (t *Tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	if strings.TrimSpace(in.Summary) == "" {
		return adapters.Issue{}, rejected("an issue needs a title (the summary is blank)")
	}
	var state, reason string
	if in.Status != "" {
		var err error
		if state, reason, err = stateOf(in.Status); err != nil {
			return adapters.Issue{}, err
		}
	}
	req := gh.CreateIssueRequest{Title: in.Summary, Labels: slices.Clone(in.Labels)}
	if in.Priority != "" {
		l, err := t.priorityLabel(in.Priority)
		if err != nil {
			return adapters.Issue{}, err
		}
		req.Labels = append(req.Labels, l)
	}
	body := textmark.Normalize(in.Description)
	if in.TwinID != "" {
		if err := validTwin(in.TwinID); err != nil {
			return adapters.Issue{}, err
		}
		body = textmark.Add(textmark.Hidden, body, textmark.Twin, in.TwinID)
	}
	if body != "" {
		req.Body = &body
	}
	r := t.repos[0]
	if name := in.Extra["repo"]; name != "" {
		var ok bool
		if r, ok = t.repoNamed(name); !ok {
			return adapters.Issue{}, rejected("field repo: %q is not one of this connection's repositories (%s)", name, strings.Join(t.Repos(), ", "))
		}
	}
	if a := in.Extra["assignees"]; a != "" {
		req.Assignees = splitList(a)
	}
	if m, ok := in.Extra["milestone"]; ok && m != "" {
		num, err := t.milestone(ctx, r, m)
		if err != nil {
			return adapters.Issue{}, err
		}
		req.Milestone = &num
	}
	parent, err := t.createFields(in, &req)
	if err != nil {
		return adapters.Issue{}, err
	}
	for k, v := range in.Extra {
		switch k {
		case "assignees", "milestone", "repo":
		case "parent":
			if v == "" {
				continue
			}
			pr, pn, err := t.number(v)
			if err != nil {
				return adapters.Issue{}, rejected("field parent: %v", err)
			}
			parent = &parentRef{pr, pn}
		default:
			if !readOnly[k] {
				return adapters.Issue{}, unknownField(k)
			}
		}
	}
	w, resp, err := t.c.Issues.Create(ctx, r.owner, r.name, req)
	if err != nil {
		return adapters.Issue{}, classify("create an issue in "+r.String(), resp, err)
	}
	n := w.GetNumber()
	if state == "closed" || reason == "reopened" {
		if w, resp, err = t.c.Issues.Update(ctx, r.owner, r.name, n, gh.UpdateIssueRequest{State: &state, StateReason: &reason}); err != nil {
			return adapters.Issue{}, classify("set the status of new issue "+r.key(n), resp, err)
		}
	}
	if parent != nil {
		if err := t.setParent(ctx, r, w, *parent); err != nil {
			return adapters.Issue{}, err
		}
	}
	if err := t.createChildren(ctx, r, w, in); err != nil {
		return adapters.Issue{}, err
	}
	var cs []*gh.IssueComment
	for _, c := range in.Comments {
		made, resp, err := t.c.Issues.CreateComment(ctx, r.owner, r.name, n, gh.IssueCommentRequest{Body: commentBody(c)})
		if err != nil {
			return adapters.Issue{}, classify("add a comment to new issue "+r.key(n), resp, err)
		}
		cs = append(cs, made)
	}
	is := t.issue(r, w, cs)
	if parent != nil {
		if is.Extra == nil {
			is.Extra = map[string]string{}
		}
		is.Extra["parent"] = parent.r.key(parent.n)
		is.Relations = []adapters.Relation{{Kind: adapters.RelParent, Key: parent.r.key(parent.n)}}
	}
	return is, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// milestone finds an open or closed milestone by title.
func (t *Tracker) milestone(ctx context.Context, r repoRef, title string) (int, error) {
	opts := &gh.MilestoneListOptions{State: "all", ListOptions: gh.ListOptions{PerPage: 100}}
	var titles []string
	for {
		ms, resp, err := t.c.Issues.ListMilestones(ctx, r.owner, r.name, opts)
		if err != nil {
			return 0, classify("list milestones", resp, err)
		}
		for _, m := range ms {
			if m.GetTitle() == title {
				return m.GetNumber(), nil
			}
			titles = append(titles, m.GetTitle())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return 0, rejected("milestone %q does not exist in %s (it has: %s)", title, r, strings.Join(titles, ", "))
}

// Update reads the issue (and its comments when the patch touches them),
// then sends one PATCH with every changed field, then the comment calls.
func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	r, n, err := t.number(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, r, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	cur := t.issue(r, w, nil)
	var req gh.UpdateIssueRequest
	changed := false
	if p.Summary != nil && *p.Summary != cur.Summary {
		if strings.TrimSpace(*p.Summary) == "" {
			return adapters.Issue{}, rejected("an issue needs a title (the summary is blank)")
		}
		req.Title, changed = p.Summary, true
	}
	if p.Status != nil {
		state, reason, err := stateOf(*p.Status)
		if err != nil {
			return adapters.Issue{}, err
		}
		if want := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(*p.Status), " ", "_")); want != cur.Status {
			req.State, changed = &state, true
			if reason != "" {
				req.StateReason = &reason
			}
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
		req.Body, changed = &b, true
	}
	if p.Labels != nil || p.Priority != nil {
		labels, prio := cur.Labels, ""
		if cur.Priority != "" {
			prio = PriorityPrefix + cur.Priority
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
		all := slices.Clone(labels)
		if prio != "" {
			all = append(all, prio)
		}
		old := slices.Clone(cur.Labels)
		if cur.Priority != "" {
			old = append(old, PriorityPrefix+cur.Priority)
		}
		slices.Sort(all)
		slices.Sort(old)
		if !slices.Equal(all, old) {
			if all == nil {
				all = []string{}
			}
			req.Labels, changed = all, true
		}
	}
	for k, v := range p.Extra {
		switch k {
		case "assignees":
			if v != cur.Extra["assignees"] {
				req.Assignees, changed = splitList(v), true
				if req.Assignees == nil {
					req.Assignees = []string{}
				}
			}
		case "milestone":
			if v == cur.Extra["milestone"] {
				continue
			}
			if v == "" {
				if w, err = t.removeMilestone(ctx, r, n); err != nil {
					return adapters.Issue{}, err
				}
				continue
			}
			num, err := t.milestone(ctx, r, v)
			if err != nil {
				return adapters.Issue{}, err
			}
			req.Milestone, changed = &num, true
		case "parent":
			if err := t.updateParent(ctx, r, w, cur.Extra["parent"], v); err != nil {
				return adapters.Issue{}, err
			}
		case "repo":
			if v != "" && !strings.EqualFold(v, r.String()) {
				return adapters.Issue{}, rejected("field repo: %s is in %s; moving an issue to %s (a transfer) is not synced", r.key(n), r, v)
			}
		default:
			if !readOnly[k] {
				return adapters.Issue{}, unknownField(k)
			}
		}
	}
	fc, reread, err := t.updateFields(ctx, r, w, cur, p, &req)
	if err != nil {
		return adapters.Issue{}, err
	}
	changed = changed || fc
	if err := t.deleteComments(ctx, r.key(n), p.DeleteComments); err != nil {
		return adapters.Issue{}, err
	}
	var cs []*gh.IssueComment
	needComments := len(p.AddComments) > 0 || len(p.EditComments) > 0
	if needComments {
		if cs, err = t.comments(ctx, r, n); err != nil {
			return adapters.Issue{}, err
		}
	}
	if changed {
		nw, resp, err := t.c.Issues.Update(ctx, r.owner, r.name, n, req)
		if err != nil {
			return adapters.Issue{}, classify("update issue "+r.key(n), resp, err)
		}
		w = nw
	}
	if needComments {
		if cs, err = t.applyComments(ctx, r, n, cs, p); err != nil {
			return adapters.Issue{}, err
		}
	} else if cs, err = t.comments(ctx, r, n); err != nil {
		return adapters.Issue{}, err
	}
	if _, ok := p.Extra["parent"]; ok || reread {
		// The PATCH's answer may predate the sub-issue call: read again.
		if w, err = t.getWire(ctx, r, n); err != nil {
			return adapters.Issue{}, err
		}
	}
	is := t.issue(r, w, cs)
	if err := t.addSubIssues(ctx, r, w, &is); err != nil {
		return adapters.Issue{}, err
	}
	return is, nil
}

func (t *Tracker) removeMilestone(ctx context.Context, r repoRef, n int) (*gh.Issue, error) {
	w, resp, err := t.c.Issues.RemoveMilestone(ctx, r.owner, r.name, n)
	if err != nil {
		return nil, classify("remove the milestone of "+r.key(n), resp, err)
	}
	return w, nil
}

// applyComments adds and edits comments; an add whose SyncID the issue has
// edits that comment.
func (t *Tracker) applyComments(ctx context.Context, r repoRef, n int, cs []*gh.IssueComment, p adapters.Patch) ([]*gh.IssueComment, error) {
	find := func(id, sync string) int {
		for i, c := range cs {
			if id != "" && strconv.FormatInt(c.GetID(), 10) == id {
				return i
			}
			if id == "" && sync != "" && commentOf(c).SyncID == sync {
				return i
			}
		}
		return -1
	}
	edit := func(i int, body string) error {
		old := commentOf(cs[i])
		if old.Body == body {
			return nil
		}
		old.Body = body
		nb := commentBody(old)
		up, resp, err := t.c.Issues.UpdateComment(ctx, r.owner, r.name, cs[i].GetID(), gh.IssueCommentRequest{Body: nb})
		if err != nil {
			return classify(fmt.Sprintf("edit comment %d of %s", cs[i].GetID(), r.key(n)), resp, err)
		}
		cs[i] = up
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
		made, resp, err := t.c.Issues.CreateComment(ctx, r.owner, r.name, n, gh.IssueCommentRequest{Body: commentBody(c)})
		if err != nil {
			return nil, classify("add a comment to "+r.key(n), resp, err)
		}
		cs = append(cs, made)
	}
	for _, c := range p.EditComments {
		i := find(c.ID, c.SyncID)
		if i < 0 {
			return nil, notFound("comment %q (sync ID %q) is not on %s", c.ID, c.SyncID, r.key(n))
		}
		if err := edit(i, c.Body); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// Verify reports whether sig (the X-Hub-Signature-256 header,
// "sha256=HEX") is the HMAC-SHA256 of body under secret.
func Verify(secret, body []byte, sig string) bool {
	return forge.Verify(secret, body, sig, "sha256=")
}
