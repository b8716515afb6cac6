// Package jira is the issuemesh adapter of Jira Cloud (REST API v3, rich
// text in Atlassian Document Format) and Jira Data Center / Server (REST
// API v2, wiki markup), one project per node: it reads changes (step 1,
// trigger), reads issues for the outgoing rules and creates or updates
// them for the incoming ones (step 6, apply).
//
// # Why a client of our own
//
// The usual Go client, andygrunwald/go-jira, is refused by the module
// proxy here, and the other Go clients are thin or unmaintained. The
// endpoints used are few (issue, transitions, comment, attachments, issue
// properties, search, priority, project statuses, myself, mypermissions),
// so this package is a small typed client over the shared REST layer
// (adapters/internal/rest: timeouts, the request budget, retries with
// backoff and jitter, Retry-After, error classes).
//
// # Set-up
//
// tracker.url is the site's root URL (https://SITE.atlassian.net/ or the
// Data Center base URL), tracker.project the project key. Cloud: an API
// token (id.atlassian.com, Security, API tokens) with tracker.email, sent
// as HTTP Basic, from tracker.token_file or ISSUEMESH_JIRA_TOKEN. Data
// Center: a personal access token (Profile, Personal Access Tokens), sent
// as a Bearer token, from tracker.pat_file or ISSUEMESH_JIRA_PAT. With an
// email the adapter speaks v3 (Cloud); without, v2 (Data Center).
//
// # Fields
//
// Key is Jira's ("PROJ-12"). Summary and Description as Jira has them;
// Cloud descriptions and comments are converted from and to ADF (adf.go),
// Data Center's from and to wiki markup (wiki.go). Status is the status
// name, set through workflow transitions (transition.go). Priority is the
// priority name (checked against GET /priority), Labels Jira's labels.
// Comments carry a comment property "issuemesh" with a synced comment's
// global ID and author (the author is also shown as the comment's first
// line, "Alice wrote:"); an internal comment gets the Service Management
// property sd.public.comment {"internal": true} and, when
// Options.InternalRole is set, a visibility restricted to that role (on a
// project that is not a service desk only the role keeps it from others).
// Attachments are Jira's (attach.go).
//
// Type, assignee and reporter, due date, components, fix versions,
// custom fields by name (GET /field, read once), issue links, parents and
// sub-tasks, and comment and file deletes are mapped as fields.go says;
// watchers and a start date are not (lacks.go).
//
// # Markers
//
// The twin ID is kept in the issue property "issuemesh" ({"twin": ID}),
// written in the create call itself (the create body's "properties"), so a
// crash between create and link is recovered by FindByTwin. FindByTwin
// asks JQL (issue.property[issuemesh].twin = "ID"), which answers where an
// app indexes the property, and otherwise scans the project's issues,
// newest updated first, reading the property from the search results.
//
// # Changes
//
// Changes runs JQL `project = KEY AND updated >= "yyyy/MM/dd HH:mm" ORDER
// BY updated ASC, key ASC` on POST /rest/api/3/search/jql, paged by
// nextPageToken (Data Center: POST /rest/api/2/search, paged by startAt).
// JQL dates have minute resolution and are read in the time zone of the
// token's user (GET /myself), so the query starts at the minute of the
// cursor, in that zone, and package feed drops what was already returned
// (the exact stamps come with each issue, to the millisecond). Jira's
// search is eventually consistent: an issue just changed may show up late.
// So every Options.Reconcile (default 15 min) a pass reads the issues
// updated in the last Options.ReconcileWindow (default 24 h) and returns
// those whose stamp differs from the one last returned.
//
// # Rate limits
//
// Options.RequestsPerMinute (tracker.requests_per_minute, default 600) is
// the node's budget. 429 and 503 answers are retried after Retry-After
// (rest), with backoff and jitter otherwise; X-RateLimit-Remaining and
// X-RateLimit-Reset (and Cloud's RateLimit-Reason) are recorded and shown
// by tracker check.
//
// # Webhooks
//
// None: polling is the main path, and the only one. Jira Cloud registers
// a webhook through the REST API only for an app (Connect or OAuth 2.0,
// POST /rest/api/3/webhook), not for the API token of a user; such a
// webhook expires after 30 days unless refreshed
// (PUT /rest/api/3/webhook/refresh), and Jira must reach the node over the
// internet, which a node behind NAT (the common case, see p2p) is not. An
// admin-made webhook (System, WebHooks) needs no app but carries no
// secret to verify a delivery by. A node with a reachable address and an
// app would gain latency only: the poll (one search request when nothing
// changed) stays, because a delivery can be lost.
//
// # Tests
//
// The tests run against a stateful in-process fake (jirafake) written
// from Atlassian's REST reference, with each endpoint's documentation URL
// beside it. Atlassian publishes its machine-readable description
// (swagger-v3.v3.json) on its developer site, which is out of reach here,
// and it is not on the npm registry, the one registry of such documents
// reachable here: searched (December 2026) were jira.js 6.2.0 (7,929 files
// of TypeScript, no JSON or YAML description), @atlassian/atlassian-openapi
// 1.0.6 (a library for the format, no Jira description), and the names
// jira-openapi, @atlassian/jira-openapi and @salto-io/jira-adapter (none
// exists). So requests and answers are not validated against a schema as
// the GitHub fake's are; instead example bodies of Atlassian's reference
// are kept in testdata/, each with its source, read through the adapter's
// wire types (TestDocExamples), and the fake's answers are checked to have
// their shape: every key they show, with the same JSON type
// (jirafake.TestFakeFollowsReference). With ISSUEMESH_JIRA_URL, _EMAIL,
// _TOKEN and _PROJECT set, the contract suite also runs against that real
// Jira.
package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

