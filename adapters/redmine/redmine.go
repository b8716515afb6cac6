// Package redmine is the issuemesh adapter of Redmine (tested with 5.0), a
// client of its REST API.
//
// # Set-up
//
// The node needs Redmine's REST API enabled (Administration, Settings, API)
// and an API key: from the file named by tracker.api_key_file, or from the
// environment variable ISSUEMESH_REDMINE_API_KEY, never from config.yaml
// itself. Issues are created in, and changes read from, one project
// (tracker.project: its identifier or number; subprojects are left out).
// Two optional issue custom fields, text, for all projects and trackers and
// usable as filters (scripts/redmine.sh creates them):
//
//   - "issuemesh twin" keeps the twin ID of an issue created by sync, for
//     FindByTwin. Without it the twin ID is kept in a hidden marker line at
//     the end of the description (an HTML comment, which Redmine's Textile
//     and CommonMark renderers do not show). FindByTwin looks in both.
//   - "issuemesh labels" keeps the labels, comma-separated and sorted:
//     Redmine has no labels. Without it labels are not kept (a warning says
//     so once, and `issuemesh tracker check` too). A label with a comma is
//     rejected.
//
// and a third, long text, for all projects and trackers, not visible and
// granted only to a role given to no one (only administrators see it):
//
//   - "issuemesh marker" keeps the markers of the notes the adapter
//     writes out of their text, which Redmine's plain-text mail prints as
//     it is (see marker.go). Without it (or with a key that is not an
//     administrator's) a marker is the note's hidden last line.
//
// # Fields
//
// Key is the issue number ("42"; "#42" is accepted). Summary is the subject;
// Description the description, with line ends as "\n" (Redmine stores
// "\r\n"). Status, Priority and Extra["tracker"] are names, resolved to
// Redmine's IDs through /issue_statuses.json,
// /enumerations/issue_priorities.json and /trackers.json (cached for ten
// minutes and reloaded once when a name is unknown). A name matches exactly
// or else ignoring case; an unknown one is rejected, naming the valid ones.
// Redmine ignores a status on create and a status its workflow does not
// allow on update without an error, so the adapter sets the status after
// creating and reads the issue back after every update: a status that did
// not take is rejected with the workflow named as the likely cause. Extra
// has only "tracker"; other keys are rejected. Created and Updated are
// Redmine's created_on and updated_on.
//
// Assignee, reporter, watchers, type (the tracker), due and start dates,
// custom fields by name and relations (parent and children included) are
// mapped as fields.go describes; Changes carries neither children nor
// relations (Get does). What Redmine lacks is declared in lacks.go.
//
// # Comments
//
// Comments are the journals with notes; Internal is private_notes. A
// comment added by sync is a note that starts with its author, as Redmine
// cannot set the author of a note: "**Alice (partner) wrote:**", and
// carries its global ID (SyncID) in a marker kept in the field "issuemesh
// marker" of the same journal (without the field: a hidden last line of
// the note). Reading strips the author line, reads the marker and gives
// the Author and SyncID back, so the comment round-trips exactly. Adding a
// comment whose SyncID the issue already has edits that comment instead (a
// retransmission adds nothing). Edits go through PUT /journals/ID.json,
// which keeps the author line, and the marker where it was. Redmine does
// not change an issue's updated_on when a note is edited, so an edit made
// in Redmine's web interface is seen when the issue next changes. The same
// holds for a relation added or removed in Redmine (neither issue's
// updated_on moves; seen on Redmine 5.0.4).
//
// # Attachments
//
// The adapter implements adapters.Attachments: a file is uploaded to
// /uploads.json and attached with a PUT of the issue; its description keeps
// its author, global ID and SHA-256 ("Alice (partner) [issuemesh:file ID]
// [issuemesh:sha256 HEX]"; the markers in the field "issuemesh marker"
// where it exists), as Redmine's API gives no digest. Files added in
// Redmine itself are downloaded once to learn their digest. A file whose
// sync ID or digest the issue has is never uploaded again. See attach.go.
//
// # Changes
//
// Changes lists the project's issues, closed ones included (status_id=*),
// with updated_on at or after the cursor's second, oldest first, and
// deduplicates the one-second window as package feed describes. The issues
// it returns carry every field but no comments: Get gives those.
//
// # Errors
//
// See package rest: 404 is ErrNotFound; a refused change (422 with
// Redmine's messages, an unknown name) is ErrRejected; Redmine down, slow,
// 5xx, 429 or answering garbage is ErrUnavailable (garbage: ErrBadAnswer).
package redmine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
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

