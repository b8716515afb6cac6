// Package rt is the issuemesh adapter of Request Tracker (tested with RT
// 5.0), a client of its REST2 API.
//
// # Set-up
//
// The node authenticates with an RT auth token (header "Authorization:
// token ..."), read from the file named by tracker.token_file or from the
// environment variable ISSUEMESH_RT_TOKEN, never from config.yaml itself.
// Tickets are created in, and changes read from, one queue
// (tracker.queue). Two ticket custom fields, freeform with one value,
// applied to the queue or globally (scripts/rt.sh creates them):
//
//   - "issuemesh twin" keeps the twin ID of a ticket created by sync, for
//     FindByTwin. Without it twin IDs are not kept, so a crash between
//     creating a ticket and linking it may create a duplicate; `issuemesh
//     tracker check` warns about it.
//   - "issuemesh labels" keeps the labels, comma-separated and sorted (RT
//     has no labels). Without it labels are not kept.
//
// and one transaction custom field, freeform with one value, applied
// globally, with no right to see it granted (only superusers see it):
//
//   - "issuemesh marker" keeps the markers of the messages the adapter
//     writes, so that no marker reaches a requestor's or watcher's mail
//     (see marker.go). Without it the markers are the messages' last
//     lines, which RT mails as they are; `issuemesh tracker check` warns.
//
// # Fields
//
// Key is the ticket number ("17"; "#17" is accepted). Summary is the
// subject. RT has no description: it is the ticket's first message, and a
// changed description is added as an internal comment ending with the
// marker line "[issuemesh:description]" that becomes the description (the
// latest such comment wins) and is not listed as a comment. Status is RT's
// status word; for queues with the default lifecycle (new, open, stalled,
// resolved, rejected, deleted) an unknown one is rejected before anything
// is sent, names matching without regard to case. Priority is a name of
// Options.Priorities (RT's default %PriorityAsString: Low 0, Medium 50,
// High 100) or a number 0 to 100; RT stores numbers, read back as the
// name whose value is the highest not above it, as RT shows them. RT
// answers 200 even when it refuses a change, so every update is read back
// and a field that did not take is rejected with RT's own messages.
//
// Owner, Creator, Requestors, Due, Starts, the ticket custom fields and the
// links map to assignee, reporter, watchers, dates, custom fields and
// relations as fields.go describes, which also declares what RT lacks.
//
// # Comments
//
// Comments are the Comment (internal) and Correspond (public) transactions
// with a text part; the create transaction is the description. An added
// comment is internal -> comment, public -> correspond. A comment added by
// sync starts with "Alice (partner) wrote:" (RT cannot set the author) and
// carries the marker "[issuemesh:comment ID]" in the transaction custom
// field "issuemesh marker" (or, without that field, as its last line,
// visible); reading strips the author line. The markers below live in the
// same place. RT cannot edit a
// transaction, so an edit is a new transaction ending with
// "[issuemesh:edit N]" that replaces the body of comment N when read; the
// comment keeps N as its ID. RT reopens a resolved ticket when
// correspondence is added; when the patch does not set the status itself,
// the adapter puts the status back afterwards.
//
// # Attachments
//
// The adapter implements adapters.Attachments: a file is added as an
// internal comment carrying it, whose text ends with the markers
// "[issuemesh:sha256 HEX]" and "[issuemesh:file ID]"; that comment is not
// listed as a comment. Files added in RT itself are downloaded once to
// learn their digest. A file whose sync ID or digest the ticket has is
// never added again. See attach.go.
//
// # Changes
//
// Changes searches the queue with TicketSQL "LastUpdated >= '...'", oldest
// first, and deduplicates the one-second window as package feed describes.
// RT reads the dates of TicketSQL in the token owner's time zone (or RT's
// $Timezone): Options.Location must name it (default UTC). The adapter
// checks that with a ticket it knows, once an hour, and refuses to read
// changes with a clear error when RT answers for another zone, rather
// than miss changes. The issues Changes returns carry the subject, status,
// priority, labels, twin and times, but no description and no comments:
// Get gives those.
package rt

