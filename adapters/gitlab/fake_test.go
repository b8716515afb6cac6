package gitlab

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake is a stateful in-process GitLab serving the REST endpoints the
// adapter uses, written from GitLab's REST documentation (the URL of each
// is beside its handler). GitLab's openapi_v2.yaml lacks issues and notes,
// so the shapes follow the documentation's example bodies (testdata/).
// It stamps in milliseconds like GitLab, lets a note touch its issue's
// updated_at (as GitLab's Note model does), sends RateLimit-* headers, and
// can be told to answer 429 with Retry-After.
type fake struct {
	srv     *httptest.Server
	project string

	mu        sync.Mutex
	issues    []*fIssue
	nextNote  int64
	last      time.Time
	requests  int
	throttle  int // answer this many requests 429 first
	users     map[string]int64
	milestone map[string]int64
}

type fIssue struct {
	ID           int64     `json:"id"`
	IID          int64     `json:"iid"`
	ProjectID    int64     `json:"project_id"`
	Title        string    `json:"title"`
	Description  string    `json:"description"`
	State        string    `json:"state"`
	Labels       []string  `json:"labels"`
	Confidential bool      `json:"confidential"`
	Weight       *int64    `json:"weight"`
	DueDate      *string   `json:"due_date"`
	Milestone    any       `json:"milestone"`
	Assignees    []fUser   `json:"assignees"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	notes        []*fNote
}

type fUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

type fNote struct {
	ID           int64     `json:"id"`
	Body         string    `json:"body"`
	Author       fUser     `json:"author"`
	System       bool      `json:"system"`
	Internal     bool      `json:"internal"`
	Confidential bool      `json:"confidential"`
	NoteableType string    `json:"noteable_type"`
	NoteableIID  int64     `json:"noteable_iid"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func newFake(t testing.TB) *fake {
	f := &fake{project: "acme/widgets", users: map[string]int64{"alice": 11, "bob": 12}, milestone: map[string]int64{"v1.0": 21}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// now is a strictly increasing millisecond stamp.
func (f *fake) now() time.Time {
	n := time.Now().UTC().Truncate(time.Millisecond)
	if !n.After(f.last) {
		n = f.last.Add(time.Millisecond)
	}
	f.last = n
	return n
}

func (f *fake) write(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(v)
}

func (f *fake) fail(w http.ResponseWriter, st int, msg string) {
	f.write(w, st, map[string]string{"message": msg})
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	// https://docs.gitlab.com/security/rate_limits/#headers
	// RateLimit-Limit is left out: from it the client paces itself to
	// two thirds of the limit (22 requests/s for GitLab.com's 2000 a
	// minute), which would slow the tests, not change what they show.
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(max(0, 2000-f.requests)))
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	if f.throttle > 0 {
		f.throttle--
		w.Header().Set("Retry-After", "1")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
		f.fail(w, http.StatusTooManyRequests, "Retry later")
		return
	}
	if r.Header.Get("PRIVATE-TOKEN") != "tok" {
		f.fail(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v4/")
	parts := strings.Split(path, "/")
	if path == "user" && r.Method == http.MethodGet { // https://docs.gitlab.com/api/users/#retrieve-the-current-user
		f.write(w, 200, map[string]any{"id": 1, "username": "bot", "state": "active"})
		return
	}
	if parts[0] == "users" && r.Method == http.MethodGet { // https://docs.gitlab.com/api/users/#list-users
		out := []fUser{}
		if id, ok := f.users[r.URL.Query().Get("username")]; ok {
			out = append(out, fUser{ID: id, Username: r.URL.Query().Get("username")})
		}
		f.write(w, 200, out)
		return
	}
	if len(parts) < 2 || parts[0] != "projects" {
		f.fail(w, 404, "404 Not Found")
		return
	}
	if pid, _ := url.PathUnescape(parts[1]); pid != f.project {
		f.fail(w, 404, "404 Project Not Found")
		return
	}
	rest := parts[2:]
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet: // https://docs.gitlab.com/api/projects/#get-a-single-project
		f.write(w, 200, map[string]any{"id": 1, "path_with_namespace": f.project, "issues_enabled": true, "issues_access_level": "enabled", "visibility": "private",
			"permissions": map[string]any{"project_access": map[string]int{"access_level": 30}}})
	case len(rest) == 1 && rest[0] == "milestones" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/milestones/#list-project-milestones
		out := []map[string]any{}
		if id, ok := f.milestone[r.URL.Query().Get("title")]; ok {
			out = append(out, map[string]any{"id": id, "iid": 1, "title": r.URL.Query().Get("title")})
		}
		f.write(w, 200, out)
	case len(rest) == 1 && rest[0] == "issues" && r.Method == http.MethodGet:
		f.list(w, r)
	case len(rest) == 1 && rest[0] == "issues" && r.Method == http.MethodPost:
		f.create(w, r)
	case len(rest) >= 2 && rest[0] == "issues":
		iid, _ := strconv.ParseInt(rest[1], 10, 64)
		var is *fIssue
		for _, x := range f.issues {
			if x.IID == iid {
				is = x
			}
		}
		if is == nil {
			f.fail(w, 404, "404 Issue Not Found")
			return
		}
		switch {
		case len(rest) == 2 && r.Method == http.MethodGet: // https://docs.gitlab.com/api/issues/#single-project-issue
			f.write(w, 200, is)
		case len(rest) == 2 && r.Method == http.MethodPut:
			f.edit(w, r, is)
		case len(rest) == 3 && rest[2] == "notes" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/notes/#list-project-issue-notes
			f.listNotes(w, r, is)
		case len(rest) == 3 && rest[2] == "notes" && r.Method == http.MethodPost: // https://docs.gitlab.com/api/notes/#create-new-issue-note
			var in struct {
				Body     string `json:"body"`
				Internal bool   `json:"internal"`
			}
			if json.NewDecoder(r.Body).Decode(&in) != nil || in.Body == "" {
				f.fail(w, 400, "body is missing")
				return
			}
			f.nextNote++
			now := f.now()
			n := &fNote{ID: 1000 + f.nextNote, Body: in.Body, Author: fUser{ID: 1, Username: "bot"}, Internal: in.Internal, Confidential: in.Internal,
				NoteableType: "Issue", NoteableIID: is.IID, CreatedAt: now, UpdatedAt: now}
			is.notes = append(is.notes, n)
			is.UpdatedAt = now
			f.write(w, 201, n)
		case len(rest) == 4 && rest[2] == "notes" && r.Method == http.MethodPut: // https://docs.gitlab.com/api/notes/#modify-existing-issue-note
			id, _ := strconv.ParseInt(rest[3], 10, 64)
			var in struct {
				Body string `json:"body"`
			}
			json.NewDecoder(r.Body).Decode(&in)
			for _, n := range is.notes {
				if n.ID == id && !n.System {
					n.Body, n.UpdatedAt = in.Body, f.now()
					is.UpdatedAt = n.UpdatedAt
					f.write(w, 200, n)
					return
				}
			}
			f.fail(w, 404, "404 Note Not Found")
		default:
			f.fail(w, 404, "404 Not Found")
		}
	default:
		f.fail(w, 404, "404 Not Found")
	}
}

// labelsOf reads labels as GitLab takes them: a comma-separated string
// (or an array).
func labelsOf(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		out := []string{}
		for l := range strings.SplitSeq(s, ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	var a []string
	json.Unmarshal(raw, &a)
	slices.Sort(a)
	return a
}

type issueIn struct {
	Title        *string          `json:"title"`
	Description  *string          `json:"description"`
	Labels       *json.RawMessage `json:"labels"`
	Confidential *bool            `json:"confidential"`
	AssigneeIDs  *[]int64         `json:"assignee_ids"`
	MilestoneID  *json.RawMessage `json:"milestone_id"`
	DueDate      *json.RawMessage `json:"due_date"`
	Weight       *json.RawMessage `json:"weight"`
	StateEvent   *string          `json:"state_event"`
}

// decodeIssue reads a create or edit body; a key sent as null (the
// client's way to remove a due date, weight or milestone) is kept as
// "null" rather than lost.
func decodeIssue(r *http.Request) (issueIn, error) {
	var raw map[string]json.RawMessage
	var in issueIn
	b, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(b, &raw)
	}
	if err == nil {
		err = json.Unmarshal(b, &in)
	}
	null := json.RawMessage("null")
	for k, p := range map[string]**json.RawMessage{"due_date": &in.DueDate, "weight": &in.Weight, "milestone_id": &in.MilestoneID} {
		if v, ok := raw[k]; ok && string(v) == "null" {
			*p = &null
		}
	}
	return in, err
}

func (f *fake) apply(is *fIssue, in issueIn) error {
	if in.Title != nil {
		if strings.TrimSpace(*in.Title) == "" {
			return fmt.Errorf("title is empty")
		}
		is.Title = *in.Title
	}
	if in.Description != nil {
		is.Description = *in.Description
	}
	if in.Labels != nil {
		is.Labels = labelsOf(*in.Labels)
	}
	if in.Confidential != nil {
		is.Confidential = *in.Confidential
	}
	if in.AssigneeIDs != nil {
		is.Assignees = []fUser{}
		for _, id := range *in.AssigneeIDs {
			for n, uid := range f.users {
				if uid == id {
					is.Assignees = append(is.Assignees, fUser{ID: id, Username: n})
				}
			}
		}
	}
	if in.MilestoneID != nil {
		var id int64
		json.Unmarshal(*in.MilestoneID, &id)
		is.Milestone = nil
		for title, mid := range f.milestone {
			if mid == id {
				is.Milestone = map[string]any{"id": mid, "title": title}
			}
		}
	}
	if in.DueDate != nil {
		var d *string
		json.Unmarshal(*in.DueDate, &d)
		is.DueDate = d
	}
	if in.Weight != nil {
		var wt *int64
		json.Unmarshal(*in.Weight, &wt)
		is.Weight = wt
	}
	if in.StateEvent != nil {
		switch *in.StateEvent {
		case "close":
			is.State = "closed"
		case "reopen":
			is.State = "opened"
		default:
			return fmt.Errorf("state_event does not have a valid value")
		}
	}
	return nil
}

// create: https://docs.gitlab.com/api/issues/#new-issue
func (f *fake) create(w http.ResponseWriter, r *http.Request) {
	in, err := decodeIssue(r)
	if err != nil || in.Title == nil || strings.TrimSpace(*in.Title) == "" {
		f.fail(w, 400, "title is missing")
		return
	}
	now := f.now()
	iid := int64(len(f.issues) + 1)
	is := &fIssue{ID: 500 + iid, IID: iid, ProjectID: 1, State: "opened", Labels: []string{}, Assignees: []fUser{}, CreatedAt: now, UpdatedAt: now}
	in.StateEvent = nil
	if err := f.apply(is, in); err != nil {
		f.fail(w, 400, err.Error())
		return
	}
	f.issues = append(f.issues, is)
	f.write(w, 201, is)
}

// edit: https://docs.gitlab.com/api/issues/#edit-an-issue
func (f *fake) edit(w http.ResponseWriter, r *http.Request, is *fIssue) {
	in, err := decodeIssue(r)
	if err != nil {
		f.fail(w, 400, "bad JSON")
		return
	}
	cp := *is
	if err := f.apply(&cp, in); err != nil {
		f.fail(w, 400, err.Error())
		return
	}
	cp.UpdatedAt = f.now()
	*is = cp
	f.write(w, 200, is)
}

// list: https://docs.gitlab.com/api/issues/#list-project-issues
// (updated_after is inclusive: "Return issues updated on or after the
// given time").
func (f *fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after time.Time
	if s := q.Get("updated_after"); s != "" {
		var err error
		if after, err = time.Parse(time.RFC3339Nano, s); err != nil {
			f.fail(w, 400, "updated_after is invalid")
			return
		}
	}
	search, in := q.Get("search"), q.Get("in")
	var out []*fIssue
	for _, is := range f.issues {
		if is.UpdatedAt.Before(after) {
			continue
		}
		if search != "" {
			hay := is.Title + "\n" + is.Description
			if in == "description" {
				hay = is.Description
			}
			if !strings.Contains(strings.ToLower(hay), strings.ToLower(search)) {
				continue
			}
		}
		out = append(out, is)
	}
	if q.Get("order_by") == "updated_at" {
		slices.SortStableFunc(out, func(a, b *fIssue) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	} else {
		slices.SortStableFunc(out, func(a, b *fIssue) int { return a.CreatedAt.Compare(b.CreatedAt) })
	}
	if q.Get("sort") != "asc" {
		slices.Reverse(out)
	}
	page(f, w, r, out)
}

func (f *fake) listNotes(w http.ResponseWriter, r *http.Request, is *fIssue) {
	page(f, w, r, is.notes)
}

// page serves one page with GitLab's pagination headers
// (https://docs.gitlab.com/api/rest/#pagination).
func page[T any](f *fake, w http.ResponseWriter, r *http.Request, all []T) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 20
	}
	per = min(per, 100)
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	p = max(p, 1)
	from := min(len(all), (p-1)*per)
	to := min(len(all), from+per)
	if to < len(all) {
		w.Header().Set("X-Next-Page", strconv.Itoa(p+1))
	}
	w.Header().Set("X-Page", strconv.Itoa(p))
	w.Header().Set("X-Per-Page", strconv.Itoa(per))
	w.Header().Set("X-Total", strconv.Itoa(len(all)))
	out := all[from:to]
	if out == nil {
		out = []T{}
	}
	f.write(w, 200, out)
}