// Environment variables read when no credential file is given.
const (
	EnvToken = "ISSUEMESH_JIRA_TOKEN"
	EnvPAT   = "ISSUEMESH_JIRA_PAT"
)

// LoadToken reads the Cloud API token from file or ISSUEMESH_JIRA_TOKEN.
func LoadToken(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvToken, "tracker.token_file", log)
}

// LoadPAT reads the Data Center personal access token from file or
// ISSUEMESH_JIRA_PAT.
func LoadPAT(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvPAT, "tracker.pat_file", log)
}

// Options configure the adapter.
type Options struct {
	URL     string
	Project string
	// Email and Token: Jira Cloud. PAT: Data Center (when Email is empty).
	Email, Token, PAT string
	// IssueType of new issues (default "Task").
	IssueType string
	// InternalRole, when set, restricts internal comments to that project
	// role.
	InternalRole string
	// RequestsPerMinute is the request budget (default 600).
	RequestsPerMinute int
	// Settle is the feed's overlap (default 5 s; see package feed).
	Settle time.Duration
	// Reconcile is how often the reconciliation pass runs (default 15 min;
	// negative: never); ReconcileWindow how far back it looks (24 h).
	Reconcile, ReconcileWindow time.Duration
	HTTPClient                 *http.Client
	Logger                     *slog.Logger
}

// Tracker is one Jira project.
type Tracker struct {
	opts  Options
	cloud bool
	api   string // "/rest/api/3" or "/rest/api/2"
	c     *rest.Client
	log   *slog.Logger
	rate  *rateNote

	mu         sync.Mutex
	loc        *time.Location // the user's time zone
	statuses   []string       // the project's, any issue type
	prios      []string
	graph      map[string]map[string]bool // status -> statuses one transition away, as seen
	digests    map[string]string          // attachment ID -> SHA-256 of files read here
	content    map[string]string          // attachment ID -> content URL
	returned   map[string]time.Time       // key -> stamp last returned by Changes
	lastRecon  time.Time
	fields     []fieldDef           // the fields that map (GET /field), nil until read
	types      []string             // the project's issue types, nil until read
	read       int                  // issues Changes returned since the adapter opened
	reporterOK *bool                // MODIFY_REPORTER, nil until asked
	users      map[string]*wireUser // person -> Jira user (nil: none), as found
	warned     map[string]bool
}