import (
	"context"
	"encoding/json"
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

// Names of the custom fields the adapter uses.
const (
	TwinField   = "issuemesh twin"
	LabelsField = "issuemesh labels"
	// MarkerField is the transaction custom field that keeps the markers
	// of the messages the adapter writes (see "Markers" in the package doc).
	MarkerField = "issuemesh marker"
)

// EnvToken is the environment variable read when no token file is given.
const EnvToken = "ISSUEMESH_RT_TOKEN"

// LoadToken reads the auth token from file or, when file is empty, from
// ISSUEMESH_RT_TOKEN. Errors name the config key tracker.token_file.
func LoadToken(file string, log *slog.Logger) (string, error) {
	return rest.ReadSecret(file, EnvToken, "tracker.token_file", log)
}

// DefaultLifecycle are the statuses of RT's default lifecycle.
var DefaultLifecycle = []string{"new", "open", "stalled", "resolved", "rejected", "deleted"}

// DefaultPriorities is RT's default %PriorityAsString.
func DefaultPriorities() map[string]int { return map[string]int{"Low": 0, "Medium": 50, "High": 100} }

// queueTTL is how long the queue's lifecycle and custom fields are trusted.
const queueTTL = 10 * time.Minute

// tzCheckEvery is how often the time zone of TicketSQL dates is checked.
const tzCheckEvery = time.Hour

// Options configure New.
type Options struct {
	// URL of RT, e.g. http://127.0.0.1:8080 (the REST2 path /REST/2.0 is
	// added unless the URL ends with it).
	URL string
	// Token is an RT auth token.
	Token string
	// Queue is the name (or number) of the queue synced.
	Queue string
	// Location is the time zone in which RT reads TicketSQL dates; nil
	// means UTC.
	Location *time.Location
	// Priorities maps priority names to RT's numbers; nil means
	// DefaultPriorities.
	Priorities map[string]int
	// Settle is the feed's settle time (default feed.DefaultSettle).
	Settle time.Duration
	// HTTP tunes the client (timeouts, rate, retries); BaseURL, Name and
	// Header are set by New.
	HTTP rest.Options
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Tracker is an RT queue seen as an adapters.Tracker. It is safe for
// concurrent use.
type Tracker struct {
	c      *rest.Client
	queue  string
	loc    *time.Location
	prios  map[string]int
	settle time.Duration
	log    *slog.Logger

	// msgs is held for writing while a message is added and for reading
	// while a ticket is read: RT records a message's transaction custom
	// fields (its markers) only after the message itself, so a read in
	// between would take this adapter's own synced comment or file for a
	// person's, and send it back (marker.go).
	msgs sync.RWMutex

	mu        sync.Mutex
	q         *queueInfo // nil until loaded
	tzChecked time.Time
	warned    map[string]bool
	digests   map[string]string // SHA-256 of files by attachment ID, as computed (files never change)
}

var _ adapters.Tracker = (*Tracker)(nil)

// New returns the adapter. It does no I/O: Check verifies the set-up.
func New(opts Options) (*Tracker, error) {
	if opts.Token == "" {
		return nil, errors.New("rt: no auth token given")
	}
	if strings.TrimSpace(opts.Queue) == "" {
		return nil, errors.New("rt: no queue given")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "rt")
	base := strings.TrimRight(opts.URL, "/")
	if !strings.HasSuffix(base, "/REST/2.0") {
		base += "/REST/2.0"
	}
	ho := opts.HTTP
	ho.BaseURL, ho.Name, ho.Logger = base, "RT", log
	ho.Header = http.Header{"Authorization": {"token " + opts.Token}, "User-Agent": {"issuemesh"}}
	c, err := rest.New(ho)
	if err != nil {
		return nil, fmt.Errorf("rt: url: %w", err)
	}
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	prios := opts.Priorities
	if prios == nil {
		prios = DefaultPriorities()
	}
	return &Tracker{c: c, queue: strings.TrimSpace(opts.Queue), loc: loc, prios: prios, settle: opts.Settle, log: log, warned: map[string]bool{}}, nil
}

// Close releases idle connections.
func (t *Tracker) Close() error {
	t.c.Close()
	return nil
}

// ---- wire types ----

type obj struct {
	ID   flexString `json:"id"`
	Type string     `json:"type"`
}

// flexString takes a JSON string or number (RT sends ids both ways).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = ""
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = flexString(v)
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return fmt.Errorf("want a string or a number, got %.40s", s)
	}
	*f = flexString(s)
	return nil
}

type cfValue struct {
	ID     flexString `json:"id"`
	Name   string     `json:"name"`
	Values []string   `json:"values"`
}

type wireTicket struct {
	ID           flexString `json:"id"`
	Subject      string     `json:"Subject"`
	Status       string     `json:"Status"`
	Priority     flexString `json:"Priority"`
	Queue        *obj       `json:"Queue"`
	Created      string     `json:"Created"`
	LastUpdated  string     `json:"LastUpdated"`
	CustomFields []cfValue  `json:"CustomFields"`
	// The fields of issue 16 (fields.go).
	Owner     *obj       `json:"Owner"`
	Creator   *obj       `json:"Creator"`
	Requestor []obj      `json:"Requestor"`
	Due       string     `json:"Due"`
	Starts    string     `json:"Starts"`
	Links     []wireLink `json:"_hyperlinks"`
}

func (w *wireTicket) cf(name string) (string, bool) {
	for _, c := range w.CustomFields {
		if c.Name == name {
			if len(c.Values) == 0 {
				return "", true
			}
			return c.Values[0], true
		}
	}
	return "", false
}

type collection[T any] struct {
	Items   *[]T    `json:"items"`
	Page    int     `json:"page"`
	PerPage int     `json:"per_page"`
	Pages   float64 `json:"pages"` // RT sends 0.0 for none
	Total   int     `json:"total"`
}