// Names of the custom fields the adapter looks for.
const (
	TwinField   = "issuemesh twin"
	LabelsField = "issuemesh labels"
	// MarkerField keeps the markers of the notes the adapter writes, out
	// of their text (see marker.go).
	MarkerField = "issuemesh marker"
)

// EnvAPIKey is the environment variable read when no key file is given.
const EnvAPIKey = "ISSUEMESH_REDMINE_API_KEY"

// LoadAPIKey reads the API key from file or, when file is empty, from
// ISSUEMESH_REDMINE_API_KEY. Errors name the config key tracker.api_key_file.
func LoadAPIKey(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvAPIKey, "tracker.api_key_file", log)
}

// cacheTTL is how long the names of statuses, priorities, trackers and
// custom fields are trusted.
const cacheTTL = 10 * time.Minute

// Options configure New.
type Options struct {
	// URL of Redmine, e.g. http://127.0.0.1:3000.
	URL string
	// APIKey authenticates every request (X-Redmine-API-Key).
	APIKey string
	// Project is the identifier (or number) of the project synced.
	Project string
	// Settle is the feed's settle time (default feed.DefaultSettle).
	Settle time.Duration
	// HTTP tunes the client (timeouts, rate, retries); BaseURL, Name and
	// Header are set by New.
	HTTP rest.Options
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Tracker is a Redmine project seen as an adapters.Tracker. It is safe for
// concurrent use.
type Tracker struct {
	c       *rest.Client
	project string
	settle  time.Duration
	log     *slog.Logger

	mu        sync.Mutex
	names     *nameCache // nil until loaded
	warnedLbl bool
	warned    map[string]bool // what warnOnce said
	digests   map[int]string  // SHA-256 of attachments by ID, as computed (files never change)
	owners    map[int]int     // issue of each file ID seen in a read (a file never moves)
}

var _ adapters.Tracker = (*Tracker)(nil)

// New returns the adapter. It does no I/O: `issuemesh tracker check` (Check)
// verifies the set-up.
func New(opts Options) (*Tracker, error) {
	if opts.APIKey == "" {
		return nil, errors.New("redmine: no API key given")
	}
	if strings.TrimSpace(opts.Project) == "" {
		return nil, errors.New("redmine: no project given")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "redmine")
	ho := opts.HTTP
	ho.BaseURL, ho.Name, ho.Logger = opts.URL, "Redmine", log
	ho.Header = http.Header{"X-Redmine-Api-Key": {opts.APIKey}, "User-Agent": {"issuemesh"}}
	c, err := rest.New(ho)
	if err != nil {
		return nil, fmt.Errorf("redmine: url: %w", err)
	}
	return &Tracker{c: c, project: strings.TrimSpace(opts.Project), settle: opts.Settle, log: log}, nil
}

// Close releases idle connections.
func (t *Tracker) Close() error {
	t.c.Close()
	return nil
}

// ---- wire types ----

type ref struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type customValue struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Value any    `json:"value"` // string, null, or a list for multi-value fields
}

type journal struct {
	ID           int       `json:"id"`
	User         *ref      `json:"user"`
	Notes        *string   `json:"notes"`
	CreatedOn    time.Time `json:"created_on"`
	PrivateNotes bool      `json:"private_notes"`
	Details      []detail  `json:"details"`
}

// detail is one change a journal records; a custom field's has property
// "cf" and the field's number as name.
type detail struct {
	Property string  `json:"property"`
	Name     string  `json:"name"`
	NewValue *string `json:"new_value"`
}

type wireIssue struct {
	ID           int           `json:"id"`
	Project      *ref          `json:"project"`
	Tracker      *ref          `json:"tracker"`
	Status       *ref          `json:"status"`
	Priority     *ref          `json:"priority"`
	Subject      string        `json:"subject"`
	Description  *string       `json:"description"`
	CustomFields []customValue `json:"custom_fields"`
	CreatedOn    time.Time     `json:"created_on"`
	UpdatedOn    time.Time     `json:"updated_on"`
	Journals     []journal     `json:"journals"`
	Attachments  []wireFile    `json:"attachments"`
	// The fields of issue 16 (fields.go).
	AssignedTo *ref           `json:"assigned_to"`
	Author     *ref           `json:"author"`
	Watchers   []ref          `json:"watchers"`
	DueDate    *string        `json:"due_date"`
	StartDate  *string        `json:"start_date"`
	Parent     *ref           `json:"parent"`
	Relations  []wireRelation `json:"relations"`
	Children   []struct {
		ID      int    `json:"id"`
		Subject string `json:"subject"`
	} `json:"children"`
}