// New opens the adapter; it makes no request.
func New(o Options) (*Tracker, error) {
	if !regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`).MatchString(o.Project) {
		return nil, fmt.Errorf("tracker.project: %q is not a Jira project key (capital letters and digits, e.g. PROJ)", o.Project)
	}
	h := http.Header{}
	cloud := o.Email != ""
	switch {
	case cloud && o.Token != "":
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.Email+":"+o.Token)))
	case !cloud && o.PAT != "":
		h.Set("Authorization", "Bearer "+o.PAT)
	case cloud:
		return nil, errors.New("jira: tracker.email is set but no API token is given (tracker.token_file or ISSUEMESH_JIRA_TOKEN)")
	default:
		return nil, errors.New("jira: give tracker.email with an API token (Cloud) or a personal access token (Data Center, tracker.pat_file)")
	}
	// Attachments are multipart uploads, which Jira accepts only with this
	// header (its XSRF check); it does nothing on other requests.
	h.Set("X-Atlassian-Token", "no-check")
	if o.IssueType == "" {
		o.IssueType = "Task"
	}
	if o.RequestsPerMinute <= 0 {
		o.RequestsPerMinute = 600
	}
	if o.Reconcile == 0 {
		o.Reconcile = 15 * time.Minute
	}
	if o.ReconcileWindow <= 0 {
		o.ReconcileWindow = 24 * time.Hour
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	rn := &rateNote{}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc2 := *hc
	hc2.Transport = rateTransport{next: next, note: rn}
	burst := max(1, o.RequestsPerMinute/60)
	c, err := rest.New(rest.Options{BaseURL: o.URL, Name: "Jira", Header: h, HTTPClient: &hc2, Logger: log,
		Rate: float64(o.RequestsPerMinute) / 60, Burst: burst, ErrorMessage: errorMessage})
	if err != nil {
		return nil, fmt.Errorf("tracker.url: %w", err)
	}
	t := &Tracker{opts: o, cloud: cloud, api: "/rest/api/2", c: c, log: log, rate: rn,
		graph: map[string]map[string]bool{}, digests: map[string]string{}, content: map[string]string{}, returned: map[string]time.Time{},
		users: map[string]*wireUser{}, warned: map[string]bool{}}
	if cloud {
		t.api = "/rest/api/3"
	}
	return t, nil
}

// Close releases idle connections.
func (t *Tracker) Close() error { t.c.Close(); return nil }

// Cloud reports whether the adapter speaks Jira Cloud's v3 API.
func (t *Tracker) Cloud() bool { return t.cloud }

// errorMessage reads Jira's error body: {"errorMessages": [...],
// "errors": {"field": "message"}}.
// https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#status-codes
func errorMessage(b []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
		Message       string            `json:"message"`
	}
	if jsonUnmarshal(b, &e) != nil {
		return strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	msgs := slices.Clone(e.ErrorMessages)
	var ks []string
	for k := range e.Errors {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	for _, k := range ks {
		msgs = append(msgs, k+": "+e.Errors[k])
	}
	if e.Message != "" {
		msgs = append(msgs, e.Message)
	}
	return strings.Join(msgs, "; ")
}

// wire types (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get)

type named struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type wireIssue struct {
	ID         string         `json:"id"`
	Key        string         `json:"key"`
	Fields     wireFields     `json:"fields"`
	Properties map[string]any `json:"properties,omitempty"`
}

type wireFields struct {
	Summary     string           `json:"summary"`
	Description rawText          `json:"description"`
	Status      *named           `json:"status"`
	Priority    *named           `json:"priority"`
	Labels      []string         `json:"labels"`
	Created     jiraTime         `json:"created"`
	Updated     jiraTime         `json:"updated"`
	Attachment  []wireAttachment `json:"attachment"`
	IssueType   *wireType        `json:"issuetype"`
	Assignee    *wireUser        `json:"assignee"`
	Reporter    *wireUser        `json:"reporter"`
	DueDate     string           `json:"duedate"`
	IssueLinks  []wireLink       `json:"issuelinks"`
	Parent      *wireRef         `json:"parent"`
	Subtasks    []wireRef        `json:"subtasks"`
	// Raw holds every field as sent, for the custom fields and the
	// system fields read by name (fields.go).
	Raw map[string]json.RawMessage `json:"-"`
}

func (f *wireFields) UnmarshalJSON(b []byte) error {
	type plain wireFields
	if err := json.Unmarshal(b, (*plain)(f)); err != nil {
		return err
	}
	return json.Unmarshal(b, &f.Raw)
}

type wireComment struct {
	ID         string         `json:"id"`
	Body       rawText        `json:"body"`
	Author     *wireUser      `json:"author"`
	Created    jiraTime       `json:"created"`
	Updated    jiraTime       `json:"updated"`
	Visibility map[string]any `json:"visibility,omitempty"`
	Properties []property     `json:"properties,omitempty"`
}

type wireUser struct {
	AccountID    string `json:"accountId,omitempty"`
	Name         string `json:"name,omitempty"`
	EmailAddress string `json:"emailAddress,omitempty"`
	DisplayName  string `json:"displayName"`
	TimeZone     string `json:"timeZone"`
}

type property struct {
	Key   string         `json:"key"`
	Value map[string]any `json:"value"`
}

// marker is the issue property "issuemesh".
type marker struct {
	Twin  string               `json:"twin,omitempty"`
	Files map[string][2]string `json:"files,omitempty"` // attachment ID -> [sha256, sync ID]
}

const propKey = "issuemesh"

// jiraTime reads Jira's "2026-12-04T02:03:27.123+0000".
type jiraTime struct{ time.Time }

func (j *jiraTime) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil || s == "" {
		return nil
	}
	for _, l := range []string{"2006-01-02T15:04:05.000-0700", time.RFC3339Nano, "2006-01-02T15:04:05-0700"} {
		if tm, err := time.Parse(l, s); err == nil {
			j.Time = tm
			return nil
		}
	}
	return fmt.Errorf("jira: %q is not a Jira time", s)
}

// rawText is a description or comment body: an ADF document (Cloud) or a
// string (Data Center).
type rawText struct {
	Text string
}

func (r *rawText) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var w string
		if err := jsonUnmarshal(b, &w); err != nil {
			return err
		}
		r.Text = fromWiki(w)
		return nil
	}
	var d adfNode
	if err := jsonUnmarshal(b, &d); err != nil {
		return err
	}
	r.Text = fromADF(&d)
	return nil
}

// body is the wire form of text for this Jira.
func (t *Tracker) body(text string) any {
	if t.cloud {
		if text == "" {
			return nil
		}
		return toADF(text)
	}
	return toWiki(text)
}

var keyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]+-[1-9][0-9]*$`)

func (t *Tracker) checkKey(key string) error {
	if !keyRE.MatchString(key) || !strings.HasPrefix(key, t.opts.Project+"-") {
		return fmt.Errorf("jira: %q is not an issue key of project %s: %w", key, t.opts.Project, adapters.ErrNotFound)
	}
	return nil
}