type wireTxn struct {
	ID   flexString `json:"id"`
	Type string     `json:"Type"`
	// Kind takes RT's "type" ("transaction"), which would otherwise land
	// in Type: encoding/json matches keys without regard to case.
	Kind    string `json:"type"`
	Created string `json:"Created"`
	Creator *obj   `json:"Creator"`
	// CustomFields are the transaction custom fields: a list, or "" when
	// none applies to the ticket's queue.
	CustomFields json.RawMessage `json:"CustomFields"`
}

type wireAttachment struct {
	TransactionID flexString `json:"TransactionId"`
	ContentType   string     `json:"ContentType"`
	Content       string     `json:"Content"`
	Filename      string     `json:"Filename"`
}

type queueInfo struct {
	loaded    time.Time
	id        string
	name      string
	lifecycle string
	twinCF    bool
	labelsCF  bool
	markerCF  bool     // the transaction custom field MarkerField applies
	ticketCFs []string // the names of the ticket custom fields (fields.go)
}

// ---- requests ----

func (t *Tracker) do(ctx context.Context, req rest.Request, out any) (*rest.Response, error) {
	return t.c.Do(ctx, req, out)
}

func (t *Tracker) get(ctx context.Context, path string, q url.Values, out any) error {
	_, err := t.do(ctx, rest.Request{Method: http.MethodGet, Path: path, Query: q}, out)
	return err
}

// all pages a collection (GET, or POST with a search body).
func all[T any](ctx context.Context, t *Tracker, path string, q url.Values, search any) ([]T, error) {
	var out []T
	for page := 1; ; page++ {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("page", strconv.Itoa(page))
		qq.Set("per_page", "100")
		var col collection[T]
		req := rest.Request{Method: http.MethodGet, Path: path, Query: qq}
		if search != nil {
			req = rest.Request{Method: http.MethodPost, Path: path, Query: qq, Body: search, Idempotent: true}
		}
		if _, err := t.do(ctx, req, &col); err != nil {
			return nil, err
		}
		if col.Items == nil {
			return nil, fmt.Errorf("%s %s%s: the answer has no items list: %w", req.Method, t.c.BaseURL(), path, adapters.ErrBadAnswer)
		}
		out = append(out, *col.Items...)
		if len(*col.Items) == 0 || float64(page) >= col.Pages || page >= 1000 {
			return out, nil
		}
	}
}

func parseKey(key string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(key), "#"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("rt has no ticket %q (RT keys are ticket numbers, like 17): %w", key, adapters.ErrNotFound)
	}
	return n, nil
}

// queueInfo loads (once) the queue's id, lifecycle and custom fields.
func (t *Tracker) queueInfo(ctx context.Context) (*queueInfo, error) {
	t.mu.Lock()
	q := t.q
	t.mu.Unlock()
	if q != nil && time.Since(q.loaded) < queueTTL {
		return q, nil
	}
	var w struct {
		ID                 flexString `json:"id"`
		Name               string     `json:"Name"`
		Lifecycle          string     `json:"Lifecycle"`
		TicketCustomFields *[]struct {
			Name string `json:"name"`
		} `json:"TicketCustomFields"`
		TicketTransactionCustomFields []struct {
			Name string `json:"name"`
		} `json:"TicketTransactionCustomFields"`
	}
	if err := t.get(ctx, "/queue/"+url.PathEscape(t.queue), nil, &w); err != nil {
		if errors.Is(err, adapters.ErrNotFound) {
			return nil, &adapters.TrackerError{Class: adapters.ClassNotFound, Status: 404,
				Err: fmt.Errorf("rt queue %q does not exist or the token's user cannot see it: %w", t.queue, adapters.ErrUnavailable)}
		}
		return nil, err
	}
	if w.ID == "" || w.TicketCustomFields == nil {
		return nil, fmt.Errorf("GET %s/queue/%s: the answer is not a queue: %w", t.c.BaseURL(), t.queue, adapters.ErrBadAnswer)
	}
	q = &queueInfo{id: string(w.ID), name: w.Name, lifecycle: w.Lifecycle, loaded: time.Now()}
	for _, cf := range *w.TicketCustomFields {
		q.ticketCFs = append(q.ticketCFs, cf.Name)
		switch cf.Name {
		case TwinField:
			q.twinCF = true
		case LabelsField:
			q.labelsCF = true
		}
	}
	for _, cf := range w.TicketTransactionCustomFields {
		q.markerCF = q.markerCF || cf.Name == MarkerField
	}
	t.mu.Lock()
	t.q = q
	t.mu.Unlock()
	return q, nil
}

func (t *Tracker) warnOnce(what, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.warned[what] {
		t.warned[what] = true
		t.log.Warn(msg)
	}
}

// ---- conversion ----

func parseTime(s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil || tm.Year() <= 1970 {
		return time.Time{}
	}
	return tm.UTC()
}

