// Package github is the issuemesh adapter of GitHub (github.com and GitHub
// Enterprise Server), on google/go-github.
//
// # Set-up
//
// One repository (tracker.repo, "owner/repo") per node. A fine-grained
// token with Issues read and write on it, from the file named by
// tracker.token_file or the environment variable ISSUEMESH_GITHUB_TOKEN,
// never from config.yaml. tracker.url is the API's base URL for GitHub
// Enterprise Server (https://HOST/api/v3/); empty means api.github.com.
//
// # Fields
//
// Key is "owner/repo#N" ("N" and "#N" are accepted). Pull requests, which
// GitHub's issues endpoints also return, are left out: Get of a pull
// request's number is ErrNotFound and the feed skips them. Summary is the
// title, Description the body (line ends "\n"). Status is one of
// "open", "reopened" (open with state_reason reopened), "closed" (state
// closed, reason completed), "not_planned" and, read only, "duplicate";
// any other is rejected naming the valid ones. GitHub has no priority: it
// is kept as a label "priority: NAME", NAME one of Options.Priorities
// (default low, medium, high, urgent), and such labels are not in Labels.
// Other labels are Labels (GitHub creates a label the first time it is set).
// Extra["assignees"] is the assignees' logins, comma-separated and sorted;
// Extra["milestone"] the milestone's title ("" removes it; an unknown title
// is rejected). Attachments are not kept: GitHub has no file API, files
// stay links in the text (tracker check says so).
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
// Authentication as a GitHub App, several repositories on one connection,
// sub-issues and issue references, and comment deletions (a comment
// deleted on GitHub is simply absent from Get) are not implemented.
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
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
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

// DefaultPriorities are the priorities kept as "priority: NAME" labels.
var DefaultPriorities = []string{"low", "medium", "high", "urgent"}

// Marker kind of an internal comment.
const internalMark = "internal"

// PriorityPrefix starts the label that keeps an issue's priority.
const PriorityPrefix = "priority: "

