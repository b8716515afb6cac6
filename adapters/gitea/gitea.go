// Package gitea is the issuemesh adapter of Gitea and Forgejo (one
// repository per node), on the Gitea SDK (code.gitea.io/sdk/gitea): it
// reads changes (step 1, trigger), reads issues for the outgoing rules and
// creates or updates them for the incoming ones (step 6, apply).
//
// # Why the SDK
//
// The SDK is Gitea's own, typed, kept in step with the server, and covers
// every endpoint used here (issues, comments, labels, milestones, issue
// attachments, settings, hooks). Two of its habits are worked around: it
// keeps one context per client, so each call gets a client of its own
// (cheap: no I/O, see api), and it reads answers without a bound, so its
// HTTP client's transport caps every answer body (limitBody). Below it
// runs the transport shared with GitHub (package forge). The SDK's errors
// are plain text, so errors.go classifies them by the HTTP status of the
// answer, never by their message.
//
// # Set-up
//
// tracker.url is Gitea's root URL (https://HOST/, without /api/v1),
// tracker.repo "owner/repo". The token (Settings, Applications; scopes
// write:issue and read:repository, plus write:repository for tracker check
// to list the webhooks) is read from the file named by tracker.token_file
// or the environment variable ISSUEMESH_GITEA_TOKEN, never from
// config.yaml.
//
// # Fields
//
// Key is "owner/repo#N" ("N" and "#N" are accepted). Pull requests are left
// out. Summary is the title, Description the body (line ends "\n").
// Status is "open" or "closed" (Gitea has nothing else; any other is
// rejected). Gitea has no priority: it is kept as a label "priority: NAME",
// NAME one of Options.Priorities (default low, medium, high, urgent), and
// such labels are not in Labels. Other labels are Labels; a label that the
// repository lacks is created (Gitea sets labels by ID). Extra["assignees"]
// is the assignees' logins, comma-separated and sorted; Extra["milestone"]
// the milestone's title ("" removes it; an unknown title is rejected);
// read only, Extra["references"] the keys of the issues its body mentions
// (#N, owner/repo#N, links to issues on this Gitea), comma-separated; a
// patch that sets it changes nothing.
// Assignee (the first assignee), Reporter, Due and the dependencies as
// relations are the fields of issue 16 (fields.go). Attachments are
// Gitea's own issue attachments (attach.go).
//
// # Markers
//
// The twin ID of an issue created by sync is a hidden HTML comment at the
// end of the body ("<!-- issuemesh:twin ID -->", which Gitea's Markdown
// renderer does not show), written in the create call itself, so a crash
// between create and link is recovered by FindByTwin, which scans the
// repository's issues newest first. Synced comments carry their author
// and global ID as in the GitHub adapter ("**Alice (partner) wrote:**",
// "<!-- issuemesh:comment ID -->"); Gitea has no private comments, so an
// internal comment is only marked ("<!-- issuemesh:internal -->").
//
// # Changes
//
// Changes polls GET /repos/O/R/issues?state=all&type=issues&since=T and
// GET /repos/O/R/issues/comments?since=T, because editing a comment does
// not change the issue's updated_at on Gitea: an issue whose comment
// changed is returned too (one GET per such issue). Gitea stamps to the
// second and lists issues newest created first, with no other order, so
// each poll reads every page changed since T and sorts them itself;
// package feed keeps the window exact, with an overlap of Options.Settle
// (default 5 s; Gitea's issue indexer, bleve by default, may lag a write a
// moment). The cursor is the two feeds' cursors joined by "|". Gitea sends
// no ETag on these listings and no rate-limit headers, so an unchanged
// poll costs two requests.
//
// # Webhooks
//
// With tracker.webhook set, a listener verifies Gitea's X-Gitea-Signature
// (HMAC-SHA256 of the body under the secret) and rings the node's
// doorbell; the payload is never applied (package forge). Polling goes on
// beside it, so a delivery Gitea never made loses nothing.
//
// # Not covered
//
// References as relations (they are text: extra.references), and the author of an
// attachment (Gitea names the token's user). A comment deleted on Gitea
// does not change the issue's updated_at and leaves the comments feed:
// polling sees it at the issue's next change; with a webhook, the
// comment's "deleted" delivery names the issue, which the next feed reads
// (package forge, Listener.Touched).
package gitea

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
	"github.com/issuemesh/issuemesh/adapters/internal/forge"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