const issueFields = "summary,description,status,priority,labels,created,updated,attachment,issuetype,assignee,reporter,duedate,issuelinks,parent,subtasks"

func (t *Tracker) getWire(ctx context.Context, key string) (wireIssue, error) {
	var w wireIssue
	fields, err := t.fieldList(ctx)
	if err != nil {
		return w, err
	}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get
	_, err = t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/issue/" + url.PathEscape(key),
		Query: url.Values{"fields": {fieldsParam(fields)}, "properties": {propKey}}}, &w)
	if err != nil {
		return w, fmt.Errorf("jira: read %s: %w", key, err)
	}
	return w, nil
}

// fieldsParam is the fields query parameter of GET /issue: the list,
// or, on a site with so many custom fields that the list would make the
// URL too long for some proxies, every field but the comments and the
// work log (Jira's "*all,-comment,-worklog").
func fieldsParam(fields []string) string {
	if l := strings.Join(fields, ","); len(l) <= 2000 {
		return l
	}
	return "*all,-comment,-worklog"
}

func (t *Tracker) comments(ctx context.Context, key string) ([]wireComment, error) {
	var all []wireComment
	for start := 0; ; {
		var page struct {
			Comments   []wireComment `json:"comments"`
			Total      int           `json:"total"`
			MaxResults int           `json:"maxResults"`
		}
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-get
		_, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/issue/" + url.PathEscape(key) + "/comment",
			Query: url.Values{"expand": {"properties"}, "startAt": {strconv.Itoa(start)}, "maxResults": {"100"}, "orderBy": {"created"}}}, &page)
		if err != nil {
			return nil, fmt.Errorf("jira: read the comments of %s: %w", key, err)
		}
		all = append(all, page.Comments...)
		start += len(page.Comments)
		if len(page.Comments) == 0 || start >= page.Total {
			return all, nil
		}
	}
}

// Get returns the issue with that key.
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	if err := t.checkKey(key); err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, key)
	if err != nil {
		return adapters.Issue{}, err
	}
	return t.full(ctx, w)
}

func (t *Tracker) full(ctx context.Context, w wireIssue) (adapters.Issue, error) {
	cs, err := t.comments(ctx, w.Key)
	if err != nil {
		return adapters.Issue{}, err
	}
	is := t.issue(w)
	for _, c := range cs {
		is.Comments = append(is.Comments, commentOf(c))
	}
	if err := t.epicChildren(ctx, w, &is); err != nil {
		return adapters.Issue{}, err
	}
	return is, nil
}

func markerOf(w wireIssue) marker {
	var m marker
	if v, ok := w.Properties[propKey]; ok {
		b, _ := jsonMarshal(v)
		_ = jsonUnmarshal(b, &m)
	}
	return m
}

func (t *Tracker) issue(w wireIssue) adapters.Issue {
	m := markerOf(w)
	is := adapters.Issue{Key: w.Key, Summary: w.Fields.Summary, Description: textmark.Normalize(w.Fields.Description.Text),
		Labels: w.Fields.Labels, Created: w.Fields.Created.Time, Updated: w.Fields.Updated.Time, TwinID: m.Twin}
	if w.Fields.Status != nil {
		is.Status = w.Fields.Status.Name
	}
	if w.Fields.Priority != nil {
		is.Priority = w.Fields.Priority.Name
	}
	for _, a := range w.Fields.Attachment {
		is.Attachments = append(is.Attachments, t.attachmentOf(a, m))
	}
	t.fillFields(&is, w)
	return is
}

func commentOf(c wireComment) adapters.Comment {
	out := adapters.Comment{ID: c.ID, Body: textmark.Normalize(c.Body.Text), Created: c.Created.Time, Updated: c.Updated.Time}
	if c.Author != nil {
		out.Author = c.Author.DisplayName
	}
	for _, p := range c.Properties {
		switch p.Key {
		case propKey:
			out.SyncID, _ = p.Value["sync"].(string)
			if a, _ := p.Value["author"].(string); a != "" {
				if _, rest, ok := textmark.CutAuthor(out.Body); ok {
					out.Body = rest
				}
				out.Author = a
			}
		case "sd.public.comment":
			if in, _ := p.Value["internal"].(bool); in {
				out.Internal = true
			}
		}
	}
	if c.Visibility != nil {
		out.Internal = true
	}
	return out
}

// commentRequest is the body of a new comment.
func (t *Tracker) commentRequest(c adapters.Comment) map[string]any {
	body := c.Body
	req := map[string]any{}
	var props []property
	if c.SyncID != "" || c.Author != "" {
		v := map[string]any{}
		if c.SyncID != "" {
			v["sync"] = c.SyncID
		}
		if c.Author != "" {
			v["author"] = c.Author
			body = textmark.WithAuthor(textmark.Visible, c.Author, body)
		}
		props = append(props, property{Key: propKey, Value: v})
	}
	if c.Internal {
		props = append(props, property{Key: "sd.public.comment", Value: map[string]any{"internal": true}})
		if t.opts.InternalRole != "" {
			req["visibility"] = map[string]any{"type": "role", "value": t.opts.InternalRole}
		}
	}
	req["body"] = t.body(body)
	if len(props) > 0 {
		req["properties"] = props
	}
	return req
}