// priorityName is RT's display of a number: the name whose value is the
// highest not above it.
func (t *Tracker) priorityName(p string) string {
	n, err := strconv.Atoi(p)
	if err != nil {
		return p
	}
	best, bestV := "", -1<<31
	for name, v := range t.prios {
		if n >= v && (v > bestV || (v == bestV && name < best)) {
			best, bestV = name, v
		}
	}
	if best == "" {
		return p
	}
	return best
}

func (t *Tracker) priorityNumber(p string) (int, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil && n >= 0 && n <= 100 {
		return n, nil
	}
	for name, v := range t.prios {
		if strings.EqualFold(name, strings.TrimSpace(p)) {
			return v, nil
		}
	}
	names := make([]string, 0, len(t.prios))
	for name := range t.prios {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return t.prios[a] - t.prios[b] })
	return 0, fmt.Errorf("priority %q is not an RT priority; valid: %s, or a number from 0 to 100: %w", p, quoteAll(names), adapters.ErrRejected)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// status resolves a status name for the queue's lifecycle.
func status(q *queueInfo, s string) (string, error) {
	if q.lifecycle != "" && q.lifecycle != "default" {
		return s, nil // RT checks it; the read-back reports a refusal
	}
	for _, v := range DefaultLifecycle {
		if strings.EqualFold(v, strings.TrimSpace(s)) {
			return v, nil
		}
	}
	return "", fmt.Errorf("status %q is not an RT status of queue %q; valid: %s: %w", s, q.name, quoteAll(DefaultLifecycle), adapters.ErrRejected)
}

func (t *Tracker) fromWire(w *wireTicket, q *queueInfo) adapters.Issue {
	is := adapters.Issue{
		Key:      string(w.ID),
		Summary:  w.Subject,
		Status:   w.Status,
		Priority: t.priorityName(string(w.Priority)),
		Created:  parseTime(w.Created),
		Updated:  parseTime(w.LastUpdated),
	}
	if v, ok := w.cf(TwinField); ok {
		is.TwinID = strings.TrimSpace(v)
	}
	if v, ok := w.cf(LabelsField); ok {
		is.Labels = splitLabels(v)
	}
	fillFields(&is, w)
	return is
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
			return "", fmt.Errorf("label %q contains a comma, which separates labels in RT's %q field: %w", l, LabelsField, adapters.ErrRejected)
		}
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ","), nil
}

// ---- Tracker ----

func (t *Tracker) getTicket(ctx context.Context, id int) (*wireTicket, error) {
	var w wireTicket
	if err := t.get(ctx, fmt.Sprintf("/ticket/%d", id), nil, &w); err != nil {
		if errors.Is(err, adapters.ErrNotFound) {
			return nil, fmt.Errorf("rt has no ticket %d (or the token's user cannot see it): %w", id, err)
		}
		return nil, err
	}
	if string(w.ID) != strconv.Itoa(id) {
		return nil, fmt.Errorf("GET %s/ticket/%d: the answer is not ticket %d: %w", t.c.BaseURL(), id, id, adapters.ErrBadAnswer)
	}
	return &w, nil
}

// Get returns the ticket with its description and comments.
func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	id, err := parseKey(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	is, _, err := t.get3(ctx, id)
	return is, err
}