// Options configure New.
type Options struct {
	// BaseURL of the API: empty for api.github.com; for GitHub Enterprise
	// Server https://HOST/api/v3/.
	BaseURL string
	// Token authenticates every request.
	Token string
	// Repo is "owner/repo".
	Repo string
	// Priorities are the valid priority names (default DefaultPriorities).
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
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Tracker is one GitHub repository seen as an adapters.Tracker. It is safe
// for concurrent use.
type Tracker struct {
	c           *gh.Client
	tr          *forge.Transport
	owner, repo string
	priorities  []string
	settle      time.Duration
	log         *slog.Logger
	hook        *forge.Listener
}

var _ adapters.Tracker = (*Tracker)(nil)

// New returns the adapter. It does no I/O: Check verifies the set-up.
func New(opts Options) (*Tracker, error) {
	if opts.Token == "" {
		return nil, errors.New("github: no token given")
	}
	owner, repo, ok := strings.Cut(strings.TrimSpace(opts.Repo), "/")
	if !ok || owner == "" || repo == "" || strings.ContainsAny(repo, "/ #") || strings.ContainsAny(owner, " #") {
		return nil, fmt.Errorf("github: tracker.repo %q: want owner/repo", opts.Repo)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "github", "repo", owner+"/"+repo)
	hc := &http.Client{Timeout: 30 * time.Second}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	if opts.Reserve <= 0 {
		opts.Reserve = 100
	}
	tr := forge.NewTransport(hc.Transport, opts.Reserve)
	hc.Transport = tr
	copts := []gh.ClientOptionsFunc{gh.WithHTTPClient(hc), gh.WithAuthToken(opts.Token), gh.WithUserAgent("issuemesh")}
	if opts.BaseURL != "" {
		copts = append(copts, gh.WithEnterpriseURLs(opts.BaseURL, opts.BaseURL))
	}
	c, err := gh.NewClient(copts...)
	if err != nil {
		return nil, fmt.Errorf("github: tracker.url %q: %w", opts.BaseURL, err)
	}
	pr := opts.Priorities
	if len(pr) == 0 {
		pr = DefaultPriorities
	}
	settle := opts.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	if opts.WebhookListen != "" && opts.WebhookSecret == "" {
		return nil, errors.New("github: a webhook listener needs its secret (tracker.webhook.secret_file)")
	}
	return &Tracker{c: c, tr: tr, owner: owner, repo: repo, priorities: pr, settle: settle, log: log,
		hook: forge.NewListener(forge.GitHub(), opts.WebhookListen, opts.WebhookSecret, owner+"/"+repo, log)}, nil
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

// Repo is "owner/repo".
func (t *Tracker) Repo() string { return t.owner + "/" + t.repo }

func (t *Tracker) key(n int) string { return t.Repo() + "#" + strconv.Itoa(n) }

// number parses a key.
func (t *Tracker) number(key string) (int, error) {
	s := strings.TrimSpace(key)
	if r, n, ok := strings.Cut(s, "#"); ok {
		if r != "" && !strings.EqualFold(r, t.Repo()) {
			return 0, notFound("issue %q is not in repository %s", key, t.Repo())
		}
		s = n
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, notFound("%q is not an issue key (want %s#NUMBER)", key, t.Repo())
	}
	return n, nil
}

// ---- reading ----

func (t *Tracker) getWire(ctx context.Context, n int) (*gh.Issue, error) {
	is, resp, err := t.c.Issues.Get(ctx, t.owner, t.repo, n)
	if err != nil {
		return nil, classify(fmt.Sprintf("get issue %s", t.key(n)), resp, err)
	}
	if is.IsPullRequest() {
		return nil, notFound("%s is a pull request, which is not synced", t.key(n))
	}
	if is.Number == nil {
		return nil, fmt.Errorf("github: get issue %s: the answer has no number: %w", t.key(n), adapters.ErrBadAnswer)
	}
	return is, nil
}

func (t *Tracker) comments(ctx context.Context, n int) ([]*gh.IssueComment, error) {
	var all []*gh.IssueComment
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := t.c.Issues.ListComments(ctx, t.owner, t.repo, n, opts)
		if err != nil {
			return nil, classify(fmt.Sprintf("list the comments of %s", t.key(n)), resp, err)
		}
		all = append(all, cs...)
		if resp.NextPage == 0 {
			return all, nil
		}
		opts.Page = resp.NextPage
	}
}

// Get returns the issue with its comments.
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	n, err := t.number(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	cs, err := t.comments(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	return t.issue(w, cs), nil
}

func (t *Tracker) issue(w *gh.Issue, cs []*gh.IssueComment) adapters.Issue {
	body, marks := textmark.Split(w.GetBody())
	is := adapters.Issue{
		Key: t.key(w.GetNumber()), Summary: w.GetTitle(), Description: body,
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
	if a := in.Extra["assignees"]; a != "" {
		req.Assignees = splitList(a)
	}
	if m, ok := in.Extra["milestone"]; ok && m != "" {
		num, err := t.milestone(ctx, m)
		if err != nil {
			return adapters.Issue{}, err
		}
		req.Milestone = &num
	}
	for k := range in.Extra {
		if k != "assignees" && k != "milestone" {
			return adapters.Issue{}, rejected("field %q: GitHub issues have only assignees and milestone besides the standard fields", k)
		}
	}
	w, resp, err := t.c.Issues.Create(ctx, t.owner, t.repo, req)
	if err != nil {
		return adapters.Issue{}, classify("create an issue", resp, err)
	}
	n := w.GetNumber()
	if state == "closed" || reason == "reopened" {
		if w, resp, err = t.c.Issues.Update(ctx, t.owner, t.repo, n, gh.UpdateIssueRequest{State: &state, StateReason: &reason}); err != nil {
			return adapters.Issue{}, classify("set the status of new issue "+t.key(n), resp, err)
		}
	}
	var cs []*gh.IssueComment
	for _, c := range in.Comments {
		made, resp, err := t.c.Issues.CreateComment(ctx, t.owner, t.repo, n, gh.IssueCommentRequest{Body: commentBody(c)})
		if err != nil {
			return adapters.Issue{}, classify("add a comment to new issue "+t.key(n), resp, err)
		}
		cs = append(cs, made)
	}
	return t.issue(w, cs), nil
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
func (t *Tracker) milestone(ctx context.Context, title string) (int, error) {
	opts := &gh.MilestoneListOptions{State: "all", ListOptions: gh.ListOptions{PerPage: 100}}
	var titles []string
	for {
		ms, resp, err := t.c.Issues.ListMilestones(ctx, t.owner, t.repo, opts)
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
	return 0, rejected("milestone %q does not exist in %s (it has: %s)", title, t.Repo(), strings.Join(titles, ", "))
}

// Update reads the issue (and its comments when the patch touches them),
// then sends one PATCH with every changed field, then the comment calls.
func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	n, err := t.number(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	cur := t.issue(w, nil)
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
				if w, err = t.removeMilestone(ctx, n); err != nil {
					return adapters.Issue{}, err
				}
				continue
			}
			num, err := t.milestone(ctx, v)
			if err != nil {
				return adapters.Issue{}, err
			}
			req.Milestone, changed = &num, true
		default:
			return adapters.Issue{}, rejected("field %q: GitHub issues have only assignees and milestone besides the standard fields", k)
		}
	}
	var cs []*gh.IssueComment
	needComments := len(p.AddComments) > 0 || len(p.EditComments) > 0
	if needComments {
		if cs, err = t.comments(ctx, n); err != nil {
			return adapters.Issue{}, err
		}
	}
	if changed {
		nw, resp, err := t.c.Issues.Update(ctx, t.owner, t.repo, n, req)
		if err != nil {
			return adapters.Issue{}, classify("update issue "+t.key(n), resp, err)
		}
		w = nw
	}
	if needComments {
		if cs, err = t.applyComments(ctx, n, cs, p); err != nil {
			return adapters.Issue{}, err
		}
	} else if cs, err = t.comments(ctx, n); err != nil {
		return adapters.Issue{}, err
	}
	return t.issue(w, cs), nil
}

func (t *Tracker) removeMilestone(ctx context.Context, n int) (*gh.Issue, error) {
	w, resp, err := t.c.Issues.RemoveMilestone(ctx, t.owner, t.repo, n)
	if err != nil {
		return nil, classify("remove the milestone of "+t.key(n), resp, err)
	}
	return w, nil
}

// applyComments adds and edits comments; an add whose SyncID the issue has
// edits that comment.
func (t *Tracker) applyComments(ctx context.Context, n int, cs []*gh.IssueComment, p adapters.Patch) ([]*gh.IssueComment, error) {
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
		up, resp, err := t.c.Issues.UpdateComment(ctx, t.owner, t.repo, cs[i].GetID(), gh.IssueCommentRequest{Body: nb})
		if err != nil {
			return classify(fmt.Sprintf("edit comment %d of %s", cs[i].GetID(), t.key(n)), resp, err)
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
		made, resp, err := t.c.Issues.CreateComment(ctx, t.owner, t.repo, n, gh.IssueCommentRequest{Body: commentBody(c)})
		if err != nil {
			return nil, classify("add a comment to "+t.key(n), resp, err)
		}
		cs = append(cs, made)
	}
	for _, c := range p.EditComments {
		i := find(c.ID, c.SyncID)
		if i < 0 {
			return nil, notFound("comment %q (sync ID %q) is not on %s", c.ID, c.SyncID, t.key(n))
		}
		if err := edit(i, c.Body); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// FindByTwin scans the repository's issues, newest first, for the marker.
func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	if textmark.Valid(twin) != nil {
		return adapters.Issue{}, notFound("no issue carries twin %q", twin)
	}
	opts := &gh.IssueListByRepoOptions{State: "all", Sort: "created", Direction: "desc", ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		ws, resp, err := t.c.Issues.ListByRepo(ctx, t.owner, t.repo, opts)
		if err != nil {
			return adapters.Issue{}, classify("list issues to find twin "+twin, resp, err)
		}
		for _, w := range ws {
			if w.IsPullRequest() || !strings.Contains(w.GetBody(), twin) {
				continue
			}
			if _, marks := textmark.Split(w.GetBody()); marks[textmark.Twin] == twin {
				return t.Get(ctx, t.key(w.GetNumber()))
			}
		}
		if resp.NextPage == 0 {
			return adapters.Issue{}, notFound("no issue of %s carries twin %q", t.Repo(), twin)
		}
		opts.ListOptions.Page = resp.NextPage
	}
}

// ---- change feed ----

func dateOf(resp *gh.Response) time.Time {
	if resp == nil || resp.Response == nil {
		return time.Time{}
	}
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return d
}

// Changes: see the package documentation.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	ic, cc, _ := strings.Cut(string(since), "|")
	if limit <= 0 {
		limit = 1000
	}
	fo := feed.Options{Settle: t.settle, PageSize: 100}
	issuePage := func(ctx context.Context, from time.Time, offset, size int) ([]*gh.Issue, time.Time, error) {
		opts := &gh.IssueListByRepoOptions{State: "all", Sort: "updated", Direction: "asc", ListOptions: gh.ListOptions{PerPage: size, Page: offset/size + 1}}
		if !from.IsZero() {
			opts.Since = from
		}
		ws, resp, err := t.c.Issues.ListByRepo(ctx, t.owner, t.repo, opts)
		if err != nil {
			return nil, time.Time{}, classify("list changed issues", resp, err)
		}
		return ws, dateOf(resp), nil
	}
	ws, nextI, err := feed.Changes(ctx, adapters.Cursor(ic), limit, fo, issuePage,
		func(w *gh.Issue) string { return strconv.Itoa(w.GetNumber()) },
		func(w *gh.Issue) time.Time { return w.GetUpdatedAt().Time })
	if err != nil {
		return nil, since, err
	}
	var out []adapters.Issue
	got := map[int]bool{}
	for _, w := range ws {
		if w.IsPullRequest() {
			continue
		}
		got[w.GetNumber()] = true
		out = append(out, t.issue(w, nil))
	}
	nextC := adapters.Cursor(cc)
	if len(ws) < limit {
		commentPage := func(ctx context.Context, from time.Time, offset, size int) ([]*gh.IssueComment, time.Time, error) {
			opts := &gh.IssueListCommentsOptions{Sort: new("updated"), Direction: new("asc"), ListOptions: gh.ListOptions{PerPage: size, Page: offset/size + 1}}
			if !from.IsZero() {
				opts.Since = &from
			}
			cs, resp, err := t.c.Issues.ListComments(ctx, t.owner, t.repo, 0, opts)
			if err != nil {
				return nil, time.Time{}, classify("list changed comments", resp, err)
			}
			return cs, dateOf(resp), nil
		}
		cs, nc, err := feed.Changes(ctx, adapters.Cursor(cc), limit-len(ws), fo, commentPage,
			func(c *gh.IssueComment) string { return strconv.FormatInt(c.GetID(), 10) },
			func(c *gh.IssueComment) time.Time { return c.GetUpdatedAt().Time })
		if err != nil {
			return nil, since, err
		}
		for _, c := range cs {
			u := c.GetIssueURL()
			n, err := strconv.Atoi(u[strings.LastIndexByte(u, '/')+1:])
			if err != nil || got[n] {
				continue
			}
			got[n] = true
			w, err := t.getWire(ctx, n)
			if errors.Is(err, adapters.ErrNotFound) {
				continue // a pull request's comment, or a deleted issue
			}
			if err != nil {
				return nil, since, err
			}
			out = append(out, t.issue(w, nil))
		}
		nextC = nc
	}
	next := adapters.Cursor(string(nextI) + "|" + string(nextC))
	if next == "|" {
		next = ""
	}
	return out, next, nil
}

// Verify reports whether sig (the X-Hub-Signature-256 header,
// "sha256=HEX") is the HMAC-SHA256 of body under secret.
func Verify(secret, body []byte, sig string) bool {
	return forge.Verify(secret, body, sig, "sha256=")
}