func (t *Tracker) addComment(ctx context.Context, key string, c adapters.Comment) error {
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post
	_, err := t.c.Do(ctx, rest.Request{Method: "POST", Path: t.api + "/issue/" + url.PathEscape(key) + "/comment", Body: t.commentRequest(c)}, nil)
	if err != nil {
		return fmt.Errorf("jira: add a comment to %s: %w", key, err)
	}
	return nil
}

func (t *Tracker) editComment(ctx context.Context, key string, old adapters.Comment, body string) error {
	if old.SyncID != "" || old.Author != "" {
		body = textmark.WithAuthor(textmark.Visible, old.Author, body)
	}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-id-put
	_, err := t.c.Do(ctx, rest.Request{Method: "PUT", Path: t.api + "/issue/" + url.PathEscape(key) + "/comment/" + url.PathEscape(old.ID),
		Body: map[string]any{"body": t.body(body)}, Idempotent: true}, nil)
	if err != nil {
		return fmt.Errorf("jira: edit comment %s of %s: %w", old.ID, key, err)
	}
	return nil
}

// Create creates the issue, with its twin marker in the same call, then
// moves it to in.Status and adds its comments.
func (t *Tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	if strings.TrimSpace(in.Summary) == "" {
		return adapters.Issue{}, fmt.Errorf("jira: an issue needs a summary: %w", adapters.ErrRejected)
	}
	if in.Status != "" {
		if err := t.knownStatus(ctx, in.Status); err != nil {
			return adapters.Issue{}, err
		}
	}
	typ := t.opts.IssueType
	if in.Type != "" && in.Type != typ {
		if err := t.knownType(ctx, in.Type); err != nil {
			return adapters.Issue{}, err
		}
		typ = in.Type
	}
	f := map[string]any{
		"project":   map[string]string{"key": t.opts.Project},
		"issuetype": map[string]string{"name": typ},
		"summary":   in.Summary,
	}
	fp := adapters.Patch{Assignee: in.Assignee, Reporter: in.Reporter, Fields: in.Fields}
	if in.Due != "" {
		fp.Due = &in.Due
	}
	var later adapters.Patch // relations other than the parent, after the create
	for _, r := range in.Relations {
		if r.Kind == adapters.RelParent {
			fp.AddRelations = append(fp.AddRelations, r)
		} else {
			later.AddRelations = append(later.AddRelations, r)
		}
	}
	if err := t.fieldsPatch(ctx, adapters.Issue{}, fp, f); err != nil {
		return adapters.Issue{}, err
	}
	if in.Description != "" {
		f["description"] = t.body(in.Description)
	}
	if in.Priority != "" {
		if err := t.knownPriority(ctx, in.Priority); err != nil {
			return adapters.Issue{}, err
		}
		f["priority"] = map[string]string{"name": in.Priority}
	}
	if len(in.Labels) > 0 {
		f["labels"] = in.Labels
	}
	req := map[string]any{"fields": f}
	if in.TwinID != "" {
		if err := textmark.Valid(in.TwinID); err != nil {
			return adapters.Issue{}, fmt.Errorf("jira: twin ID: %w: %w", err, adapters.ErrRejected)
		}
		req["properties"] = []property{{Key: propKey, Value: map[string]any{"twin": in.TwinID}}}
	}
	var made struct {
		Key string `json:"key"`
	}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post
	if _, err := t.c.Do(ctx, rest.Request{Method: "POST", Path: t.api + "/issue", Body: req}, &made); err != nil {
		return adapters.Issue{}, fmt.Errorf("jira: create an issue in %s: %w", t.opts.Project, err)
	}
	if len(later.AddRelations) > 0 {
		if err := t.applyAfter(ctx, made.Key, wireIssue{}, adapters.Issue{}, later); err != nil {
			return adapters.Issue{}, err
		}
	}
	if in.Status != "" {
		if err := t.moveTo(ctx, made.Key, in.Status); err != nil {
			return adapters.Issue{}, err
		}
	}
	for _, c := range in.Comments {
		if err := t.addComment(ctx, made.Key, c); err != nil {
			return adapters.Issue{}, err
		}
	}
	return t.Get(ctx, made.Key)
}