func (w *wireIssue) custom(id int) string {
	for _, cv := range w.CustomFields {
		if cv.ID == id {
			if s, ok := cv.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// ---- names: statuses, priorities, trackers, custom fields ----

type nameCache struct {
	loaded     time.Time
	statuses   []ref
	priorities []ref
	trackers   []ref
	twinCF     int // 0: no such field
	labelsCF   int
	markerCF   int // 0: markers are kept in the notes' text
	// cfFromIssue: the key may not list custom fields (not an
	// administrator), so they were looked for on an issue of the project.
	cfFromIssue bool
	cfs         []cfDef // the issue custom fields (fields.go)
	users       []user  // empty when the key may not list users
}

func lookup(list []ref, name string) (int, bool) {
	for _, r := range list {
		if r.Name == name {
			return r.ID, true
		}
	}
	for _, r := range list {
		if strings.EqualFold(r.Name, name) {
			return r.ID, true
		}
	}
	return 0, false
}

func names(list []ref) string {
	s := make([]string, len(list))
	for i, r := range list {
		s[i] = strconv.Quote(r.Name)
	}
	return strings.Join(s, ", ")
}

// cache returns the names, loading them when missing or older than
// cacheTTL (or than maxAge, when given).
func (t *Tracker) cache(ctx context.Context, maxAge time.Duration) (*nameCache, error) {
	t.mu.Lock()
	nc := t.names
	t.mu.Unlock()
	if maxAge <= 0 {
		maxAge = cacheTTL
	}
	if nc != nil && time.Since(nc.loaded) < maxAge {
		return nc, nil
	}
	nc = &nameCache{loaded: time.Now()}
	var st struct {
		Statuses *[]ref `json:"issue_statuses"`
	}
	if err := t.get(ctx, "/issue_statuses.json", nil, &st); err != nil {
		return nil, err
	}
	var pr struct {
		Priorities *[]ref `json:"issue_priorities"`
	}
	if err := t.get(ctx, "/enumerations/issue_priorities.json", nil, &pr); err != nil {
		return nil, err
	}
	var tr struct {
		Trackers *[]ref `json:"trackers"`
	}
	if err := t.get(ctx, "/trackers.json", nil, &tr); err != nil {
		return nil, err
	}
	if st.Statuses == nil || pr.Priorities == nil || tr.Trackers == nil {
		return nil, fmt.Errorf("redmine at %s: the lists of statuses, priorities or trackers are missing from its answers: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
	}
	nc.statuses, nc.priorities, nc.trackers = *st.Statuses, *pr.Priorities, *tr.Trackers
	if err := t.findCustomFields(ctx, nc); err != nil {
		return nil, err
	}
	if err := t.loadUsers(ctx, nc); err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.names = nc
	t.mu.Unlock()
	return nc, nil
}

// findCustomFields finds the twin and labels fields: from
// /custom_fields.json (administrators only), else from an issue of the
// project (whose custom_fields list every field it may have).
func (t *Tracker) findCustomFields(ctx context.Context, nc *nameCache) error {
	var cfs struct {
		CustomFields []struct {
			ID           int    `json:"id"`
			Name         string `json:"name"`
			CustomizedTy string `json:"customized_type"`
			Format       string `json:"field_format"`
			Multiple     bool   `json:"multiple"`
		} `json:"custom_fields"`
	}
	err := t.get(ctx, "/custom_fields.json", nil, &cfs)
	switch {
	case err == nil:
		for _, cf := range cfs.CustomFields {
			if cf.CustomizedTy != "issue" {
				continue
			}
			nc.cfs = append(nc.cfs, cfDef{ID: cf.ID, Name: cf.Name, Format: cf.Format, Multiple: cf.Multiple})
			switch cf.Name {
			case TwinField:
				nc.twinCF = cf.ID
			case LabelsField:
				nc.labelsCF = cf.ID
			case MarkerField:
				nc.markerCF = cf.ID
			}
		}
		return nil
	case isClass(err, adapters.ClassPermission), errors.Is(err, adapters.ErrRejected), errors.Is(err, adapters.ErrNotFound): // 403: not an administrator
		var list struct {
			Issues []wireIssue `json:"issues"`
		}
		nc.cfFromIssue = true
		q := url.Values{"project_id": {t.project}, "status_id": {"*"}, "limit": {"1"}}
		if err := t.get(ctx, "/issues.json", q, &list); err != nil {
			return err
		}
		for _, is := range list.Issues {
			for _, cv := range is.CustomFields {
				_, multi := cv.Value.([]any)
				nc.cfs = append(nc.cfs, cfDef{ID: cv.ID, Name: cv.Name, Multiple: multi})
				switch cv.Name {
				case TwinField:
					nc.twinCF = cv.ID
				case LabelsField:
					nc.labelsCF = cv.ID
				}
			}
		}
		return nil
	default:
		return err
	}
}

// ---- requests ----

func (t *Tracker) get(ctx context.Context, path string, q url.Values, out any) error {
	_, err := t.c.Do(ctx, rest.Request{Method: http.MethodGet, Path: path, Query: q}, out)
	return err
}

func isClass(err error, c adapters.ErrorClass) bool {
	got, _ := adapters.Classify(err)
	return got == c
}

func parseKey(key string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(key), "#"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("redmine has no issue %q (Redmine keys are issue numbers, like 42): %w", key, adapters.ErrNotFound)
	}
	return n, nil
}

func (t *Tracker) getWire(ctx context.Context, id int) (*wireIssue, error) {
	var out struct {
		Issue *wireIssue `json:"issue"`
	}
	if err := t.get(ctx, fmt.Sprintf("/issues/%d.json", id), url.Values{"include": {"journals,attachments,relations,watchers,children"}}, &out); err != nil {
		if errors.Is(err, adapters.ErrNotFound) {
			return nil, fmt.Errorf("redmine has no issue %d (or the API key may not see it): %w", id, err)
		}
		return nil, err
	}
	if out.Issue == nil || out.Issue.ID != id {
		return nil, fmt.Errorf("GET %s/issues/%d.json: the answer holds no issue %d: %w", t.c.BaseURL(), id, id, adapters.ErrBadAnswer)
	}
	return out.Issue, nil
}

// ---- conversion ----

func (t *Tracker) convert(w *wireIssue, nc *nameCache) adapters.Issue {
	is := adapters.Issue{
		Key:     strconv.Itoa(w.ID),
		Summary: w.Subject,
		Created: w.CreatedOn.UTC(),
		Updated: w.UpdatedOn.UTC(),
	}
	if w.Status != nil {
		is.Status = w.Status.Name
	}
	if w.Priority != nil {
		is.Priority = w.Priority.Name
	}
	if w.Tracker != nil {
		is.Extra = map[string]string{"tracker": w.Tracker.Name}
	}
	var marks map[string]string
	if w.Description != nil {
		is.Description, marks = textmark.Split(*w.Description)
	}
	if nc != nil && nc.twinCF != 0 {
		is.TwinID = strings.TrimSpace(w.custom(nc.twinCF))
	}
	if is.TwinID == "" {
		is.TwinID = marks[textmark.Twin]
	}
	if nc != nil && nc.labelsCF != 0 {
		is.Labels = splitLabels(w.custom(nc.labelsCF))
	}
	for _, j := range withFieldMarkers(w.Journals, nc) {
		if j.Notes == nil || *j.Notes == "" {
			continue
		}
		is.Comments = append(is.Comments, journalComment(j))
	}
	fillFields(&is, w, nc)
	filesMarked := fileFieldMarkers(w.Journals, nc)
	for _, f := range w.Attachments {
		t.rememberOwner(f.ID, w.ID)
		is.Attachments = append(is.Attachments, t.fileAttachment(f, filesMarked[f.ID]))
	}
	return is
}

func journalComment(j journal) adapters.Comment {
	c := adapters.Comment{
		ID:       strconv.Itoa(j.ID),
		Created:  j.CreatedOn.UTC(),
		Updated:  j.CreatedOn.UTC(),
		Internal: j.PrivateNotes,
	}
	if j.User != nil {
		c.Author = j.User.Name
	}
	body, marks := textmark.Split(*j.Notes)
	c.Body = body
	if id, ok := marks[textmark.Comment]; ok && id != "" {
		c.SyncID = id
		if a, rest, ok := textmark.CutAuthor(body); ok {
			c.Author, c.Body = a, rest
		}
	}
	return c
}

// noteText is what a comment becomes in Redmine: the note's text and,
// when inField, the marker kept in MarkerField (else the text ends with it).
func noteText(c adapters.Comment, inField bool) (text, marker string, err error) {
	if c.SyncID == "" {
		return c.Body, "", nil
	}
	if err := textmark.Valid(c.SyncID); err != nil {
		return "", "", fmt.Errorf("comment: %w: %w", err, adapters.ErrRejected)
	}
	text = textmark.WithAuthor(textmark.Hidden, c.Author, c.Body)
	if inField {
		return text, textmark.Line(textmark.Visible, textmark.Comment, c.SyncID), nil
	}
	return textmark.Add(textmark.Hidden, text, textmark.Comment, c.SyncID), "", nil
}

func splitLabels(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func joinLabels(ls []string) (string, error) {
	var out []string
	for _, l := range ls {
		l = strings.TrimSpace(l)
		if strings.Contains(l, ",") {
			return "", fmt.Errorf("label %q contains a comma, which separates labels in Redmine's %q field: %w", l, LabelsField, adapters.ErrRejected)
		}
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ","), nil
}

// ---- Tracker ----

// Get returns the issue with its comments.
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	id, err := parseKey(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	nc, err := t.cache(ctx, 0)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, id)
	if err != nil {
		return adapters.Issue{}, err
	}
	is := t.convert(w, nc)
	return is, t.fillDigests(ctx, &is)
}

// FindByTwin finds the project's issue carrying the twin ID, in the twin
// custom field or in the description's marker.
func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	if textmark.Valid(twin) != nil {
		return adapters.Issue{}, fmt.Errorf("redmine: no issue carries the twin marker %q: %w", twin, adapters.ErrNotFound)
	}
	nc, err := t.cache(ctx, 0)
	if err != nil {
		return adapters.Issue{}, err
	}
	var queries []url.Values
	if nc.twinCF != 0 {
		queries = append(queries, url.Values{fmt.Sprintf("cf_%d", nc.twinCF): {twin}})
	}
	queries = append(queries, url.Values{"description": {"~" + textmark.Line(textmark.Hidden, textmark.Twin, twin)}})
	for _, q := range queries {
		q.Set("project_id", t.project)
		q.Set("status_id", "*")
		q.Set("sort", "id")
		q.Set("limit", "10")
		var list struct {
			Issues *[]wireIssue `json:"issues"`
		}
		if err := t.get(ctx, "/issues.json", q, &list); err != nil {
			return adapters.Issue{}, err
		}
		if list.Issues == nil {
			return adapters.Issue{}, fmt.Errorf("GET %s/issues.json: the answer has no issues list: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
		}
		for _, w := range *list.Issues {
			// The filters match substrings; keep exact matches only.
			if is := t.convert(&w, nc); is.TwinID == twin {
				return t.Get(ctx, is.Key)
			}
		}
	}
	return adapters.Issue{}, fmt.Errorf("redmine project %s: no issue carries the twin marker %q: %w", t.project, twin, adapters.ErrNotFound)
}

// Changes: see the package documentation.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	nc, err := t.cache(ctx, 0)
	if err != nil {
		return nil, since, err
	}
	page := func(ctx context.Context, from time.Time, offset, limit int) ([]wireIssue, time.Time, error) {
		q := url.Values{
			"project_id":    {t.project},
			"subproject_id": {"!*"},
			"status_id":     {"*"},
			"sort":          {"updated_on,id"},
			"offset":        {strconv.Itoa(offset)},
			"limit":         {strconv.Itoa(limit)},
		}
		if !from.IsZero() {
			q.Set("updated_on", ">="+from.UTC().Format("2006-01-02T15:04:05Z"))
		}
		var list struct {
			Issues *[]wireIssue `json:"issues"`
		}
		resp, err := t.c.Do(ctx, rest.Request{Method: http.MethodGet, Path: "/issues.json", Query: q}, &list)
		if err != nil {
			return nil, time.Time{}, err
		}
		if list.Issues == nil {
			return nil, time.Time{}, fmt.Errorf("GET %s/issues.json: the answer has no issues list: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
		}
		for _, w := range *list.Issues {
			if w.ID <= 0 || w.UpdatedOn.IsZero() {
				return nil, time.Time{}, fmt.Errorf("GET %s/issues.json: an issue in the answer has no id or updated_on: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
			}
		}
		return *list.Issues, resp.Date, nil
	}
	ws, next, err := feed.Changes(ctx, since, limit, feed.Options{Settle: t.settle}, page,
		func(w wireIssue) string { return strconv.Itoa(w.ID) },
		func(w wireIssue) time.Time { return w.UpdatedOn })
	if err != nil {
		return nil, since, fmt.Errorf("redmine changes since %q: %w", since, err)
	}
	out := make([]adapters.Issue, len(ws))
	for i := range ws {
		out[i] = t.convert(&ws[i], nc)
	}
	return out, next, nil
}

// fields is the part of a create or update body that names resolve into.
type fields map[string]any

// resolve adds status, priority and tracker IDs to f. Unknown names reload
// the cache once before they are rejected.
func (t *Tracker) resolve(ctx context.Context, nc *nameCache, f fields, status, priority, tracker *string) (*nameCache, error) {
	for _, x := range []struct {
		field, what string
		name        *string
		list        func(*nameCache) []ref
	}{
		{"status_id", "status", status, func(n *nameCache) []ref { return n.statuses }},
		{"priority_id", "priority", priority, func(n *nameCache) []ref { return n.priorities }},
		{"tracker_id", "tracker", tracker, func(n *nameCache) []ref { return n.trackers }},
	} {
		if x.name == nil || *x.name == "" {
			continue
		}
		id, ok := lookup(x.list(nc), *x.name)
		if !ok && time.Since(nc.loaded) > 10*time.Second {
			fresh, err := t.cache(ctx, time.Nanosecond)
			if err != nil {
				return nc, err
			}
			nc = fresh
			id, ok = lookup(x.list(nc), *x.name)
		}
		if !ok {
			return nc, fmt.Errorf("%s %q is not a Redmine %s; valid: %s: %w", x.what, *x.name, x.what, names(x.list(nc)), adapters.ErrRejected)
		}
		f[x.field] = id
	}
	return nc, nil
}

func checkExtra(extra map[string]string) (*string, error) {
	var tracker *string
	for k, v := range extra {
		if k != "tracker" {
			return nil, fmt.Errorf("extra field %q is not one Redmine takes; it takes only \"tracker\": %w", k, adapters.ErrRejected)
		}
		if v != "" {
			tracker = &v
		}
	}
	return tracker, nil
}

func (t *Tracker) warnNoLabels() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.warnedLbl {
		t.warnedLbl = true
		t.log.Warn("Redmine has no issue custom field named \"" + LabelsField + "\": labels are not kept (scripts/redmine.sh shows how to create it)")
	}
}

// Create creates the issue in the project, then sets its status (Redmine
// ignores one given on create) and adds its comments.
func (t *Tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	if strings.TrimSpace(in.Summary) == "" {
		return adapters.Issue{}, fmt.Errorf("redmine create: the summary is empty: %w", adapters.ErrRejected)
	}
	nc, err := t.cache(ctx, 0)
	if err != nil {
		return adapters.Issue{}, err
	}
	tracker, err := checkExtra(in.Extra)
	if err != nil {
		return adapters.Issue{}, fmt.Errorf("redmine create: %w", err)
	}
	if tracker == nil && in.Type != "" {
		tracker = &in.Type
	}
	f := fields{"project_id": t.project, "subject": in.Summary}
	if nc, err = t.resolve(ctx, nc, f, nil, &in.Priority, tracker); err != nil {
		return adapters.Issue{}, fmt.Errorf("redmine create: %w", err)
	}
	desc := in.Description
	var cfs []map[string]any
	if in.TwinID != "" {
		if err := textmark.Valid(in.TwinID); err != nil {
			return adapters.Issue{}, fmt.Errorf("redmine create: twin ID: %w: %w", err, adapters.ErrRejected)
		}
		if nc.twinCF != 0 {
			cfs = append(cfs, map[string]any{"id": nc.twinCF, "value": in.TwinID})
		} else {
			desc = textmark.Add(textmark.Hidden, desc, textmark.Twin, in.TwinID)
		}
	}
	if len(in.Labels) > 0 {
		if nc.labelsCF == 0 {
			t.warnNoLabels()
		} else {
			v, err := joinLabels(in.Labels)
			if err != nil {
				return adapters.Issue{}, fmt.Errorf("redmine create: %w", err)
			}
			cfs = append(cfs, map[string]any{"id": nc.labelsCF, "value": v})
		}
	}
	if desc != "" {
		f["description"] = desc
	}
	if len(cfs) > 0 {
		f["custom_fields"] = cfs
	}
	// Validate the status before creating anything.
	sf := fields{}
	if _, err = t.resolve(ctx, nc, sf, &in.Status, nil, nil); err != nil {
		return adapters.Issue{}, fmt.Errorf("redmine create: %w", err)
	}
	var out struct {
		Issue *wireIssue `json:"issue"`
	}
	if _, err := t.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: "/issues.json", Body: map[string]any{"issue": f}}, &out); err != nil {
		return adapters.Issue{}, fmt.Errorf("redmine create: %w", err)
	}
	if out.Issue == nil || out.Issue.ID <= 0 {
		return adapters.Issue{}, fmt.Errorf("redmine create: POST %s/issues.json: the answer holds no issue id: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
	}
	key := strconv.Itoa(out.Issue.ID)
	p := adapters.Patch{AddComments: in.Comments, Assignee: in.Assignee, Fields: in.Fields, AddRelations: in.Relations}
	if in.Due != "" {
		p.Due = &in.Due
	}
	if in.Start != "" {
		p.Start = &in.Start
	}
	if in.Watchers != nil {
		p.Watchers = &in.Watchers
	}
	if in.Status != "" && (out.Issue.Status == nil || !strings.EqualFold(out.Issue.Status.Name, in.Status)) {
		p.Status = &in.Status
	}
	if p.Empty() {
		// Nothing more to send: the POST's answer is the issue as created
		// (a new issue has no journals, files, relations or watchers), so
		// it is not read again.
		return t.convert(out.Issue, nc), nil
	}
	is, err := t.Update(ctx, key, p)
	if err != nil {
		return adapters.Issue{}, fmt.Errorf("redmine create: issue %s was created, but: %w", key, err)
	}
	return is, nil
}

// Update applies the patch: the changed fields and the first new note in
// one request, each further note and each edited note in one more. It sends
// nothing for a patch that changes nothing, and reads the issue back to
// check that Redmine took the status, priority and tracker.
func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	id, err := parseKey(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	nc, err := t.cache(ctx, 0)
	if err != nil {
		return adapters.Issue{}, err
	}
	w, err := t.getWire(ctx, id)
	if err != nil {
		return adapters.Issue{}, err
	}
	cur := t.convert(w, nc)
	fail := func(err error) (adapters.Issue, error) {
		return adapters.Issue{}, fmt.Errorf("redmine update %d: %w", id, err)
	}
	tracker, err := checkExtra(p.Extra)
	if err != nil {
		return fail(err)
	}
	if tracker == nil && p.Type != nil && *p.Type != "" {
		tracker = p.Type
	}
	f := fields{}
	if p.Summary != nil && *p.Summary != cur.Summary {
		if strings.TrimSpace(*p.Summary) == "" {
			return fail(fmt.Errorf("the summary is empty: %w", adapters.ErrRejected))
		}
		f["subject"] = *p.Summary
	}
	want := map[string]string{}
	statusName, prioName, trackerName := p.Status, p.Priority, tracker
	if statusName != nil && (*statusName == "" || *statusName == cur.Status) {
		statusName = nil
	}
	if prioName != nil && (*prioName == "" || *prioName == cur.Priority) {
		prioName = nil
	}
	if trackerName != nil && *trackerName == cur.Extra["tracker"] {
		trackerName = nil
	}
	if nc, err = t.resolve(ctx, nc, f, statusName, prioName, trackerName); err != nil {
		return fail(err)
	}
	for k, v := range map[string]*ref{"status_id": w.Status, "priority_id": w.Priority, "tracker_id": w.Tracker} {
		if id, ok := f[k]; ok && v != nil && v.ID == id {
			delete(f, k) // a name that differs only in case
		}
	}
	if _, ok := f["status_id"]; ok {
		want["status"] = *statusName
	}
	if _, ok := f["priority_id"]; ok {
		want["priority"] = *prioName
	}
	if _, ok := f["tracker_id"]; ok {
		want["tracker"] = *trackerName
	}
	// Description and twin marker.
	twin := cur.TwinID
	if p.TwinID != nil {
		if *p.TwinID != "" {
			if err := textmark.Valid(*p.TwinID); err != nil {
				return fail(fmt.Errorf("twin ID: %w: %w", err, adapters.ErrRejected))
			}
		}
		twin = *p.TwinID
	}
	desc := cur.Description
	if p.Description != nil {
		desc = *p.Description
	}
	var cfs []map[string]any
	fullDesc := desc
	if nc.twinCF != 0 {
		if twin != strings.TrimSpace(w.custom(nc.twinCF)) {
			cfs = append(cfs, map[string]any{"id": nc.twinCF, "value": twin})
		}
	} else if twin != "" {
		fullDesc = textmark.Add(textmark.Hidden, desc, textmark.Twin, twin)
	}
	oldDesc := ""
	if w.Description != nil {
		oldDesc = textmark.Normalize(*w.Description)
	}
	if fullDesc != oldDesc && (p.Description != nil || p.TwinID != nil) {
		f["description"] = fullDesc
	}
	if p.Labels != nil {
		v, err := joinLabels(*p.Labels)
		if err != nil {
			return fail(err)
		}
		switch {
		case nc.labelsCF == 0:
			if v != "" {
				t.warnNoLabels()
			}
		case v != strings.Join(cur.Labels, ","):
			cfs = append(cfs, map[string]any{"id": nc.labelsCF, "value": v})
		}
	}
	if err := t.fieldsPatch(nc, cur, p, f, &cfs); err != nil {
		return fail(err)
	}
	if len(cfs) > 0 {
		f["custom_fields"] = cfs
	}
	// Comments: adds (a known SyncID turns into an edit), then edits.
	type edit struct {
		j    int
		text string
		priv bool
	}
	markedInField := fieldMarked(w.Journals, nc)
	var notes []adapters.Comment
	var edits []edit
	bySync := map[string]adapters.Comment{}
	byID := map[string]adapters.Comment{}
	for _, c := range cur.Comments {
		byID[c.ID] = c
		if c.SyncID != "" {
			bySync[c.SyncID] = c
		}
	}
	addEdit := func(old adapters.Comment, body string, internal bool) error {
		if old.Body == body && old.Internal == internal {
			return nil
		}
		upd := adapters.Comment{SyncID: old.SyncID, Author: old.Author, Body: body}
		j, _ := strconv.Atoi(old.ID)
		// The marker stays where it is: a journal's details cannot change.
		text, _, err := noteText(upd, markedInField[j])
		if err != nil {
			return err
		}
		if strings.TrimSpace(text) == "" {
			return fmt.Errorf("comment %s: Redmine deletes a note edited to nothing; not editing it to an empty body: %w", old.ID, adapters.ErrRejected)
		}
		edits = append(edits, edit{j: j, text: text, priv: internal})
		return nil
	}
	for _, c := range p.AddComments {
		if old, ok := bySync[c.SyncID]; ok && c.SyncID != "" {
			if err := addEdit(old, c.Body, c.Internal); err != nil {
				return fail(err)
			}
			continue
		}
		if strings.TrimSpace(c.Body) == "" && c.SyncID == "" {
			continue // Redmine keeps no empty note
		}
		notes = append(notes, c)
		if c.SyncID != "" {
			bySync[c.SyncID] = c // a retransmission within the patch
		}
	}
	for _, e := range p.EditComments {
		old, ok := byID[e.ID]
		if !ok && e.ID == "" && e.SyncID != "" {
			old, ok = bySync[e.SyncID]
		}
		if !ok {
			return fail(fmt.Errorf("comment %q: not on the issue: %w", e.ID, adapters.ErrNotFound))
		}
		if err := addEdit(old, e.Body, e.Internal); err != nil {
			return fail(err)
		}
	}
	// Send.
	path := fmt.Sprintf("/issues/%d.json", id)
	sent := false
	put := func(f fields, idempotent bool) error {
		sent = true
		_, err := t.c.Do(ctx, rest.Request{Method: http.MethodPut, Path: path, Body: map[string]any{"issue": f}, Idempotent: idempotent}, nil)
		return err
	}
	if len(notes) == 0 && len(f) > 0 {
		if err := put(f, true); err != nil {
			return fail(err)
		}
	}
	for i, c := range notes {
		text, marker, err := noteText(c, nc.markerCF != 0)
		if err != nil {
			return fail(err)
		}
		g := fields{"notes": text}
		if c.Internal {
			g["private_notes"] = true
		}
		if i == 0 {
			for k, v := range f {
				g[k] = v
			}
		}
		if marker != "" {
			g["custom_fields"] = append(slices.Clone(cfsOf(g)), map[string]any{"id": nc.markerCF, "value": marker})
		}
		if err := put(g, false); err != nil {
			return fail(err)
		}
	}
	for _, e := range edits {
		sent = true
		body := map[string]any{"journal": map[string]any{"notes": e.text, "private_notes": e.priv}}
		if _, err := t.c.Do(ctx, rest.Request{Method: http.MethodPut, Path: fmt.Sprintf("/journals/%d.json", e.j), Body: body, Idempotent: true}, nil); err != nil {
			return fail(fmt.Errorf("edit note %d: %w", e.j, err))
		}
	}
	more, err := t.applyAfter(ctx, nc, w, cur, p)
	if err != nil {
		return fail(err)
	}
	if !sent && !more {
		return cur, t.fillDigests(ctx, &cur)
	}
	w, err = t.getWire(ctx, id)
	if err != nil {
		return adapters.Issue{}, err
	}
	after := t.convert(w, nc)
	for what, name := range want {
		got := map[string]string{"status": after.Status, "priority": after.Priority, "tracker": after.Extra["tracker"]}[what]
		if !strings.EqualFold(got, name) {
			why := ""
			if what == "status" {
				why = fmt.Sprintf(" (Redmine's workflow for this tracker and the API key's roles does not allow %q -> %q)", cur.Status, name)
			}
			return fail(fmt.Errorf("the %s is still %q, not %q: Redmine did not take it%s: %w", what, got, name, why, adapters.ErrRejected))
		}
	}
	return after, t.fillDigests(ctx, &after)
}