// EnvToken is the environment variable read when no token file is given.
const EnvToken = "ISSUEMESH_GITEA_TOKEN"

// EnvWebhookSecret is read when tracker.webhook has no secret_file.
const EnvWebhookSecret = "ISSUEMESH_GITEA_WEBHOOK_SECRET"

// LoadToken reads the token from file or, when file is empty, from
// ISSUEMESH_GITEA_TOKEN. Errors name the config key tracker.token_file.
func LoadToken(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvToken, "tracker.token_file", log)
}

// LoadWebhookSecret reads the webhook secret from file or, when file is
// empty, from ISSUEMESH_GITEA_WEBHOOK_SECRET.
func LoadWebhookSecret(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvWebhookSecret, "tracker.webhook.secret_file", log)
}

// DefaultSettle is the feed's overlap for Gitea.
const DefaultSettle = 5 * time.Second

// PriorityPrefix starts the label that keeps an issue's priority.
const PriorityPrefix = "priority: "

// maxBody caps every answer Gitea gives (the SDK reads without a bound).
const maxBody = 32 << 20

// pageSize is what Gitea serves at most by default (MAX_RESPONSE_ITEMS).
const pageSize = 50

// internalMark is the marker kind of an internal comment.
const internalMark = "internal"

// Extra fields.
const (
	fieldAssignees  = "assignees"
	fieldMilestone  = "milestone"
	fieldReferences = "references" // read only
)