// Update applies p.
func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	if err := t.checkKey(key); err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, key)
	if err != nil {
		return adapters.Issue{}, err
	}
	cur := t.issue(w)
	if p.Status != nil && *p.Status != cur.Status {
		if err := t.knownStatus(ctx, *p.Status); err != nil {
			return adapters.Issue{}, err
		}
	}
	f := map[string]any{}
	if p.Summary != nil && *p.Summary != cur.Summary {
		if strings.TrimSpace(*p.Summary) == "" {
			return adapters.Issue{}, fmt.Errorf("jira: %s: a summary cannot be blank: %w", key, adapters.ErrRejected)
		}
		f["summary"] = *p.Summary
	}
	if p.Description != nil && *p.Description != cur.Description {
		f["description"] = t.body(*p.Description)
	}
	if p.Priority != nil && *p.Priority != cur.Priority {
		if err := t.knownPriority(ctx, *p.Priority); err != nil {
			return adapters.Issue{}, err
		}
		f["priority"] = map[string]string{"name": *p.Priority}
	}
	if p.Labels != nil && !slices.Equal(sortedCopy(*p.Labels), sortedCopy(cur.Labels)) {
		f["labels"] = append([]string{}, *p.Labels...)
	}
	if err := t.fieldsPatch(ctx, cur, p, f); err != nil {
		return adapters.Issue{}, err
	}
	if len(f) > 0 {
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-put
		if _, err := t.c.Do(ctx, rest.Request{Method: "PUT", Path: t.api + "/issue/" + url.PathEscape(key), Body: map[string]any{"fields": f}, Idempotent: true}, nil); err != nil {
			return adapters.Issue{}, fmt.Errorf("jira: update %s: %w", key, err)
		}
	}
	if p.TwinID != nil && *p.TwinID != cur.TwinID {
		m := markerOf(w)
		m.Twin = *p.TwinID
		if err := t.putMarker(ctx, key, m); err != nil {
			return adapters.Issue{}, err
		}
	}
	if p.Status != nil && *p.Status != cur.Status {
		if err := t.moveTo(ctx, key, *p.Status); err != nil {
			return adapters.Issue{}, err
		}
	}
	if len(p.DeleteComments) > 0 {
		cs, err := t.comments(ctx, key)
		if err != nil {
			return adapters.Issue{}, err
		}
		for _, c := range cs {
			cur.Comments = append(cur.Comments, commentOf(c))
		}
	}
	if err := t.applyAfter(ctx, key, w, cur, p); err != nil {
		return adapters.Issue{}, err
	}
	if len(p.AddComments) > 0 || len(p.EditComments) > 0 {
		cs, err := t.comments(ctx, key)
		if err != nil {
			return adapters.Issue{}, err
		}
		var have []adapters.Comment
		for _, c := range cs {
			have = append(have, commentOf(c))
		}
		find := func(id, sync string) (adapters.Comment, bool) {
			for _, c := range have {
				if (id != "" && c.ID == id) || (id == "" && sync != "" && c.SyncID == sync) {
					return c, true
				}
			}
			return adapters.Comment{}, false
		}
		for _, c := range p.AddComments {
			if old, ok := find("", c.SyncID); ok && c.SyncID != "" {
				if old.Body != c.Body {
					if err := t.editComment(ctx, key, old, c.Body); err != nil {
						return adapters.Issue{}, err
					}
				}
				continue
			}
			if err := t.addComment(ctx, key, c); err != nil {
				return adapters.Issue{}, err
			}
		}
		for _, c := range p.EditComments {
			old, ok := find(c.ID, c.SyncID)
			if !ok {
				return adapters.Issue{}, fmt.Errorf("jira: %s has no comment %q (sync ID %q) to edit: %w", key, c.ID, c.SyncID, adapters.ErrRejected)
			}
			if old.Body != c.Body {
				if err := t.editComment(ctx, key, old, c.Body); err != nil {
					return adapters.Issue{}, err
				}
			}
		}
	}
	return t.Get(ctx, key)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	if c == nil {
		c = []string{}
	}
	return c
}

func (t *Tracker) putMarker(ctx context.Context, key string, m marker) error {
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-properties/#api-rest-api-3-issue-issueidorkey-properties-propertykey-put
	_, err := t.c.Do(ctx, rest.Request{Method: "PUT", Path: t.api + "/issue/" + url.PathEscape(key) + "/properties/" + propKey, Body: m, Idempotent: true}, nil)
	if err != nil {
		return fmt.Errorf("jira: write the issuemesh property of %s: %w", key, err)
	}
	return nil
}

// knownPriority checks p against GET /priority (cached).
func (t *Tracker) knownPriority(ctx context.Context, p string) error {
	ps, err := t.priorities(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(ps, p) {
		return fmt.Errorf("jira: priority %q is not one of Jira's (%s): %w", p, strings.Join(ps, ", "), adapters.ErrRejected)
	}
	return nil
}

func (t *Tracker) priorities(ctx context.Context) ([]string, error) {
	t.mu.Lock()
	ps := t.prios
	t.mu.Unlock()
	if ps != nil {
		return ps, nil
	}
	var list []named
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-priorities/#api-rest-api-3-priority-get
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/priority"}, &list); err != nil {
		return nil, fmt.Errorf("jira: list the priorities: %w", err)
	}
	for _, p := range list {
		ps = append(ps, p.Name)
	}
	t.mu.Lock()
	t.prios = ps
	t.mu.Unlock()
	return ps, nil
}