// get3 reads the ticket, its transactions and their text parts (three
// requests, more for long histories). It also returns the wire ticket.
func (t *Tracker) get3(ctx context.Context, id int) (adapters.Issue, *wireTicket, error) {
	t.msgs.RLock()
	defer t.msgs.RUnlock()
	q, err := t.queueInfo(ctx)
	if err != nil {
		return adapters.Issue{}, nil, err
	}
	w, err := t.getTicket(ctx, id)
	if err != nil {
		return adapters.Issue{}, nil, err
	}
	is := t.fromWire(w, q)
	txns, err := all[wireTxn](ctx, t, fmt.Sprintf("/ticket/%d/history", id), url.Values{"fields": {"Type,Created,Creator,CustomFields"}}, nil)
	if err != nil {
		return adapters.Issue{}, nil, err
	}
	fieldMarks := map[string]string{} // transaction -> its marker lines kept in MarkerField
	for _, x := range txns {
		if m := x.markers(); m != "" {
			fieldMarks[string(x.ID)] = m
		}
	}
	// The texts are read after the history and the files: a transaction
	// or file listed then has its text already (they are written
	// together), whatever is added meanwhile.
	text := map[string]string{} // transaction -> its text part (text/plain preferred)
	loadText := func() (map[string]string, error) {
		atts, err := all[wireAttachment](ctx, t, fmt.Sprintf("/ticket/%d/attachments", id),
			url.Values{"fields": {"TransactionId,ContentType,Content,Filename"}},
			[]map[string]string{{"field": "ContentType", "operator": "LIKE", "value": "text/"}})
		if err != nil {
			return nil, err
		}
		for _, a := range atts {
			if a.Filename != "" {
				continue
			}
			tid := string(a.TransactionID)
			_, have := text[tid]
			if !have || strings.HasPrefix(a.ContentType, "text/plain") && !strings.HasPrefix(text[tid+"\x00type"], "text/plain") {
				text[tid] = a.Content
				text[tid+"\x00type"] = a.ContentType
			}
		}
		// Markers kept in the transaction custom field are read as if
		// they ended the text, as they do where the field is missing.
		for tid, m := range fieldMarks {
			if body, ok := text[tid]; ok {
				text[tid] = body + "\n\n" + m
			}
		}
		return text, nil
	}
	if is.Attachments, err = t.ticketFiles(ctx, id, loadText); err != nil {
		return adapters.Issue{}, nil, err
	}
	byID := map[string]int{} // comment ID -> index in is.Comments
	for _, x := range txns {
		tid := string(x.ID)
		body, ok := text[tid]
		switch x.Type {
		case "Create":
			if ok {
				is.Description, _ = textmark.Split(body)
			}
			continue
		case "Comment", "Correspond":
		default:
			continue
		}
		if !ok {
			continue
		}
		body, marks := textmark.Split(body)
		created := parseTime(x.Created)
		if _, ok := marks[textmark.File]; ok {
			continue // the message that carries a synced file
		}
		if _, ok := marks[textmark.Description]; ok {
			is.Description = body
			continue
		}
		author := ""
		if x.Creator != nil {
			author = string(x.Creator.ID)
		}
		if orig, ok := marks[textmark.Edit]; ok {
			if i, ok := byID[orig]; ok {
				c := &is.Comments[i]
				if c.SyncID != "" {
					if _, rest, ok := textmark.CutAuthor(body); ok {
						body = rest
					}
				}
				c.Body, c.Updated, c.Internal = body, created, x.Type == "Comment"
			}
			continue
		}
		syncID := marks[textmark.Comment]
		if syncID != "" {
			if a, rest, ok := textmark.CutAuthor(body); ok {
				author, body = a, rest
			}
		}
		byID[tid] = len(is.Comments)
		is.Comments = append(is.Comments, adapters.Comment{
			ID: tid, SyncID: syncID, Author: author, Body: body,
			Created: created, Updated: created, Internal: x.Type == "Comment",
		})
	}
	return is, w, nil
}

func sqlQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// search runs a TicketSQL query in the queue (one page).
func (t *Tracker) search(ctx context.Context, query string, q url.Values) (*collection[wireTicket], *rest.Response, error) {
	qq := url.Values{"query": {"Queue = " + sqlQuote(t.queue) + " AND (" + query + ")"}}
	for k, v := range q {
		qq[k] = v
	}
	var col collection[wireTicket]
	resp, err := t.do(ctx, rest.Request{Method: http.MethodGet, Path: "/tickets", Query: qq}, &col)
	if err != nil {
		return nil, nil, err
	}
	if col.Items == nil {
		return nil, nil, fmt.Errorf("GET %s/tickets: the answer has no items list: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
	}
	return &col, resp, nil
}

// FindByTwin finds the queue's ticket whose twin custom field is twin.
func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	q, err := t.queueInfo(ctx)
	if err != nil {
		return adapters.Issue{}, err
	}
	if !q.twinCF || textmark.Valid(twin) != nil {
		return adapters.Issue{}, fmt.Errorf("rt queue %s: no ticket carries the twin marker %q: %w", t.queue, twin, adapters.ErrNotFound)
	}
	col, _, err := t.search(ctx, "'CF.{"+TwinField+"}' = "+sqlQuote(twin), url.Values{"fields": {"CustomFields"}, "orderby": {"id"}, "per_page": {"10"}})
	if err != nil {
		return adapters.Issue{}, err
	}
	for _, w := range *col.Items {
		if v, _ := w.cf(TwinField); strings.TrimSpace(v) == twin {
			return t.Get(ctx, string(w.ID))
		}
	}
	return adapters.Issue{}, fmt.Errorf("rt queue %s: no ticket carries the twin marker %q: %w", t.queue, twin, adapters.ErrNotFound)
}

// Changes: see the package documentation.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	q, err := t.queueInfo(ctx)
	if err != nil {
		return nil, since, err
	}
	if since != "" {
		if err := t.checkTimezone(ctx); err != nil {
			return nil, since, err
		}
	}
	page := func(ctx context.Context, from time.Time, offset, limit int) ([]wireTicket, time.Time, error) {
		cond := "id > 0"
		if !from.IsZero() {
			cond = "LastUpdated >= " + sqlQuote(from.In(t.loc).Format("2006-01-02 15:04:05"))
		}
		col, resp, err := t.search(ctx, cond, url.Values{
			"fields":   {"Subject,Status,Priority,Created,LastUpdated,CustomFields"},
			"orderby":  {"LastUpdated", "id"},
			"order":    {"ASC", "ASC"},
			"page":     {strconv.Itoa(offset/limit + 1)},
			"per_page": {strconv.Itoa(limit)},
		})
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, w := range *col.Items {
			if w.ID == "" || parseTime(w.LastUpdated).IsZero() {
				return nil, time.Time{}, fmt.Errorf("GET %s/tickets: a ticket in the answer has no id or LastUpdated: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
			}
		}
		return *col.Items, resp.Date, nil
	}
	ws, next, err := feed.Changes(ctx, since, limit, feed.Options{Settle: t.settle}, page,
		func(w wireTicket) string { return string(w.ID) },
		func(w wireTicket) time.Time { return parseTime(w.LastUpdated) })
	if err != nil {
		return nil, since, fmt.Errorf("rt changes since %q: %w", since, err)
	}
	out := make([]adapters.Issue, len(ws))
	for i := range ws {
		out[i] = t.fromWire(&ws[i], q)
	}
	return out, next, nil
}