// Options configure New.
type Options struct {
	// URL is Gitea's root URL, e.g. https://gitea.example.com/.
	URL string
	// Token authenticates every request.
	Token string
	// Repo is "owner/repo".
	Repo string
	// Priorities are the valid priority names (default low, medium, high,
	// urgent).
	Priorities []string
	// Settle is the feed's overlap (default DefaultSettle).
	Settle time.Duration
	// HTTPClient's transport is wrapped; nil: a client with a 30 s timeout.
	HTTPClient *http.Client
	// WebhookListen, when set, is the address (host:port) of a listener
	// for Gitea's webhook deliveries, verified with WebhookSecret.
	WebhookListen, WebhookSecret string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Tracker is one Gitea repository seen as an adapters.Tracker. It is safe
// for concurrent use.
type Tracker struct {
	base        string // root URL without the trailing slash
	token       string
	hc          *http.Client
	tr          *forge.Transport
	owner, repo string
	priorities  []string
	settle      time.Duration
	log         *slog.Logger
	hook        *forge.Listener
	mentions    forge.Mentions

	mu      sync.Mutex
	digests map[int64]string // attachment ID -> SHA-256, of files without a marker
	warned  map[string]bool  // what was logged once (warnOnce)
}

var _ adapters.Tracker = (*Tracker)(nil)

// New returns the adapter. It does no I/O: Check verifies the set-up.
func New(opts Options) (*Tracker, error) {
	if opts.Token == "" {
		return nil, errors.New("gitea: no token given (tracker.token_file or " + EnvToken + ")")
	}
	u, err := url.Parse(strings.TrimSpace(opts.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitea: tracker.url %q: want Gitea's http:// or https:// root URL", opts.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("gitea: tracker.url %s carries credentials; put the token in tracker.token_file", u.Redacted())
	}
	base := strings.TrimSuffix(strings.TrimRight(u.String(), "/"), "/api/v1")
	owner, repo, ok := strings.Cut(strings.TrimSpace(opts.Repo), "/")
	if !ok || owner == "" || repo == "" || strings.ContainsAny(repo, "/ #") || strings.ContainsAny(owner, " #") {
		return nil, fmt.Errorf("gitea: tracker.repo %q: want owner/repo", opts.Repo)
	}
	c, err := forge.Common{Priorities: opts.Priorities, Settle: opts.Settle, HTTPClient: opts.HTTPClient,
		WebhookListen: opts.WebhookListen, WebhookSecret: opts.WebhookSecret, Logger: opts.Logger}.Resolve("gitea", owner+"/"+repo, DefaultSettle)
	if err != nil {
		return nil, err
	}
	log, hc := c.Logger, c.HTTPClient
	tr := forge.NewTransport(hc.Transport, 100)
	hc.Transport = limitBody{next: confirm401{next: tr, probe: base + "/api/v1/user", wait: time.Second}}
	return &Tracker{base: base, token: opts.Token, hc: hc, tr: tr, owner: owner, repo: repo, priorities: c.Priorities, settle: c.Settle, log: log,
		hook:     forge.NewListener(forge.Gitea(), opts.WebhookListen, opts.WebhookSecret, owner+"/"+repo, log),
		mentions: forge.NewMentions(base),
		digests:  map[int64]string{}}, nil
}

// limitBody caps answer bodies at maxBody: a longer one reads as an error.
type limitBody struct{ next http.RoundTripper }

func (l limitBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &capped{rc: resp.Body, left: maxBody}
	return resp, nil
}

type capped struct {
	rc   io.ReadCloser
	left int64
}

// errTooLarge: an answer over maxBody.
var errTooLarge = fmt.Errorf("gitea: an answer is over %d MiB: %w", maxBody>>20, adapters.ErrBadAnswer)

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

// api is an SDK client bound to ctx (the SDK keeps one context per client).
// It does no I/O: the version check is turned off.
func (t *Tracker) api(ctx context.Context) *sdk.Client {
	c, err := sdk.NewClient(t.base, sdk.SetHTTPClient(t.hc), sdk.SetToken(t.token), sdk.SetContext(ctx),
		sdk.SetGiteaVersion(""), sdk.SetUserAgent("issuemesh"))
	if err != nil { // only an option can fail, and none of these does
		panic("gitea: " + err.Error())
	}
	return c
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

// Repo is "owner/repo".
func (t *Tracker) Repo() string { return t.owner + "/" + t.repo }

// URL is Gitea's root URL.
func (t *Tracker) URL() string { return t.base }

func (t *Tracker) key(n int64) string { return t.Repo() + "#" + strconv.FormatInt(n, 10) }

// number parses a key.
func (t *Tracker) number(key string) (int64, error) {
	s := strings.TrimSpace(key)
	if r, n, ok := strings.Cut(s, "#"); ok {
		if r != "" && !strings.EqualFold(r, t.Repo()) {
			return 0, notFound("issue %q is not in repository %s", key, t.Repo())
		}
		s = n
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, notFound("%q is not an issue key (want %s#NUMBER)", key, t.Repo())
	}
	return n, nil
}

// ---- reading ----

func (t *Tracker) getWire(ctx context.Context, n int64) (*sdk.Issue, error) {
	is, resp, err := t.api(ctx).GetIssue(t.owner, t.repo, n)
	if err != nil {
		return nil, classify(ctx, "get issue "+t.key(n), resp, err)
	}
	if is.PullRequest != nil {
		return nil, notFound("%s is a pull request, which is not synced", t.key(n))
	}
	if is.Index == 0 {
		return nil, fmt.Errorf("gitea: get issue %s: the answer has no number: %w", t.key(n), adapters.ErrBadAnswer)
	}
	return is, nil
}

func (t *Tracker) comments(ctx context.Context, n int64) ([]*sdk.Comment, error) {
	var all []*sdk.Comment
	for page := 1; ; page++ {
		cs, resp, err := t.api(ctx).ListIssueComments(t.owner, t.repo, n, sdk.ListIssueCommentOptions{ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
		if err != nil {
			return nil, classify(ctx, "list the comments of "+t.key(n), resp, err)
		}
		all = append(all, cs...)
		if len(cs) < pageSize || resp.NextPage == 0 {
			return all, nil
		}
	}
}

// Get returns the issue with its comments and attachments.
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	n, err := t.number(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	return t.full(ctx, w)
}

// full is the issue w with its comments and attachments read.
func (t *Tracker) full(ctx context.Context, w *sdk.Issue) (adapters.Issue, error) {
	cs, err := t.comments(ctx, w.Index)
	if err != nil {
		return adapters.Issue{}, err
	}
	is := t.issue(w, cs)
	if is.Attachments, err = t.files(ctx, w); err != nil {
		return adapters.Issue{}, err
	}
	if is.Relations, err = t.relations(ctx, w.Index); err != nil {
		return adapters.Issue{}, err
	}
	return is, nil
}

func (t *Tracker) issue(w *sdk.Issue, cs []*sdk.Comment) adapters.Issue {
	body, marks := textmark.Split(w.Body)
	is := adapters.Issue{
		Key: t.key(w.Index), Summary: w.Title, Description: body, Status: string(w.State),
		Created: w.Created, Updated: w.Updated, TwinID: marks[textmark.Twin],
	}
	for _, l := range w.Labels {
		if p, ok := strings.CutPrefix(l.Name, PriorityPrefix); ok {
			if v, ok := t.priority(p); ok {
				is.Priority = v
				continue
			}
		}
		is.Labels = append(is.Labels, l.Name)
	}
	slices.Sort(is.Labels)
	extra := map[string]string{}
	var logins []string
	for _, a := range w.Assignees {
		logins = append(logins, a.UserName)
	}
	if len(logins) > 0 {
		slices.Sort(logins)
		extra[fieldAssignees] = strings.Join(logins, ",")
	}
	if w.Milestone != nil {
		extra[fieldMilestone] = w.Milestone.Title
	}
	if refs := t.mentions.Keys(t.owner, t.repo, int(w.Index), body); refs != "" {
		extra[fieldReferences] = refs
	}
	if len(extra) > 0 {
		is.Extra = extra
	}
	fillFields(&is, w) // fields.go
	for _, c := range cs {
		is.Comments = append(is.Comments, commentOf(c))
		if c.Updated.After(is.Updated) {
			is.Updated = c.Updated
		}
	}
	return is
}

func commentOf(c *sdk.Comment) adapters.Comment {
	body, marks := textmark.Split(c.Body)
	out := adapters.Comment{ID: strconv.FormatInt(c.ID, 10), Created: c.Created, Updated: c.Updated}
	if c.Poster != nil {
		out.Author = c.Poster.UserName
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
	b := textmark.Normalize(c.Body)
	if c.SyncID != "" {
		b = textmark.Add(textmark.Hidden, textmark.WithAuthor(textmark.Hidden, c.Author, b), textmark.Comment, c.SyncID)
	}
	if c.Internal {
		b = textmark.Add(textmark.Hidden, b, internalMark, "")
	}
	return b
}

// ---- statuses, priorities, labels ----

func stateOf(s string) (sdk.StateType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "open":
		return sdk.StateOpen, nil
	case "closed":
		return sdk.StateClosed, nil
	}
	return "", rejected("status %q is not one Gitea has; valid: open, closed (map others in the connection's status map)", s)
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
		return "", rejected("priority %q is not one of %s (Gitea keeps priorities as %q labels)", p, strings.Join(t.priorities, ", "), PriorityPrefix+"NAME")
	}
	return PriorityPrefix + v, nil
}

// labelIDs resolves label names to the repository's label IDs, creating
// the labels it lacks.
func (t *Tracker) labelIDs(ctx context.Context, names []string) ([]int64, error) {
	if len(names) == 0 {
		return []int64{}, nil
	}
	have := map[string]int64{}
	for page := 1; ; page++ {
		ls, resp, err := t.api(ctx).ListRepoLabels(t.owner, t.repo, sdk.ListLabelsOptions{ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
		if err != nil {
			return nil, classify(ctx, "list the labels of "+t.Repo(), resp, err)
		}
		for _, l := range ls {
			have[l.Name] = l.ID
		}
		if len(ls) < pageSize || resp.NextPage == 0 {
			break
		}
	}
	var ids []int64
	for _, n := range names {
		if id, ok := have[n]; ok {
			ids = append(ids, id)
			continue
		}
		if strings.TrimSpace(n) == "" {
			return nil, rejected("a label's name is blank")
		}
		color := "#c0c0c0"
		if strings.HasPrefix(n, PriorityPrefix) {
			color = "#e11d21"
		}
		l, resp, err := t.api(ctx).CreateLabel(t.owner, t.repo, sdk.CreateLabelOption{Name: n, Color: color, Description: "created by issuemesh"})
		if err != nil {
			return nil, classify(ctx, fmt.Sprintf("create label %q in %s", n, t.Repo()), resp, err)
		}
		have[n] = l.ID
		ids = append(ids, l.ID)
	}
	return ids, nil
}

// allLabels is the label names that keep labels and prio.
func allLabels(labels []string, prio string) []string {
	all := slices.Clone(labels)
	if prio != "" {
		all = append(all, prio)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// ---- writing ----

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

func dueDate(v string) (*time.Time, error) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
	if err != nil {
		return nil, rejected("due date %q is not a date YYYY-MM-DD", v)
	}
	return &d, nil
}

func checkExtra(extra map[string]string) error {
	for k := range extra {
		switch k {
		case fieldAssignees, fieldMilestone, fieldReferences:
		default:
			return rejected("field %q: Gitea issues have only assignees and milestone besides the standard fields (references is read only; the due date is the issue's Due)", k)
		}
	}
	return nil
}

// Create creates the issue with its twin marker, labels, assignees,
// milestone, due date and state in one call, then its comments.
func (t *Tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	if strings.TrimSpace(in.Summary) == "" {
		return adapters.Issue{}, rejected("an issue needs a title (the summary is blank)")
	}
	if err := checkExtra(in.Extra); err != nil {
		return adapters.Issue{}, err
	}
	req := sdk.CreateIssueOption{Title: in.Summary}
	if in.Status != "" {
		st, err := stateOf(in.Status)
		if err != nil {
			return adapters.Issue{}, err
		}
		req.Closed = st == sdk.StateClosed
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
	req.Body = body
	if a := in.Extra[fieldAssignees]; a != "" {
		req.Assignees = splitList(a)
	}
	if m := in.Extra[fieldMilestone]; m != "" {
		id, err := t.milestone(ctx, m)
		if err != nil {
			return adapters.Issue{}, err
		}
		req.Milestone = id
	}
	if err := t.createFields(in, &req); err != nil { // fields.go
		return adapters.Issue{}, err
	}
	ids, err := t.labelIDs(ctx, allLabels(in.Labels, prio))
	if err != nil {
		return adapters.Issue{}, err
	}
	req.Labels = ids
	w, resp, err := t.api(ctx).CreateIssue(t.owner, t.repo, req)
	if err != nil {
		return adapters.Issue{}, classify(ctx, "create an issue in "+t.Repo(), resp, err)
	}
	var cs []*sdk.Comment
	for _, c := range in.Comments {
		made, resp, err := t.api(ctx).CreateIssueComment(t.owner, t.repo, w.Index, sdk.CreateIssueCommentOption{Body: commentBody(c)})
		if err != nil {
			return adapters.Issue{}, classify(ctx, "add a comment to new issue "+t.key(w.Index), resp, err)
		}
		cs = append(cs, made)
	}
	is := t.issue(w, cs)
	if len(in.Relations) > 0 {
		if _, err := t.applyRelations(ctx, w.Index, nil, adapters.Patch{AddRelations: in.Relations}); err != nil {
			return adapters.Issue{}, err
		}
		if is.Relations, err = t.relations(ctx, w.Index); err != nil {
			return adapters.Issue{}, err
		}
	}
	return is, nil
}

// milestone finds an open or closed milestone by title.
func (t *Tracker) milestone(ctx context.Context, title string) (int64, error) {
	var titles []string
	for page := 1; ; page++ {
		ms, resp, err := t.api(ctx).ListRepoMilestones(t.owner, t.repo, sdk.ListMilestoneOption{State: sdk.StateAll, ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
		if err != nil {
			return 0, classify(ctx, "list the milestones of "+t.Repo(), resp, err)
		}
		for _, m := range ms {
			if m.Title == title {
				return m.ID, nil
			}
			titles = append(titles, m.Title)
		}
		if len(ms) < pageSize || resp.NextPage == 0 {
			break
		}
	}
	return 0, rejected("milestone %q does not exist in %s (it has: %s)", title, t.Repo(), strings.Join(titles, ", "))
}

// Update reads the issue (and its comments), then sends one PATCH with
// every changed field, the labels' PUT when they changed, then the comment
// calls.
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
	cur := t.issue(w, nil)
	var req sdk.EditIssueOption
	changed := false
	if p.Summary != nil && *p.Summary != cur.Summary {
		if strings.TrimSpace(*p.Summary) == "" {
			return adapters.Issue{}, rejected("an issue needs a title (the summary is blank)")
		}
		req.Title, changed = *p.Summary, true
	}
	if p.Status != nil {
		st, err := stateOf(*p.Status)
		if err != nil {
			return adapters.Issue{}, err
		}
		if string(st) != cur.Status {
			req.State, changed = &st, true
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
		b := t.withFiles(w.Body, desc, twin)
		req.Body, changed = &b, true
	}
	var newLabels []string
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
		oldPrio := ""
		if cur.Priority != "" {
			oldPrio = PriorityPrefix + cur.Priority
		}
		if all := allLabels(labels, prio); !slices.Equal(all, allLabels(cur.Labels, oldPrio)) {
			newLabels = all
			if newLabels == nil {
				newLabels = []string{}
			}
		}
	}
	for k, v := range p.Extra {
		if v == cur.Extra[k] {
			continue
		}
		switch k {
		case fieldAssignees:
			req.Assignees, changed = splitList(v), true
			if req.Assignees == nil {
				req.Assignees = []string{}
			}
		case fieldMilestone:
			var id int64 // 0 removes the milestone
			if v != "" {
				if id, err = t.milestone(ctx, v); err != nil {
					return adapters.Issue{}, err
				}
			}
			req.Milestone, changed = &id, true
		}
	}
	fc, err := t.updateFields(w, cur, p, &req) // fields.go
	if err != nil {
		return adapters.Issue{}, err
	}
	changed = changed || fc
	var rels []adapters.Relation
	if len(p.AddRelations) > 0 || len(p.RemoveRelations) > 0 {
		if rels, err = t.relations(ctx, n); err != nil {
			return adapters.Issue{}, err
		}
		if _, err := t.applyRelations(ctx, n, rels, p); err != nil {
			return adapters.Issue{}, err
		}
	}
	cs, err := t.comments(ctx, n)
	if err != nil {
		return adapters.Issue{}, err
	}
	if cs, err = t.deleteComments(ctx, n, cs, p.DeleteComments); err != nil {
		return adapters.Issue{}, err
	}
	if newLabels != nil {
		ids, err := t.labelIDs(ctx, newLabels)
		if err != nil {
			return adapters.Issue{}, err
		}
		if _, resp, err := t.api(ctx).ReplaceIssueLabels(t.owner, t.repo, n, sdk.IssueLabelsOption{Labels: ids}); err != nil {
			return adapters.Issue{}, classify(ctx, "set the labels of "+t.key(n), resp, err)
		}
		if !changed { // the PATCH below answers the issue with its labels
			if w, err = t.getWire(ctx, n); err != nil {
				return adapters.Issue{}, err
			}
		}
	}
	if changed {
		nw, resp, err := t.api(ctx).EditIssue(t.owner, t.repo, n, req)
		if err != nil {
			return adapters.Issue{}, classify(ctx, "update issue "+t.key(n), resp, err)
		}
		w = nw
	}
	if cs, err = t.applyComments(ctx, n, cs, p); err != nil {
		return adapters.Issue{}, err
	}
	is := t.issue(w, cs)
	if is.Attachments, err = t.files(ctx, w); err != nil {
		return adapters.Issue{}, err
	}
	if is.Relations, err = t.relations(ctx, n); err != nil {
		return adapters.Issue{}, err
	}
	return is, nil
}

// applyComments adds and edits comments; an add whose SyncID the issue has
// edits that comment.
func (t *Tracker) applyComments(ctx context.Context, n int64, cs []*sdk.Comment, p adapters.Patch) ([]*sdk.Comment, error) {
	find := func(id, sync string) int {
		for i, c := range cs {
			if id != "" && strconv.FormatInt(c.ID, 10) == id {
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
		if old.Body == textmark.Normalize(body) {
			return nil
		}
		old.Body = body
		up, resp, err := t.api(ctx).EditIssueComment(t.owner, t.repo, cs[i].ID, sdk.EditIssueCommentOption{Body: commentBody(old)})
		if err != nil {
			return classify(ctx, fmt.Sprintf("edit comment %d of %s", cs[i].ID, t.key(n)), resp, err)
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
		made, resp, err := t.api(ctx).CreateIssueComment(t.owner, t.repo, n, sdk.CreateIssueCommentOption{Body: commentBody(c)})
		if err != nil {
			return nil, classify(ctx, "add a comment to "+t.key(n), resp, err)
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
	for page := 1; ; page++ {
		ws, resp, err := t.api(ctx).ListRepoIssues(t.owner, t.repo, sdk.ListIssueOption{State: sdk.StateAll, Type: sdk.IssueTypeIssue, ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
		if err != nil {
			return adapters.Issue{}, classify(ctx, "list issues to find twin "+twin, resp, err)
		}
		for _, w := range ws {
			if w.PullRequest != nil || !strings.Contains(w.Body, twin) {
				continue
			}
			if _, marks := textmark.Split(w.Body); marks[textmark.Twin] == twin {
				return t.full(ctx, w)
			}
		}
		if len(ws) < pageSize || resp.NextPage == 0 {
			return adapters.Issue{}, notFound("no issue of %s carries twin %q", t.Repo(), twin)
		}
	}
}

// ---- change feed ----

func dateOf(resp *sdk.Response) time.Time {
	if resp == nil {
		return time.Time{}
	}
	return forge.DateOf(resp.Response)
}

// sortedFeed is a listing that Gitea cannot sort by update: read all of it
// since a time once, sorted by update stamp then key, and served to
// feed.Changes page by page.
type sortedFeed[T any] struct {
	list    func(ctx context.Context, since time.Time, page int) ([]T, *sdk.Response, error)
	key     func(T) string
	updated func(T) time.Time

	read  bool
	from  time.Time
	items []T
	date  time.Time
}

func (f *sortedFeed[T]) page(ctx context.Context, since time.Time, offset, limit int) ([]T, time.Time, error) {
	if !f.read || since.Before(f.from) {
		f.items, f.from, f.read = nil, since, true
		seen := map[string]bool{}
		for page := 1; ; page++ {
			items, resp, err := f.list(ctx, since, page)
			if err != nil {
				return nil, time.Time{}, err
			}
			if page == 1 {
				f.date = dateOf(resp)
			}
			for _, it := range items {
				if k := f.key(it); !seen[k] { // an item changed between pages shows twice
					seen[k] = true
					f.items = append(f.items, it)
				}
			}
			if len(items) < pageSize || resp.NextPage == 0 {
				break
			}
		}
		slices.SortFunc(f.items, func(a, b T) int {
			if c := f.updated(a).Compare(f.updated(b)); c != 0 {
				return c
			}
			return strings.Compare(f.key(a), f.key(b))
		})
	}
	var rest []T
	for _, it := range f.items {
		if !f.updated(it).Before(since) {
			rest = append(rest, it)
		}
	}
	if offset >= len(rest) {
		return nil, f.date, nil
	}
	return rest[offset:min(len(rest), offset+limit)], f.date, nil
}

// Changes: see the package documentation.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	ic, cc, _ := strings.Cut(string(since), "|")
	if limit <= 0 {
		limit = 1000
	}
	fo := feed.Options{Settle: t.settle, PageSize: pageSize}
	issues := &sortedFeed[*sdk.Issue]{
		list: func(ctx context.Context, from time.Time, page int) ([]*sdk.Issue, *sdk.Response, error) {
			ws, resp, err := t.api(ctx).ListRepoIssues(t.owner, t.repo, sdk.ListIssueOption{State: sdk.StateAll, Type: sdk.IssueTypeIssue, Since: from, ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
			return ws, resp, classify(ctx, "list changed issues", resp, err)
		},
		key:     func(w *sdk.Issue) string { return strconv.FormatInt(w.Index, 10) },
		updated: func(w *sdk.Issue) time.Time { return w.Updated },
	}
	ws, nextI, err := feed.Changes(ctx, adapters.Cursor(ic), limit, fo, issues.page, issues.key, issues.updated)
	if err != nil {
		return nil, since, err
	}
	var out []adapters.Issue
	got := map[int64]bool{}
	for _, w := range ws {
		if w.PullRequest != nil {
			continue
		}
		got[w.Index] = true
		out = append(out, t.issue(w, nil))
	}
	nextC := adapters.Cursor(cc)
	if len(ws) < limit {
		comments := &sortedFeed[*sdk.Comment]{
			list: func(ctx context.Context, from time.Time, page int) ([]*sdk.Comment, *sdk.Response, error) {
				cs, resp, err := t.api(ctx).ListRepoIssueComments(t.owner, t.repo, sdk.ListIssueCommentOptions{Since: from, ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
				return cs, resp, classify(ctx, "list changed comments", resp, err)
			},
			key:     func(c *sdk.Comment) string { return strconv.FormatInt(c.ID, 10) },
			updated: func(c *sdk.Comment) time.Time { return c.Updated },
		}
		cs, nc, err := feed.Changes(ctx, adapters.Cursor(cc), limit-len(ws), fo, comments.page, comments.key, comments.updated)
		if err != nil {
			return nil, since, err
		}
		for _, c := range cs {
			u := c.IssueURL
			n, err := strconv.ParseInt(u[strings.LastIndexByte(u, '/')+1:], 10, 64)
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
		more, err := t.touched(ctx, got)
		if err != nil {
			return nil, since, err
		}
		out = append(out, more...)
	}
	next := adapters.Cursor(string(nextI) + "|" + string(nextC))
	if next == "|" {
		next = ""
	}
	return out, next, nil
}

// touched reads the issues that webhook deliveries named since the last
// feed and that the feed did not return (got): a deleted comment changes
// nothing the feed lists. A deleted issue or a pull request is left out.
func (t *Tracker) touched(ctx context.Context, got map[int64]bool) ([]adapters.Issue, error) {
	ns := t.hook.Touched(t.Repo())
	var out []adapters.Issue
	for _, n := range ns {
		if got[n] {
			continue
		}
		got[n] = true
		w, err := t.getWire(ctx, n)
		if errors.Is(err, adapters.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t.issue(w, nil))
	}
	t.hook.Read(t.Repo(), ns)
	return out, nil
}