// projectStatuses lists the statuses of the project's issue types.
func (t *Tracker) projectStatuses(ctx context.Context) ([]string, error) {
	t.mu.Lock()
	ss := t.statuses
	t.mu.Unlock()
	if ss != nil {
		return ss, nil
	}
	var types []struct {
		Name     string  `json:"name"`
		Statuses []named `json:"statuses"`
	}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-projectidorkey-statuses-get
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/project/" + t.opts.Project + "/statuses"}, &types); err != nil {
		return nil, fmt.Errorf("jira: list the statuses of project %s: %w", t.opts.Project, err)
	}
	for _, it := range types {
		if it.Name != t.opts.IssueType {
			continue
		}
		for _, s := range it.Statuses {
			if !slices.Contains(ss, s.Name) {
				ss = append(ss, s.Name)
			}
		}
	}
	t.mu.Lock()
	t.statuses = ss
	t.mu.Unlock()
	return ss, nil
}

func (t *Tracker) knownStatus(ctx context.Context, s string) error {
	ss, err := t.projectStatuses(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(ss, s) {
		return fmt.Errorf("jira: status %q is not one of project %s's for %s issues (%s): %w", s, t.opts.Project, t.opts.IssueType, strings.Join(ss, ", "), adapters.ErrRejected)
	}
	return nil
}

// FindByTwin finds the issue whose issuemesh property holds twin.
func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	if textmark.Valid(twin) != nil {
		return adapters.Issue{}, fmt.Errorf("jira: no issue has twin %q: %w", twin, adapters.ErrNotFound)
	}
	match := func(ws []wireIssue) (wireIssue, bool) {
		for _, w := range ws {
			if markerOf(w).Twin == twin {
				return w, true
			}
		}
		return wireIssue{}, false
	}
	// Where an app indexes the property, JQL finds it at once.
	q := fmt.Sprintf(`project = %s AND issue.property[%s].twin = "%s"`, t.opts.Project, propKey, twin)
	ws, _, err := t.search(ctx, q, "", 50)
	if err != nil && !errors.Is(err, adapters.ErrRejected) {
		return adapters.Issue{}, err
	}
	if w, ok := match(ws); ok {
		return t.full(ctx, w)
	}
	// Otherwise: every issue, newest updated first.
	q = fmt.Sprintf(`project = %s ORDER BY updated DESC`, t.opts.Project)
	for tok := ""; ; {
		ws, next, err := t.search(ctx, q, tok, 100)
		if err != nil {
			return adapters.Issue{}, err
		}
		if w, ok := match(ws); ok {
			return t.full(ctx, w)
		}
		if next == "" {
			return adapters.Issue{}, fmt.Errorf("jira: no issue of %s has twin %s: %w", t.opts.Project, twin, adapters.ErrNotFound)
		}
		tok = next
	}
}

// search runs one page of JQL. Cloud pages by nextPageToken; Data Center
// by startAt, carried in the same string.
func (t *Tracker) search(ctx context.Context, jql, token string, max int) ([]wireIssue, string, error) {
	fields, err := t.fieldList(ctx)
	if err != nil {
		return nil, "", err
	}
	var page struct {
		Issues        []wireIssue `json:"issues"`
		NextPageToken string      `json:"nextPageToken"`
		IsLast        bool        `json:"isLast"`
		StartAt       int         `json:"startAt"`
		Total         int         `json:"total"`
	}
	body := map[string]any{"jql": jql, "maxResults": max, "fields": fields, "properties": []string{propKey}}
	path := t.api + "/search/jql"
	start := 0
	if t.cloud {
		if token != "" {
			body["nextPageToken"] = token
		}
	} else {
		path = t.api + "/search"
		start, _ = strconv.Atoi(token)
		body["startAt"] = start
	}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-post
	// https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/search-searchUsingSearchRequest
	if _, err := t.c.Do(ctx, rest.Request{Method: "POST", Path: path, Body: body, Idempotent: true}, &page); err != nil {
		return nil, "", fmt.Errorf("jira: search %q: %w", jql, err)
	}
	next := page.NextPageToken
	if !t.cloud {
		next = ""
		if n := start + len(page.Issues); len(page.Issues) > 0 && n < page.Total {
			next = strconv.Itoa(n)
		}
	} else if page.IsLast {
		next = ""
	}
	return page.Issues, next, nil
}

// location is the time zone JQL dates are read in: the user's.
func (t *Tracker) location(ctx context.Context) (*time.Location, error) {
	t.mu.Lock()
	loc := t.loc
	t.mu.Unlock()
	if loc != nil {
		return loc, nil
	}
	u, err := t.myself(ctx)
	if err != nil {
		return nil, err
	}
	loc = time.UTC
	if u.TimeZone != "" {
		if l, err := time.LoadLocation(u.TimeZone); err == nil {
			loc = l
		} else {
			t.log.Warn("jira: unknown user time zone; JQL dates read as UTC", "zone", u.TimeZone, "err", err)
		}
	}
	t.mu.Lock()
	t.loc = loc
	t.mu.Unlock()
	return loc, nil
}

func (t *Tracker) myself(ctx context.Context) (wireUser, error) {
	var u wireUser
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-myself/#api-rest-api-3-myself-get
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/myself"}, &u); err != nil {
		return u, fmt.Errorf("jira: who am I (GET /myself): %w", err)
	}
	return u, nil
}