// checkTimezone verifies, once an hour, that RT reads TicketSQL dates in
// t.loc: the newest ticket's creation second, written in t.loc, must find
// exactly that ticket.
func (t *Tracker) checkTimezone(ctx context.Context) error {
	t.mu.Lock()
	fresh := time.Since(t.tzChecked) < tzCheckEvery
	t.mu.Unlock()
	if fresh {
		return nil
	}
	col, _, err := t.search(ctx, "id > 0", url.Values{"fields": {"Created"}, "orderby": {"id"}, "order": {"DESC"}, "per_page": {"1"}})
	if err != nil {
		return err
	}
	if len(*col.Items) == 0 {
		return nil // nothing to miss
	}
	ref := (*col.Items)[0]
	created := parseTime(ref.Created)
	if created.IsZero() {
		return fmt.Errorf("GET %s/tickets: ticket %s has no creation time: %w", t.c.BaseURL(), ref.ID, adapters.ErrBadAnswer)
	}
	match := func(from, to time.Time) (bool, error) {
		c, _, err := t.search(ctx, fmt.Sprintf("id = %s AND Created >= %s AND Created < %s", ref.ID,
			sqlQuote(from.Format("2006-01-02 15:04:05")), sqlQuote(to.Format("2006-01-02 15:04:05"))), url.Values{"per_page": {"1"}})
		if err != nil {
			return false, err
		}
		return len(*c.Items) == 1, nil
	}
	ok, err := match(created.In(t.loc), created.Add(time.Second).In(t.loc))
	if err != nil {
		return err
	}
	if ok {
		t.mu.Lock()
		t.tzChecked = time.Now()
		t.mu.Unlock()
		return nil
	}
	// Find RT's offset, for the message: the largest whole quarter hour g
	// for which "Created >= created+g" still finds the ticket.
	lo, hi := -56, 56
	for lo < hi {
		mid := (lo + hi + 1) / 2
		ok, err := match(created.UTC().Add(time.Duration(mid)*15*time.Minute), created.Add(1000*time.Hour))
		if err != nil {
			return err
		}
		if ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	_, want := created.In(t.loc).Zone()
	return fmt.Errorf("rt reads TicketSQL dates in another time zone than %s (UTC%+.2gh): it read ticket %s's creation time as UTC%+.2gh; set tracker.timezone to RT's time zone (its $Timezone, or the token user's preference), or changes would be missed: %w",
		t.loc, float64(want)/3600, ref.ID, float64(lo)/4, adapters.ErrUnavailable)
}

// Create creates the ticket in the queue, its first message being the
// description, then adds the comments and sets the status last (RT reopens
// a resolved ticket on correspondence).
func (t *Tracker) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	if strings.TrimSpace(in.Summary) == "" {
		return adapters.Issue{}, fmt.Errorf("rt create: the summary is empty: %w", adapters.ErrRejected)
	}
	q, err := t.queueInfo(ctx)
	if err != nil {
		return adapters.Issue{}, err
	}
	if len(in.Extra) > 0 {
		return adapters.Issue{}, fmt.Errorf("rt create: RT takes no extra fields (got %d): %w", len(in.Extra), adapters.ErrRejected)
	}
	body := map[string]any{"Queue": q.id, "Subject": in.Summary}
	if in.Description != "" {
		body["Content"], body["ContentType"] = in.Description, "text/plain"
	}
	var st string
	if in.Status != "" {
		if st, err = status(q, in.Status); err != nil {
			return adapters.Issue{}, fmt.Errorf("rt create: %w", err)
		}
	}
	if in.Priority != "" {
		n, err := t.priorityNumber(in.Priority)
		if err != nil {
			return adapters.Issue{}, fmt.Errorf("rt create: %w", err)
		}
		body["Priority"] = n
	}
	cfs := map[string]string{}
	if in.TwinID != "" {
		if err := textmark.Valid(in.TwinID); err != nil {
			return adapters.Issue{}, fmt.Errorf("rt create: twin ID: %w: %w", err, adapters.ErrRejected)
		}
		if q.twinCF {
			cfs[TwinField] = in.TwinID
		} else {
			t.warnOnce("twin", "RT queue "+t.queue+" has no ticket custom field \""+TwinField+"\": twin IDs are not kept, and a crash between creating and linking a ticket may create a duplicate (scripts/rt.sh shows how to create it)")
		}
	}
	if len(in.Labels) > 0 {
		v, err := joinLabels(in.Labels)
		if err != nil {
			return adapters.Issue{}, fmt.Errorf("rt create: %w", err)
		}
		if q.labelsCF {
			cfs[LabelsField] = v
		} else {
			t.warnNoLabels()
		}
	}
	if len(cfs) > 0 {
		body["CustomFields"] = cfs
	}
	hasPublic := false
	for _, c := range in.Comments {
		hasPublic = hasPublic || !c.Internal
	}
	if st != "" && !hasPublic {
		body["Status"] = st
	}
	var out struct {
		ID flexString `json:"id"`
	}
	if _, err := t.do(ctx, rest.Request{Method: http.MethodPost, Path: "/ticket", Body: body}, &out); err != nil {
		return adapters.Issue{}, fmt.Errorf("rt create: %w", err)
	}
	id, err := strconv.Atoi(string(out.ID))
	if err != nil || id <= 0 {
		return adapters.Issue{}, fmt.Errorf("rt create: POST %s/ticket: the answer holds no ticket id: %w", t.c.BaseURL(), adapters.ErrBadAnswer)
	}
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
	if in.Type != "" {
		p.Type = &in.Type
	}
	if st != "" {
		p.Status = &st
	}
	is, err := t.Update(ctx, out.ID.String(), p)
	if err != nil {
		return adapters.Issue{}, fmt.Errorf("rt create: ticket %d was created, but: %w", id, err)
	}
	return is, nil
}

