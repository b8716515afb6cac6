// Package glfake is a stateful in-process GitLab for the tests of the
// GitLab adapter and the e2e tests, written from GitLab's REST
// documentation (the URL of each endpoint's page is beside its handler).
//
// It serves what the adapter uses: the current user, users, the project,
// its milestones, issues (list with updated_after, single, new, edit),
// notes (list, create, edit, delete), issue links (list, create, delete)
// and markdown uploads (upload, download by secret and filename). It
// stamps in milliseconds like GitLab, lets a note touch its issue's
// updated_at (as GitLab's Note model does), sends RateLimit-* headers, and
// can be told to answer 429 with Retry-After.
//
// # What is validated
//
// GitLab's machine-readable description (doc/api/openapi/openapi_v2.yaml)
// lacks issues, notes, issue links and uploads, and no registry serves one.
// So the fake checks its exchanges against the documentation instead:
//   - every JSON answer against the example body of its endpoint
//     (testdata/, each with its source URL): the answer may hold only keys
//     the example has, at the same place, each of the example's JSON type
//     (null is taken for any type, as GitLab sends null for unset values);
//   - every request's JSON body and query against the attributes the
//     endpoint's documentation lists.
//
// What breaks either is recorded (Violations) and fails the test that
// made the fake. Not validated: that the answer holds every key GitLab
// sends (the fake leaves out what the adapter does not read), value
// formats beyond the JSON type, and GitLab's permission rules.
package glfake

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed testdata/*.json
var examples embed.FS

// Token is the personal access token the fake takes.
const Token = "glpat-fake"

// User is a GitLab user as the fake keeps it.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	State    string `json:"state"`
	WebURL   string `json:"web_url,omitempty"`
}

// Milestone is a project milestone.
type Milestone struct {
	ID        int64  `json:"id"`
	IID       int64  `json:"iid"`
	ProjectID int64  `json:"project_id"`
	Title     string `json:"title"`
	State     string `json:"state"`
}

// Issue is an issue as the fake keeps it and sends it.
type Issue struct {
	ID           int64      `json:"id"`
	IID          int64      `json:"iid"`
	ProjectID    int64      `json:"project_id"`
	Title        string     `json:"title"`
	Description  string     `json:"description"`
	State        string     `json:"state"`
	Labels       []string   `json:"labels"`
	Confidential bool       `json:"confidential"`
	Weight       *int64     `json:"weight"`
	DueDate      *string    `json:"due_date"`
	Milestone    *Milestone `json:"milestone"`
	Assignees    []User     `json:"assignees"`
	Author       User       `json:"author"`
	IssueType    string     `json:"issue_type"`
	Epic         any        `json:"epic"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	WebURL       string     `json:"web_url"`
	Notes        []*Note    `json:"-"`
}

// Author is a note's author, as the notes page shows it.
type Author struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	State    string `json:"state"`
}

// Note is a note (comment or system note) of an issue.
type Note struct {
	ID           int64     `json:"id"`
	Body         string    `json:"body"`
	Author       Author    `json:"author"`
	System       bool      `json:"system"`
	Internal     bool      `json:"internal"`
	Confidential bool      `json:"confidential"`
	NoteableType string    `json:"noteable_type"`
	NoteableIID  int64     `json:"noteable_iid"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Link is an issue link: Source Type Target (blocks, relates_to).
type Link struct {
	ID             int64
	Source, Target int64 // issue IIDs
	Type           string
	Created        time.Time
}

// Upload is a markdown upload.
type Upload struct {
	ID               int64
	Secret, Filename string
	Data             []byte
}

// Fake is the GitLab. Lock Mu to read or change its state.
type Fake struct {
	Mu         sync.Mutex
	Project    string
	Issues     []*Issue
	Links      []*Link
	Uploads    []*Upload
	Users      map[string]User // by username
	Milestones map[string]*Milestone
	Bot        User // the token's user
	// Requests counts every request; Throttle answers that many 429
	// (Retry-After 1) first.
	Requests, Throttle int
	ByRoute            map[string]int // requests by "METHOD route"

	t          testing.TB
	srv        *http.Server
	addr       string
	last       time.Time
	next       int64
	violations []string
	shapes     map[string]any
}

// New returns a fake holding project "acme/widgets", the users alice and
// bob, the milestone v1.0, serving on loopback; it stops, and fails t on
// any violation of GitLab's documented shapes, when the test ends.
func New(t testing.TB) *Fake {
	f := &Fake{Project: "acme/widgets", t: t, Bot: User{ID: 1, Username: "issuemesh-bot", Name: "issuemesh", State: "active"},
		Users: map[string]User{}, Milestones: map[string]*Milestone{}, ByRoute: map[string]int{}, shapes: map[string]any{}}
	for _, u := range []User{{ID: 11, Username: "alice", Name: "Alice Liddell"}, {ID: 12, Username: "bob", Name: "Bob Dylan"}} {
		f.AddUser(u)
	}
	f.Milestones["v1.0"] = &Milestone{ID: 21, IID: 1, ProjectID: 1, Title: "v1.0", State: "active"}
	f.Milestones["ACME"] = &Milestone{ID: 22, IID: 2, ProjectID: 1, Title: "ACME", State: "active"}
	ents, err := examples.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := examples.ReadFile("testdata/" + e.Name())
		var ex struct {
			Source string `json:"source"`
			Body   any    `json:"body"`
		}
		if err := json.Unmarshal(b, &ex); err != nil || ex.Source == "" {
			t.Fatalf("glfake: testdata/%s: %v (or no source)", e.Name(), err)
		}
		f.shapes[strings.TrimSuffix(e.Name(), ".json")] = ex.Body
	}
	f.Start()
	t.Cleanup(func() {
		f.Stop()
		if v := f.Violations(); len(v) > 0 {
			t.Errorf("the GitLab fake saw %d exchanges outside GitLab's documented shapes:\n%s", len(v), strings.Join(v, "\n"))
		}
	})
	return f
}

// AddUser adds a user GitLab knows.
func (f *Fake) AddUser(u User) {
	if u.State == "" {
		u.State = "active"
	}
	u.WebURL = "https://gitlab.example.com/" + u.Username
	f.Users[u.Username] = u
}

// Start serves (again, on the same address after Stop).
func (f *Fake) Start() {
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger a moment
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("glfake: listen on %s: %v", addr, err)
	}
	f.addr = l.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(l)
}

// Stop stops serving at once (open connections are cut), as a GitLab that
// went down; its state is kept for Start.
func (f *Fake) Stop() {
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
}

// URL is GitLab's root URL.
func (f *Fake) URL() string { return "http://" + f.addr }

// Violations are the exchanges that broke GitLab's documented shapes.
func (f *Fake) Violations() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return slices.Clone(f.violations)
}

// Now is a strictly increasing millisecond stamp (call with Mu held).
func (f *Fake) Now() time.Time {
	n := time.Now().UTC().Truncate(time.Millisecond)
	if !n.After(f.last) {
		n = f.last.Add(time.Millisecond)
	}
	f.last = n
	return n
}

func (f *Fake) id() int64 { f.next++; return f.next }

// Issue returns the issue with that IID (call with Mu held).
func (f *Fake) Issue(iid int64) *Issue {
	for _, x := range f.Issues {
		if x.IID == iid {
			return x
		}
	}
	return nil
}

// CreateIssue adds an issue as a person would (call with Mu held).
func (f *Fake) CreateIssue(author, title, desc string) *Issue {
	now := f.Now()
	iid := int64(len(f.Issues) + 1)
	is := &Issue{ID: 500 + iid, IID: iid, ProjectID: 1, Title: title, Description: desc, State: "opened", Labels: []string{},
		Assignees: []User{}, Author: f.user(author), IssueType: "issue", CreatedAt: now, UpdatedAt: now,
		WebURL: fmt.Sprintf("https://gitlab.example.com/%s/-/issues/%d", f.Project, iid)}
	f.Issues = append(f.Issues, is)
	return is
}

// AddNote adds a note by author to is (call with Mu held).
func (f *Fake) AddNote(is *Issue, author, body string, internal bool) *Note {
	now := f.Now()
	u := f.user(author)
	n := &Note{ID: 1000 + f.id(), Body: body, Author: Author{ID: u.ID, Username: u.Username, Name: u.Name, State: u.State}, Internal: internal, Confidential: internal,
		NoteableType: "Issue", NoteableIID: is.IID, CreatedAt: now, UpdatedAt: now}
	is.Notes = append(is.Notes, n)
	is.UpdatedAt = now
	return n
}

// AttachAsPerson uploads data as name and adds a note by author linking
// it, as a person dropping a file on an issue does (call with Mu held).
func (f *Fake) AttachAsPerson(is *Issue, author, name string, data []byte) *Note {
	id := f.id()
	secret := fmt.Sprintf("%032x", 0xabcdef000+id)
	f.Uploads = append(f.Uploads, &Upload{ID: id, Secret: secret, Filename: name, Data: data})
	return f.AddNote(is, author, "See ["+name+"](/uploads/"+secret+"/"+url.PathEscape(name)+")", false)
}

// UploadData returns the bytes of the upload a Markdown link points at
// (call with Mu held).
func (f *Fake) UploadData(link string) ([]byte, bool) {
	for _, u := range f.Uploads {
		if strings.Contains(link, "/uploads/"+u.Secret+"/") {
			return u.Data, true
		}
	}
	return nil, false
}

func (f *Fake) user(name string) User {
	if u, ok := f.Users[name]; ok {
		return u
	}
	return f.Bot
}

func (f *Fake) violate(format string, args ...any) {
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

// write sends v as JSON after checking it against the example of shape
// (a list answer is checked element by element).
func (f *Fake) write(w http.ResponseWriter, r *http.Request, st int, shape string, v any) {
	b, _ := json.Marshal(v)
	if shape != "" {
		var got any
		json.Unmarshal(b, &got)
		where := r.Method + " " + r.URL.Path
		if list, ok := got.([]any); ok {
			for i, el := range list {
				f.checkShape(where, fmt.Sprintf("%s[%d]", shape, i), f.shapes[shape], el)
			}
		} else {
			f.checkShape(where, shape, f.shapes[shape], got)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	w.Write(b)
}

// checkShape compares got with the documentation's example ex: keys the
// example lacks, and JSON types that differ, are violations.
func (f *Fake) checkShape(where, at string, ex, got any) {
	if ex == nil || got == nil {
		return
	}
	switch e := ex.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			f.violate("%s: %s is %T, the documentation's example has an object", where, at, got)
			return
		}
		keys := make([]string, 0, len(g))
		for k := range g {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ev, ok := e[k]
			if !ok {
				f.violate("%s: %s.%s is not in the documentation's example", where, at, k)
				continue
			}
			f.checkShape(where, at+"."+k, ev, g[k])
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			f.violate("%s: %s is %T, the documentation's example has an array", where, at, got)
			return
		}
		if len(e) > 0 {
			for i, el := range g {
				f.checkShape(where, fmt.Sprintf("%s[%d]", at, i), e[0], el)
			}
		}
	default:
		if fmt.Sprintf("%T", ex) != fmt.Sprintf("%T", got) {
			f.violate("%s: %s is %T (%v), the documentation's example has %T", where, at, got, got, ex)
		}
	}
}

func (f *Fake) fail(w http.ResponseWriter, st int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// documented attributes of the requests, by route
// (the attribute tables of each page).
var attrs = map[string][]string{
	// https://docs.gitlab.com/api/rest/#pagination
	"paging": {"page", "per_page", "pagination"},
	// https://docs.gitlab.com/api/users/#list-users
	"GET users": {"username", "search", "active"},
	// https://docs.gitlab.com/api/projects/#get-a-single-project
	"GET project": {"license", "statistics", "with_custom_attributes"},
	// https://docs.gitlab.com/api/milestones/#list-project-milestones
	"GET milestones": {"iids[]", "state", "title", "search", "include_ancestors"},
	// https://docs.gitlab.com/api/issues/#list-project-issues
	"GET issues": {"assignee_id", "assignee_username", "author_id", "author_username", "confidential", "created_after", "created_before",
		"due_date", "epic_id", "iids[]", "in", "issue_type", "iteration_id", "labels", "milestone", "milestone_id", "my_reaction_emoji",
		"not", "order_by", "scope", "search", "sort", "state", "updated_after", "updated_before", "weight", "with_labels_details"},
	// https://docs.gitlab.com/api/issues/#new-issue
	"POST issues": {"assignee_id", "assignee_ids", "confidential", "created_at", "description", "discussion_to_resolve", "due_date",
		"epic_id", "epic_iid", "iid", "issue_type", "labels", "merge_request_to_resolve_discussions_of", "milestone_id", "title", "weight"},
	// https://docs.gitlab.com/api/issues/#edit-an-issue
	"PUT issue": {"add_labels", "assignee_ids", "confidential", "description", "discussion_locked", "due_date", "epic_id", "epic_iid",
		"issue_type", "labels", "milestone_id", "remove_labels", "state_event", "title", "updated_at", "weight"},
	// https://docs.gitlab.com/api/notes/#list-project-issue-notes
	"GET notes": {"sort", "order_by", "activity_filter"},
	// https://docs.gitlab.com/api/notes/#create-new-issue-note
	"POST notes": {"body", "confidential", "internal", "created_at"},
	// https://docs.gitlab.com/api/notes/#modify-existing-issue-note
	"PUT note": {"body", "confidential"},
	// https://docs.gitlab.com/api/issue_links/#create-an-issue-link
	"POST links": {"target_project_id", "target_issue_iid", "link_type"},
}

func (f *Fake) checkRequest(route string, r *http.Request, body map[string]json.RawMessage) {
	ok := append(slices.Clone(attrs[route]), attrs["paging"]...)
	for k := range r.URL.Query() {
		if !slices.Contains(ok, k) {
			f.violate("%s %s: query parameter %q is not an attribute of %s in GitLab's documentation", r.Method, r.URL.Path, k, route)
		}
	}
	for k := range body {
		if !slices.Contains(ok, k) {
			f.violate("%s %s: body attribute %q is not an attribute of %s in GitLab's documentation", r.Method, r.URL.Path, k, route)
		}
	}
}

func readBody(r *http.Request) (map[string]json.RawMessage, error) {
	raw := map[string]json.RawMessage{}
	b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil || len(b) == 0 {
		return raw, err
	}
	return raw, json.Unmarshal(b, &raw)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Requests++
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	// https://docs.gitlab.com/security/rate_limits/#headers
	// RateLimit-Limit is left out: from it the client paces itself to
	// two thirds of the limit, which would slow the tests, not change
	// what they show.
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(max(0, 2000-f.Requests)))
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	if f.Throttle > 0 {
		f.Throttle--
		// GitLab's client waits until RateLimit-Reset (whole seconds):
		// 2 s ahead is at least 1 s after truncation, as Retry-After says.
		w.Header().Set("Retry-After", "1")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10))
		f.fail(w, http.StatusTooManyRequests, "Retry later")
		return
	}
	// https://docs.gitlab.com/api/rest/authentication/#personalprojectgroup-access-tokens
	if r.Header.Get("PRIVATE-TOKEN") != Token {
		f.fail(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v4/")
	parts := strings.Split(p, "/")
	route := func(name string) { f.ByRoute[r.Method+" "+name]++ }
	switch {
	case p == "user" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/users/#retrieve-the-current-user
		route("user")
		f.write(w, r, 200, "user", f.Bot)
		return
	case p == "users" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/users/#list-users
		route("users")
		f.checkRequest("GET users", r, nil)
		out := []User{}
		if u, ok := f.Users[r.URL.Query().Get("username")]; ok {
			out = append(out, u)
		}
		f.write(w, r, 200, "user", out)
		return
	}
	if len(parts) < 2 || parts[0] != "projects" {
		f.fail(w, 404, "404 Not Found")
		return
	}
	if pid, _ := url.PathUnescape(parts[1]); pid != f.Project && pid != "1" {
		f.fail(w, 404, "404 Project Not Found")
		return
	}
	rest := parts[2:]
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet: // https://docs.gitlab.com/api/projects/#get-a-single-project
		route("project")
		f.checkRequest("GET project", r, nil)
		f.write(w, r, 200, "project", map[string]any{"id": 1, "path_with_namespace": f.Project, "issues_enabled": true, "issues_access_level": "enabled",
			"visibility": "private", "web_url": "https://gitlab.example.com/" + f.Project,
			"permissions": map[string]any{"project_access": map[string]int{"access_level": 30, "notification_level": 3}, "group_access": nil}})
	case len(rest) == 1 && rest[0] == "milestones" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/milestones/#list-project-milestones
		route("milestones")
		f.checkRequest("GET milestones", r, nil)
		out := []*Milestone{}
		if m, ok := f.Milestones[r.URL.Query().Get("title")]; ok {
			out = append(out, m)
		}
		f.write(w, r, 200, "milestone", out)
	case len(rest) == 1 && rest[0] == "uploads" && r.Method == http.MethodPost: // https://docs.gitlab.com/api/project_markdown_uploads/#upload-a-file
		route("uploads")
		f.upload(w, r)
	case len(rest) == 3 && rest[0] == "uploads" && r.Method == http.MethodGet:
		// https://docs.gitlab.com/api/project_markdown_uploads/#download-an-uploaded-file-by-secret-and-filename
		route("upload")
		name, _ := url.PathUnescape(rest[2])
		for _, u := range f.Uploads {
			if u.Secret == rest[1] && u.Filename == name {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Write(u.Data)
				return
			}
		}
		f.fail(w, 404, "404 Not Found")
	case len(rest) == 1 && rest[0] == "issues" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/issues/#list-project-issues
		route("issues")
		f.list(w, r)
	case len(rest) == 1 && rest[0] == "issues" && r.Method == http.MethodPost: // https://docs.gitlab.com/api/issues/#new-issue
		route("issues")
		f.create(w, r)
	case len(rest) >= 2 && rest[0] == "issues":
		iid, _ := strconv.ParseInt(rest[1], 10, 64)
		is := f.Issue(iid)
		if is == nil {
			f.fail(w, 404, "404 Issue Not Found")
			return
		}
		f.issueRoutes(w, r, is, rest[2:], route)
	default:
		f.fail(w, 404, "404 Not Found")
	}
}

func (f *Fake) issueRoutes(w http.ResponseWriter, r *http.Request, is *Issue, rest []string, route func(string)) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet: // https://docs.gitlab.com/api/issues/#single-project-issue
		route("issue")
		f.write(w, r, 200, "issue", is)
	case len(rest) == 0 && r.Method == http.MethodPut: // https://docs.gitlab.com/api/issues/#edit-an-issue
		route("issue")
		f.edit(w, r, is)
	case len(rest) == 1 && rest[0] == "notes" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/notes/#list-project-issue-notes
		route("notes")
		f.checkRequest("GET notes", r, nil)
		page(f, w, r, "note", is.Notes)
	case len(rest) == 1 && rest[0] == "notes" && r.Method == http.MethodPost: // https://docs.gitlab.com/api/notes/#create-new-issue-note
		route("notes")
		body, err := readBody(r)
		f.checkRequest("POST notes", r, body)
		var in struct {
			Body     string `json:"body"`
			Internal bool   `json:"internal"`
		}
		b, _ := json.Marshal(body)
		if err != nil || json.Unmarshal(b, &in) != nil || in.Body == "" {
			f.fail(w, 400, "body is missing")
			return
		}
		f.write(w, r, 201, "note", f.AddNote(is, "", in.Body, in.Internal))
	case len(rest) == 2 && rest[0] == "notes" && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		// https://docs.gitlab.com/api/notes/#modify-existing-issue-note
		// https://docs.gitlab.com/api/notes/#delete-an-issue-note
		route("note")
		id, _ := strconv.ParseInt(rest[1], 10, 64)
		i := slices.IndexFunc(is.Notes, func(n *Note) bool { return n.ID == id && !n.System })
		if i < 0 {
			f.fail(w, 404, "404 Note Not Found")
			return
		}
		if r.Method == http.MethodDelete {
			// The note's belongs_to :noteable, touch: true touches the
			// issue on destroy as on save.
			is.Notes = slices.Delete(is.Notes, i, i+1)
			is.UpdatedAt = f.Now()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body, _ := readBody(r)
		f.checkRequest("PUT note", r, body)
		var text string
		json.Unmarshal(body["body"], &text)
		n := is.Notes[i]
		n.Body, n.UpdatedAt = text, f.Now()
		is.UpdatedAt = n.UpdatedAt
		f.write(w, r, 200, "note", n)
	case len(rest) == 1 && rest[0] == "links" && r.Method == http.MethodGet: // https://docs.gitlab.com/api/issue_links/#list-issue-relations
		route("links")
		page(f, w, r, "issue_relation", f.relations(is))
	case len(rest) == 1 && rest[0] == "links" && r.Method == http.MethodPost: // https://docs.gitlab.com/api/issue_links/#create-an-issue-link
		route("links")
		f.link(w, r, is)
	case len(rest) == 2 && rest[0] == "links" && r.Method == http.MethodDelete: // https://docs.gitlab.com/api/issue_links/#delete-an-issue-link
		route("link")
		id, _ := strconv.ParseInt(rest[1], 10, 64)
		i := slices.IndexFunc(f.Links, func(l *Link) bool { return l.ID == id && (l.Source == is.IID || l.Target == is.IID) })
		if i < 0 {
			f.fail(w, 404, "404 Not found")
			return
		}
		l := f.Links[i]
		f.Links = slices.Delete(f.Links, i, i+1)
		f.write(w, r, 200, "issue_link", f.linkOut(l))
	default:
		f.fail(w, 404, "404 Not Found")
	}
}

// relation is an entry of the issue's relation list.
type relation struct {
	ID          int64     `json:"id"`
	IID         int64     `json:"iid"`
	IssueLinkID int64     `json:"issue_link_id"`
	ProjectID   int64     `json:"project_id"`
	Title       string    `json:"title"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	LinkType    string    `json:"link_type"`
	LinkCreated time.Time `json:"link_created_at"`
	LinkUpdated time.Time `json:"link_updated_at"`
}

// relations lists the links of is from its side: a link "A blocks B" is
// "blocks B" on A and "is_blocked_by A" on B.
func (f *Fake) relations(is *Issue) []relation {
	out := []relation{}
	for _, l := range f.Links {
		other, typ := l.Target, l.Type
		if l.Target == is.IID {
			other = l.Source
			if typ == "blocks" {
				typ = "is_blocked_by"
			}
		} else if l.Source != is.IID {
			continue
		}
		o := f.Issue(other)
		out = append(out, relation{ID: o.ID, IID: o.IID, IssueLinkID: l.ID, ProjectID: 1, Title: o.Title, State: o.State,
			CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, LinkType: typ, LinkCreated: l.Created, LinkUpdated: l.Created})
	}
	return out
}

func (f *Fake) linkOut(l *Link) map[string]any {
	brief := func(iid int64) map[string]any {
		o := f.Issue(iid)
		return map[string]any{"id": o.ID, "iid": o.IID, "project_id": 1, "title": o.Title, "state": o.State, "labels": o.Labels,
			"description": o.Description, "confidential": o.Confidential, "created_at": o.CreatedAt, "updated_at": o.UpdatedAt, "web_url": o.WebURL}
	}
	return map[string]any{"source_issue": brief(l.Source), "target_issue": brief(l.Target), "link_type": l.Type}
}

// link: https://docs.gitlab.com/api/issue_links/#create-an-issue-link
// (link_type relates_to, blocks or is_blocked_by; a link that exists is
// refused with 409, as GitLab does).
func (f *Fake) link(w http.ResponseWriter, r *http.Request, is *Issue) {
	body, err := readBody(r)
	f.checkRequest("POST links", r, body)
	str := func(k string) string {
		var s string
		if json.Unmarshal(body[k], &s) != nil {
			var n int64
			json.Unmarshal(body[k], &n)
			s = strconv.FormatInt(n, 10)
		}
		return s
	}
	tp, _ := url.PathUnescape(str("target_project_id"))
	tiid, _ := strconv.ParseInt(str("target_issue_iid"), 10, 64)
	typ := str("link_type")
	if typ == "" || typ == "0" {
		typ = "relates_to"
	}
	target := f.Issue(tiid)
	if err != nil || (tp != f.Project && tp != "1") || target == nil || target == is {
		f.fail(w, 404, "No matching issue found. Make sure that you are adding a valid issue URL.")
		return
	}
	src, dst := is.IID, tiid
	switch typ {
	case "relates_to", "blocks":
	case "is_blocked_by":
		src, dst, typ = tiid, is.IID, "blocks"
	default:
		f.fail(w, 400, "link_type does not have a valid value")
		return
	}
	for _, l := range f.Links {
		if (l.Source == src && l.Target == dst) || (l.Source == dst && l.Target == src) {
			f.fail(w, 409, "Issue(s) already assigned")
			return
		}
	}
	l := &Link{ID: 300 + f.id(), Source: src, Target: dst, Type: typ, Created: f.Now()}
	f.Links = append(f.Links, l)
	f.write(w, r, 201, "issue_link", f.linkOut(l))
}

// upload: https://docs.gitlab.com/api/project_markdown_uploads/#upload-a-file
// (multipart/form-data, the file in the part named "file").
func (f *Fake) upload(w http.ResponseWriter, r *http.Request) {
	file, hdr, err := r.FormFile("file")
	if err != nil {
		f.fail(w, 400, "file is missing")
		return
	}
	data, _ := io.ReadAll(file)
	id := f.id()
	secret := fmt.Sprintf("%032x", 0xabcdef000+id)
	name := path.Base(hdr.Filename)
	f.Uploads = append(f.Uploads, &Upload{ID: id, Secret: secret, Filename: name, Data: data})
	u := "/uploads/" + secret + "/" + url.PathEscape(name)
	alt := strings.TrimSuffix(name, path.Ext(name))
	f.write(w, r, 201, "upload", map[string]any{"id": id, "alt": alt, "url": u, "full_path": "/-/project/1/uploads/" + secret + "/" + url.PathEscape(name),
		"markdown": "[" + name + "](" + u + ")"})
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
	IssueType    *string          `json:"issue_type"`
}

// decodeIssue reads a create or edit body; a key sent as null (the
// client's way to remove a due date, weight or milestone) is kept.
func (f *Fake) decodeIssue(route string, r *http.Request) (issueIn, error) {
	var in issueIn
	raw, err := readBody(r)
	if err != nil {
		return in, err
	}
	f.checkRequest(route, r, raw)
	b, _ := json.Marshal(raw)
	err = json.Unmarshal(b, &in)
	null := json.RawMessage("null")
	for k, p := range map[string]**json.RawMessage{"due_date": &in.DueDate, "weight": &in.Weight, "milestone_id": &in.MilestoneID} {
		if v, ok := raw[k]; ok && string(v) == "null" {
			*p = &null
		}
	}
	return in, err
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

func (f *Fake) apply(is *Issue, in issueIn) error {
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
	if in.IssueType != nil {
		switch *in.IssueType { // https://docs.gitlab.com/api/issues/#new-issue (issue_type)
		case "issue", "incident", "test_case", "task":
			is.IssueType = *in.IssueType
		default:
			return fmt.Errorf("issue_type does not have a valid value")
		}
	}
	if in.AssigneeIDs != nil {
		is.Assignees = []User{}
		for _, id := range *in.AssigneeIDs {
			for _, u := range f.Users {
				if u.ID == id {
					is.Assignees = append(is.Assignees, u)
				}
			}
		}
		slices.SortFunc(is.Assignees, func(a, b User) int { return int(a.ID - b.ID) })
	}
	if in.MilestoneID != nil {
		var id int64
		json.Unmarshal(*in.MilestoneID, &id)
		is.Milestone = nil
		for _, m := range f.Milestones {
			if m.ID == id {
				is.Milestone = m
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
func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	in, err := f.decodeIssue("POST issues", r)
	if err != nil || in.Title == nil || strings.TrimSpace(*in.Title) == "" {
		f.fail(w, 400, "title is missing")
		return
	}
	is := f.CreateIssue("", "", "")
	in.StateEvent = nil
	if err := f.apply(is, in); err != nil {
		f.Issues = f.Issues[:len(f.Issues)-1]
		f.fail(w, 400, err.Error())
		return
	}
	f.write(w, r, 201, "issue", is)
}

// edit: https://docs.gitlab.com/api/issues/#edit-an-issue
func (f *Fake) edit(w http.ResponseWriter, r *http.Request, is *Issue) {
	in, err := f.decodeIssue("PUT issue", r)
	if err != nil {
		f.fail(w, 400, "bad JSON")
		return
	}
	cp := *is
	if err := f.apply(&cp, in); err != nil {
		f.fail(w, 400, err.Error())
		return
	}
	cp.UpdatedAt = f.Now()
	*is = cp
	f.write(w, r, 200, "issue", is)
}

// list: https://docs.gitlab.com/api/issues/#list-project-issues
// (updated_after is inclusive: "Return issues updated on or after the
// given time").
func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	f.checkRequest("GET issues", r, nil)
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
	var out []*Issue
	for _, is := range f.Issues {
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
		slices.SortStableFunc(out, func(a, b *Issue) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	} else {
		slices.SortStableFunc(out, func(a, b *Issue) int { return a.CreatedAt.Compare(b.CreatedAt) })
	}
	if q.Get("sort") != "asc" {
		slices.Reverse(out)
	}
	page(f, w, r, "issue", out)
}

// page serves one page with GitLab's pagination headers
// (https://docs.gitlab.com/api/rest/#pagination).
func page[T any](f *Fake, w http.ResponseWriter, r *http.Request, shape string, all []T) {
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
	f.write(w, r, 200, shape, out)
}