// Changes: see the package documentation.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	loc, err := t.location(ctx)
	if err != nil {
		return nil, since, err
	}
	// feed asks for the listing a page at a time (offset, n); the search
	// is read once per Changes call and kept, so a later page costs no
	// request for what an earlier one read.
	var (
		now     time.Time
		cacheAt time.Time
		got     []wireIssue
		tok     string
		done    bool
		fresh   = true
	)
	page := func(ctx context.Context, from time.Time, offset, n int) ([]wireIssue, time.Time, error) {
		// feed moves from forward between pages: the listing read since
		// cacheAt holds everything since a later from too.
		if fresh || from.Before(cacheAt) {
			fresh, cacheAt, got, tok, done = false, from, nil, "", false
		}
		q := fmt.Sprintf("project = %s ORDER BY updated ASC, key ASC", t.opts.Project)
		if !cacheAt.IsZero() {
			q = fmt.Sprintf(`project = %s AND updated >= "%s" ORDER BY updated ASC, key ASC`, t.opts.Project, cacheAt.In(loc).Format("2006/01/02 15:04"))
		}
		since := func() []wireIssue {
			var out []wireIssue
			for _, w := range got {
				if !w.Fields.Updated.Before(from) {
					out = append(out, w)
				}
			}
			return out
		}
		for !done && len(since()) < offset+n {
			ws, next, err := t.search(ctx, q, tok, 100)
			if err != nil {
				return nil, time.Time{}, err
			}
			got = append(got, ws...)
			tok, done = next, next == ""
		}
		out := since()
		slices.SortStableFunc(out, func(a, b wireIssue) int {
			if c := a.Fields.Updated.Compare(b.Fields.Updated.Time); c != 0 {
				return c
			}
			return strings.Compare(a.Key, b.Key)
		})
		if offset >= len(out) {
			out = nil
		} else {
			out = out[offset:min(len(out), offset+n)]
		}
		return out, now, nil
	}
	ws, next, err := feed.Changes(ctx, since, limit, feed.Options{Settle: t.opts.Settle, PageSize: 100}, page,
		func(w wireIssue) string { return w.Key }, func(w wireIssue) time.Time { return w.Fields.Updated.Time })
	if err != nil {
		return nil, since, fmt.Errorf("jira: changes: %w", err)
	}
	extra, err := t.reconcile(ctx, loc, limit-len(ws), ws)
	if err != nil {
		t.log.Warn("jira: the reconciliation pass failed; it runs again next time", "err", err)
	}
	ws = append(extra, ws...)
	out := make([]adapters.Issue, 0, len(ws))
	for _, w := range ws {
		is, err := t.full(ctx, w)
		if err != nil {
			return nil, since, err
		}
		out = append(out, is)
	}
	t.mu.Lock()
	for _, w := range ws {
		t.returned[w.Key] = w.Fields.Updated.Time
	}
	t.read += len(out)
	read := t.read
	t.mu.Unlock()
	if len(out) > 0 && len(out) >= limit {
		// A full batch: the node is catching up (a first sync), more
		// follow. The progress, for the log.
		t.log.Info("jira: catching up", "project", t.opts.Project, "issues_read", read, "up_to", out[len(out)-1].Updated.Format(time.RFC3339),
			"budget_per_minute", t.opts.RequestsPerMinute)
	}
	return out, next, nil
}

// reconcile is the periodic pass for search's eventual consistency: it
// returns the issues updated within the window whose stamp differs from
// the one Changes last returned (at most room of them, none in feed).
func (t *Tracker) reconcile(ctx context.Context, loc *time.Location, room int, feedWs []wireIssue) ([]wireIssue, error) {
	t.mu.Lock()
	due := t.opts.Reconcile > 0 && time.Since(t.lastRecon) >= t.opts.Reconcile && len(t.returned) > 0
	t.mu.Unlock()
	if !due || room <= 0 {
		return nil, nil
	}
	from := time.Now().Add(-t.opts.ReconcileWindow)
	q := fmt.Sprintf(`project = %s AND updated >= "%s" ORDER BY updated ASC, key ASC`, t.opts.Project, from.In(loc).Format("2006/01/02 15:04"))
	var missed []wireIssue
	inFeed := map[string]bool{}
	for _, w := range feedWs {
		inFeed[w.Key] = true
	}
	for tok := ""; ; {
		ws, next, err := t.search(ctx, q, tok, 100)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		for _, w := range ws {
			if got, ok := t.returned[w.Key]; !inFeed[w.Key] && (!ok || !got.Equal(w.Fields.Updated.Time)) && len(missed) < room {
				missed = append(missed, w)
			}
		}
		t.mu.Unlock()
		if next == "" || len(missed) >= room {
			break
		}
		tok = next
	}
	t.mu.Lock()
	t.lastRecon = time.Now()
	t.mu.Unlock()
	if len(missed) > 0 {
		t.log.Info("jira: reconciliation found issues the search had not shown", "count", len(missed))
	}
	return missed, nil
}