func (f flexString) String() string { return string(f) }

func (t *Tracker) warnNoLabels() {
	t.warnOnce("labels", "RT queue "+t.queue+" has no ticket custom field \""+LabelsField+"\": labels are not kept (scripts/rt.sh shows how to create it)")
}

// messageText is what a comment becomes in RT: its text and the marker
// kept in MarkerField (empty when the queue lacks the field, and then the
// text ends with it).
func messageText(q *queueInfo, c adapters.Comment, kind, value string) (text, marker string, err error) {
	if kind == textmark.Comment && c.SyncID == "" {
		return c.Body, "", nil
	}
	if value != "" {
		if err := textmark.Valid(value); err != nil {
			return "", "", fmt.Errorf("comment: %w: %w", err, adapters.ErrRejected)
		}
	}
	text = textmark.WithAuthor(textmark.Visible, c.Author, c.Body)
	if q.markerCF {
		return text, textmark.Line(textmark.Visible, kind, value), nil
	}
	return textmark.Add(textmark.Visible, text, kind, value), "", nil
}

// Update applies the patch: subject, priority and custom fields in one
// request, the description and each comment or edit as a message, the
// status last; then it reads the ticket back and rejects what did not take.
func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	id, err := parseKey(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	fail := func(err error) (adapters.Issue, error) {
		return adapters.Issue{}, fmt.Errorf("rt update %d: %w", id, err)
	}
	q, err := t.queueInfo(ctx)
	if err != nil {
		return adapters.Issue{}, err
	}
	cur, w, err := t.get3(ctx, id)
	if err != nil {
		return adapters.Issue{}, err
	}
	if len(p.Extra) > 0 {
		return fail(fmt.Errorf("RT takes no extra fields (got %d): %w", len(p.Extra), adapters.ErrRejected))
	}
	set := map[string]any{}
	want := map[string]string{} // what the read-back must show
	if p.Summary != nil && *p.Summary != cur.Summary {
		if strings.TrimSpace(*p.Summary) == "" {
			return fail(fmt.Errorf("the summary is empty: %w", adapters.ErrRejected))
		}
		set["Subject"] = *p.Summary
		want["subject"] = *p.Summary
	}
	if p.Priority != nil && *p.Priority != "" && *p.Priority != cur.Priority {
		n, err := t.priorityNumber(*p.Priority)
		if err != nil {
			return fail(err)
		}
		if strconv.Itoa(n) != string(w.Priority) {
			set["Priority"] = n
			want["priority"] = strconv.Itoa(n)
		}
	}
	var newStatus string
	if p.Status != nil && *p.Status != "" {
		if newStatus, err = status(q, *p.Status); err != nil {
			return fail(err)
		}
		if newStatus == cur.Status {
			newStatus = ""
		}
	}
	cfs := map[string]string{}
	if p.TwinID != nil && *p.TwinID != cur.TwinID {
		if *p.TwinID != "" {
			if err := textmark.Valid(*p.TwinID); err != nil {
				return fail(fmt.Errorf("twin ID: %w: %w", err, adapters.ErrRejected))
			}
		}
		if q.twinCF {
			cfs[TwinField] = *p.TwinID
		} else if *p.TwinID != "" {
			t.warnOnce("twin", "RT queue "+t.queue+" has no ticket custom field \""+TwinField+"\": twin IDs are not kept")
		}
	}
	if p.Labels != nil {
		v, err := joinLabels(*p.Labels)
		if err != nil {
			return fail(err)
		}
		switch {
		case !q.labelsCF:
			if v != "" {
				t.warnNoLabels()
			}
		case v != strings.Join(cur.Labels, ","):
			cfs[LabelsField] = v
		}
	}
	if err := t.fieldsSet(ctx, q, cur, p, set, cfs); err != nil {
		return fail(err)
	}
	if len(cfs) > 0 {
		set["CustomFields"] = cfs
	}
	// Messages: description, adds (a known SyncID turns into an edit), edits.
	type msg struct {
		internal bool
		text     string
		marker   string
	}
	var msgs []msg
	if p.Description != nil && *p.Description != cur.Description {
		text, marker, _ := messageText(q, adapters.Comment{Body: *p.Description}, textmark.Description, "")
		msgs = append(msgs, msg{true, text, marker})
	}
	bySync := map[string]adapters.Comment{}
	byID := map[string]adapters.Comment{}
	for _, c := range cur.Comments {
		byID[c.ID] = c
		if c.SyncID != "" {
			bySync[c.SyncID] = c
		}
	}
	edit := func(old adapters.Comment, body string, internal bool) error {
		if old.Body == body && old.Internal == internal {
			return nil
		}
		text, marker, err := messageText(q, adapters.Comment{SyncID: old.SyncID, Author: authorIfSynced(old), Body: body}, textmark.Edit, old.ID)
		if err != nil {
			return err
		}
		msgs = append(msgs, msg{internal, text, marker})
		return nil
	}
	for _, c := range p.AddComments {
		if old, ok := bySync[c.SyncID]; ok && c.SyncID != "" {
			if err := edit(old, c.Body, c.Internal); err != nil {
				return fail(err)
			}
			continue
		}
		if strings.TrimSpace(c.Body) == "" && c.SyncID == "" {
			continue // RT would keep an empty binary part
		}
		text, marker, err := messageText(q, c, textmark.Comment, c.SyncID)
		if err != nil {
			return fail(err)
		}
		msgs = append(msgs, msg{c.Internal, text, marker})
		if c.SyncID != "" {
			bySync[c.SyncID] = c
		}
	}
	for _, e := range p.EditComments {
		old, ok := byID[e.ID]
		if !ok && e.ID == "" && e.SyncID != "" {
			old, ok = bySync[e.SyncID]
		}
		if !ok {
			return fail(fmt.Errorf("comment %q: not on the ticket: %w", e.ID, adapters.ErrNotFound))
		}
		if err := edit(old, e.Body, e.Internal); err != nil {
			return fail(err)
		}
	}
	if len(set) == 0 && len(msgs) == 0 && newStatus == "" {
		return cur, nil
	}
	var notes []string // RT's answers, for the error if something did not take
	put := func(body map[string]any) error {
		var answer []string
		_, err := t.do(ctx, rest.Request{Method: http.MethodPut, Path: fmt.Sprintf("/ticket/%d", id), Body: body, Idempotent: true}, &answer)
		notes = append(notes, answer...)
		return err
	}
	if len(set) > 0 {
		if err := put(set); err != nil {
			return fail(err)
		}
	}
	public := false
	for _, m := range msgs {
		path := fmt.Sprintf("/ticket/%d/correspond", id)
		if m.internal {
			path = fmt.Sprintf("/ticket/%d/comment", id)
		} else {
			public = true
		}
		answer, err := t.postMessage(ctx, path, map[string]any{"Content": m.text, "ContentType": "text/plain"}, m.marker)
		if err != nil {
			return fail(err)
		}
		notes = append(notes, answer...)
	}
	if newStatus == "" && public {
		// Correspondence may have reopened the ticket: put the status back.
		if w2, err := t.getTicket(ctx, id); err == nil && w2.Status != cur.Status {
			newStatus = cur.Status
		}
	}
	if newStatus != "" {
		if err := put(map[string]any{"Status": newStatus}); err != nil {
			return fail(err)
		}
		want["status"] = newStatus
	}
	var after adapters.Issue
	var aw *wireTicket
	if len(msgs) == 0 {
		// Only the ticket's own fields changed: its description, comments
		// and files are as read before, so the read back is the ticket
		// alone (one request, not the three or more of get3).
		if aw, err = t.getTicket(ctx, id); err != nil {
			return adapters.Issue{}, err
		}
		after = t.fromWire(aw, q)
		after.Description, after.Comments, after.Attachments = cur.Description, cur.Comments, cur.Attachments
	} else if after, aw, err = t.get3(ctx, id); err != nil {
		return adapters.Issue{}, err
	}
	got := map[string]string{"subject": after.Summary, "priority": string(aw.Priority), "status": after.Status}
	for what, v := range want {
		if !strings.EqualFold(got[what], v) {
			return fail(fmt.Errorf("the %s is %q, not %q: RT did not take it (RT said: %s): %w", what, got[what], v, strings.Join(notes, "; "), adapters.ErrRejected))
		}
	}
	return after, nil
}

func authorIfSynced(c adapters.Comment) string {
	if c.SyncID != "" {
		return c.Author
	}
	return ""
}
