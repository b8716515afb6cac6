// Package jirafake is a stateful in-process Jira for the tests of the
// Jira adapter and the e2e tests, written from Atlassian's REST reference
// (the URL of each endpoint's page is beside its handler).
//
// A stateful in-process Jira, written from Atlassian's REST reference
// (the URL of each endpoint's page is beside its handler). It serves both
// dialects: /rest/api/3 (Cloud: ADF bodies, search/jql with nextPageToken)
// and /rest/api/2 (Data Center: string bodies, search with startAt). JQL is
// understood only as far as the adapter writes it; entity-property clauses
// find nothing, as on a Jira where no app indexes the property.

package jirafake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const propKey = "issuemesh"

// property is an entity property as Jira sends it.
type property struct {
	Key   string         `json:"key"`
	Value map[string]any `json:"value"`
}

type named struct {
	Name string `json:"name"`
}

// Comment is a comment as the fake keeps it.
type Comment struct {
	ID         string
	Body       json.RawMessage
	Created    time.Time
	Updated    time.Time
	Visibility map[string]any
	Props      []property
}

// Attachment is an attachment as the fake keeps it.
type Attachment struct {
	ID, Filename, Mime string
	Data               []byte
	Created            time.Time
}

// Issue is an issue as the fake keeps it.
type Issue struct {
	ID, Key     string
	Summary     string
	Description json.RawMessage
	Status      string
	Priority    string
	Labels      []string
	Created     time.Time
	Updated     time.Time
	Props       map[string]any
	Comments    []*Comment
	Files       []*Attachment
	// The fields of issue 16 (fields.go): Type, people by account ID,
	// due date, the system option fields by their IDs (components,
	// fixVersions, versions), custom fields by ID as sent (a user picker:
	// the account ID), the parent's key.
	Type, Assignee, Reporter, Due string
	Sys                           map[string][]string
	Custom                        map[string]json.RawMessage
	Parent                        string
}

// Jira is the fake; hold Mu to read or change its state.
type Jira struct {
	Srv     *httptest.Server
	Mu      sync.Mutex
	Project string
	TZ      *time.Location
	seq     int
	cseq    int
	Issues  map[string]*Issue
	Links   map[string]*Link
	// workflow: status -> transitions (name -> to status)
	workflow map[string][][2]string
	statuses []string
	prios    []string
	// hidden: issues search does not show yet (eventual consistency).
	Hidden map[string]bool
	// throttle: the next n requests are answered 429 with Retry-After 1.
	Throttle int
	Requests int
	counts   map[string]int // "METHOD /path" (after /rest/api/N) -> requests
	Auth     string         // the Authorization header expected
	Denied   []string       // permissions the user lacks
	// PageMax is the most issues a search page holds (Jira: 100 with
	// fields; the fake's default 3, so that paging is exercised).
	PageMax int
}

// New starts a fake Jira with project PROJ, stopped when the test ends.
func New(t testing.TB) *Jira {
	f := &Jira{PageMax: 3, Project: "PROJ", Issues: map[string]*Issue{}, Links: map[string]*Link{}, Hidden: map[string]bool{},
		statuses: []string{"To Do", "In Progress", "In Review", "Done", "Archived"},
		prios:    []string{"Highest", "High", "Medium", "Low", "Lowest"},
		// Done is two transitions from To Do; Archived is a status no
		// transition reaches.
		workflow: map[string][][2]string{
			"To Do":       {{"Start work", "In Progress"}},
			"In Progress": {{"Review", "In Review"}, {"Finish", "Done"}, {"Stop", "To Do"}},
			"In Review":   {{"Approve", "Done"}, {"Reject", "In Progress"}},
			"Done":        {{"Reopen", "To Do"}},
		},
	}
	f.TZ, _ = time.LoadLocation("America/New_York")
	f.Srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.Mu.Lock()
		srv := f.Srv
		f.Mu.Unlock()
		srv.Close()
	})
	return f
}

// Stop makes the fake unreachable, as a Jira that went down: its listener
// is closed and open connections are cut. Its state is kept; Start serves
// it again on the same address.
func (f *Jira) Stop() {
	f.Mu.Lock()
	srv := f.Srv
	f.Mu.Unlock()
	srv.CloseClientConnections()
	srv.Close()
}

// Start serves a stopped fake again, on the address it had.
func (f *Jira) Start() error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	addr := f.Srv.Listener.Addr().String()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("jirafake: listen again on %s: %w", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	f.Srv = srv
	return nil
}

// contentURL is where an attachment's bytes are: Cloud's
// /rest/api/3/attachment/content/{id}, Data Center's
// /secure/attachment/{id}/{filename}
// (https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/attachment-getAttachment).
func (f *Jira) contentURL(v string, a *Attachment) string {
	if v == "2" {
		return f.Srv.URL + "/secure/attachment/" + a.ID + "/" + url.PathEscape(a.Filename)
	}
	return f.Srv.URL + "/rest/api/3/attachment/content/" + a.ID
}

// Count is how many requests of method to path (after /rest/api/N) the
// fake answered; hold Mu.
func (f *Jira) Count(method, path string) int { return f.counts[method+" "+path] }

// URL is the fake's base URL.
func (f *Jira) URL() string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Srv.URL
}

func (f *Jira) fail(w http.ResponseWriter, st int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(map[string]any{"errorMessages": []string{msg}, "errors": map[string]string{}})
}

func reply(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

func stamp(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-0700") }

var (
	reIssue     = regexp.MustCompile(`^/rest/api/([23])/issue/([A-Z]+-\d+)(/.*)?$`)
	reParentJQL = regexp.MustCompile(`^parent = ([A-Z]+-\d+) `)
	reJQLSince  = regexp.MustCompile(`updated >= "(\d{4}/\d\d/\d\d \d\d:\d\d)"`)
)

func (f *Jira) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Requests++
	w.Header().Set("X-RateLimit-Limit", "1000")
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(0, 1000-f.Requests)))
	w.Header().Set("X-RateLimit-Reset", time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	if f.Auth != "" && r.Header.Get("Authorization") != f.Auth {
		f.fail(w, 401, "Client must be authenticated to access this resource.")
		return
	}
	if f.Throttle > 0 {
		f.Throttle--
		w.Header().Set("Retry-After", "1")
		w.Header().Set("RateLimit-Reason", "jira-quota-tenant-based")
		f.fail(w, 429, "Rate limit exceeded.")
		return
	}
	v := "3"
	if strings.HasPrefix(r.URL.Path, "/rest/api/2/") {
		v = "2"
	}
	p := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/rest/api/2"), "/rest/api/3")
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	f.counts[r.Method+" "+p]++
	switch {
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-myself/#api-rest-api-3-myself-get
	case r.Method == "GET" && p == "/myself":
		reply(w, 200, f.userJSON(Users[0], v))
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get
	case r.Method == "GET" && p == "/field":
		f.fieldsList(w, v)
	case r.Method == "GET" && p == "/user/search":
		f.userSearch(w, r, v)
	case r.Method == "POST" && p == "/issueLink":
		f.createLink(w, r)
	case r.Method == "DELETE" && strings.HasPrefix(p, "/issueLink/"):
		f.deleteLink(w, strings.TrimPrefix(p, "/issueLink/"))
	case r.Method == "DELETE" && strings.HasPrefix(p, "/attachment/") && !strings.HasPrefix(p, "/attachment/content/"):
		f.deleteAttachment(w, strings.TrimPrefix(p, "/attachment/"))
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-priorities/#api-rest-api-3-priority-get
	case r.Method == "GET" && p == "/priority":
		var out []map[string]string
		for i, n := range f.prios {
			out = append(out, map[string]string{"id": strconv.Itoa(i + 1), "name": n})
		}
		reply(w, 200, out)
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-projectidorkey-statuses-get
	case r.Method == "GET" && p == "/project/"+f.Project+"/statuses":
		var ss []map[string]string
		for i, s := range f.statuses {
			ss = append(ss, map[string]string{"id": strconv.Itoa(i + 1), "name": s})
		}
		reply(w, 200, []any{map[string]any{"id": "10001", "name": "Task", "subtask": false, "statuses": ss}})
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-projectidorkey-get
	case r.Method == "GET" && p == "/project/"+f.Project:
		reply(w, 200, map[string]any{"id": "10000", "key": f.Project, "name": "Project " + f.Project,
			"issueTypes": issueTypesJSON()})
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get
	case r.Method == "GET" && p == "/mypermissions":
		perms := map[string]any{}
		for _, k := range strings.Split(r.URL.Query().Get("permissions"), ",") {
			perms[k] = map[string]any{"key": k, "havePermission": !slices.Contains(f.Denied, k)}
		}
		reply(w, 200, map[string]any{"permissions": perms})
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post
	case r.Method == "POST" && p == "/issue":
		f.create(w, r, v)
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-post
	case r.Method == "POST" && p == "/search/jql" && v == "3":
		f.search(w, r, v)
	// https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/search-searchUsingSearchRequest
	case r.Method == "POST" && p == "/search" && v == "2":
		f.search(w, r, v)
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-attachments/#api-rest-api-3-attachment-content-id-get
	case r.Method == "GET" && (v == "3" && strings.HasPrefix(p, "/attachment/content/") || strings.HasPrefix(r.URL.Path, "/secure/attachment/")):
		id := strings.TrimPrefix(p, "/attachment/content/")
		if rest, ok := strings.CutPrefix(r.URL.Path, "/secure/attachment/"); ok {
			id, _, _ = strings.Cut(rest, "/")
		}
		for _, is := range f.Issues {
			for _, a := range is.Files {
				if a.ID == id {
					w.Header().Set("Content-Type", a.Mime)
					w.Write(a.Data)
					return
				}
			}
		}
		f.fail(w, 404, "The attachment does not exist")
	default:
		m := reIssue.FindStringSubmatch(r.URL.Path)
		if m == nil {
			f.fail(w, 404, "no such endpoint in the fake: "+r.Method+" "+r.URL.Path)
			return
		}
		is := f.Issues[m[2]]
		if is == nil {
			f.fail(w, 404, "Issue does not exist or you do not have permission to see it.")
			return
		}
		f.issue(w, r, v, is, m[3])
	}
}

// checkBody rejects a body of the wrong dialect: an ADF document on v3, a
// string on v2.
func (f *Jira) checkBody(v string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if v == "2" {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return fmt.Errorf("v2 wants a string body, got %s", raw)
		}
		return nil
	}
	var d struct {
		Type    string `json:"type"`
		Version int    `json:"version"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Type != "doc" || d.Version != 1 {
		return fmt.Errorf("v3 wants an ADF document (type doc, version 1), got %s", raw)
	}
	return nil
}

func issueTypesJSON() []any {
	var out []any
	for i, n := range IssueTypes {
		out = append(out, map[string]any{"id": strconv.Itoa(10001 + i), "name": n, "subtask": n == "Sub-task"})
	}
	return out
}

func (f *Jira) create(w http.ResponseWriter, r *http.Request, v string) {
	var req struct {
		Fields     map[string]json.RawMessage `json:"fields"`
		Properties []property                 `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.fail(w, 400, err.Error())
		return
	}
	errs := map[string]string{}
	var proj struct{ Key string }
	if json.Unmarshal(req.Fields["project"], &proj); proj.Key != f.Project {
		errs["project"] = "valid project is required"
	}
	if _, ok := req.Fields["issuetype"]; !ok {
		errs["issuetype"] = "valid issue type is required"
	}
	if _, ok := req.Fields["summary"]; !ok {
		errs["summary"] = "You must specify a summary of the issue."
	}
	now := time.Now()
	is := &Issue{Status: "To Do", Priority: "Medium", Created: now, Updated: now, Props: map[string]any{},
		Reporter: Users[0].AccountID, Sys: map[string][]string{}, Custom: map[string]json.RawMessage{}}
	ks := make([]string, 0, len(req.Fields))
	for k := range req.Fields {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	for _, k := range ks {
		if msg := f.setField(is, v, k, req.Fields[k]); msg != "" {
			errs[k] = msg
		}
	}
	if is.Type == "Sub-task" && is.Parent == "" {
		errs["parent"] = "Issue type is a sub-task but parent issue key or id not specified."
	}
	if len(errs) > 0 {
		reply(w, 400, map[string]any{"errorMessages": []string{}, "errors": errs})
		return
	}
	f.seq++
	is.ID, is.Key = strconv.Itoa(10000+f.seq), fmt.Sprintf("%s-%d", f.Project, f.seq)
	for _, p := range req.Properties {
		is.Props[p.Key] = p.Value
	}
	f.Issues[is.Key] = is
	reply(w, 201, map[string]string{"id": is.ID, "key": is.Key, "self": f.Srv.URL + "/rest/api/" + v + "/issue/" + is.ID})
}

func (f *Jira) wire(is *Issue, v string, props bool) map[string]any {
	var files []map[string]any
	for _, a := range is.Files {
		files = append(files, map[string]any{"id": a.ID, "filename": a.Filename, "mimeType": a.Mime, "size": len(a.Data), "created": stamp(a.Created),
			"author": map[string]any{"displayName": "Mia Krystof"}, "content": f.contentURL(v, a)})
	}
	desc := is.Description
	if len(desc) == 0 {
		desc = json.RawMessage("null")
	}
	labels := is.Labels
	if labels == nil {
		labels = []string{}
	}
	out := map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{
		"summary": is.Summary, "description": desc, "status": map[string]string{"name": is.Status}, "priority": map[string]string{"name": is.Priority},
		"labels": labels, "created": stamp(is.Created), "updated": stamp(is.Updated), "attachment": files,
	}}
	f.fieldsJSON(is, v, out["fields"].(map[string]any))
	if props {
		out["properties"] = is.Props
	}
	return out
}

func (f *Jira) touch(is *Issue) { is.Updated = time.Now() }

// Touch marks the issue with that key changed now, as an edit on Jira
// would; hold Mu.
func (f *Jira) Touch(key string) { f.touch(f.Issues[key]) }

func (f *Jira) issue(w http.ResponseWriter, r *http.Request, v string, is *Issue, sub string) {
	switch {
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get
	case r.Method == "GET" && sub == "":
		reply(w, 200, f.wire(is, v, strings.Contains(r.URL.Query().Get("properties"), propKey)))
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-put
	case r.Method == "PUT" && sub == "":
		var req struct {
			Fields map[string]json.RawMessage `json:"fields"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.fail(w, 400, err.Error())
			return
		}
		ks := make([]string, 0, len(req.Fields))
		for k := range req.Fields {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		errs := map[string]string{}
		// Jira checks the whole edit before it changes anything: the
		// fields are set on a copy, kept only when all are good.
		cp := *is
		cp.Sys, cp.Custom = maps.Clone(is.Sys), maps.Clone(is.Custom)
		for _, k := range ks {
			if k == "project" {
				errs[k] = "The project of an issue is changed by a move, not an edit."
			} else if msg := f.setField(&cp, v, k, req.Fields[k]); msg != "" {
				errs[k] = msg
			}
		}
		if len(errs) > 0 {
			reply(w, 400, map[string]any{"errorMessages": []string{}, "errors": errs})
			return
		}
		*is = cp
		f.touch(is)
		w.WriteHeader(204)
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-get
	case r.Method == "GET" && sub == "/transitions":
		var ts []map[string]any
		for i, tr := range f.workflow[is.Status] {
			ts = append(ts, map[string]any{"id": fmt.Sprintf("%d%d", len(is.Status), i+1) + tr[1][:1], "name": tr[0], "to": map[string]string{"name": tr[1]}})
		}
		reply(w, 200, map[string]any{"transitions": ts})
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-post
	case r.Method == "POST" && sub == "/transitions":
		var req struct {
			Transition struct{ ID string } `json:"transition"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		for i, tr := range f.workflow[is.Status] {
			if fmt.Sprintf("%d%d", len(is.Status), i+1)+tr[1][:1] == req.Transition.ID {
				is.Status = tr[1]
				f.touch(is)
				w.WriteHeader(204)
				return
			}
		}
		f.fail(w, 400, "Transition id '"+req.Transition.ID+"' is not valid for this issue.")
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-get
	case r.Method == "GET" && sub == "/comment":
		q := r.URL.Query()
		start, _ := strconv.Atoi(q.Get("startAt"))
		n, _ := strconv.Atoi(q.Get("maxResults"))
		if n <= 0 || n > 5 { // a small page, so that paging is exercised
			n = 5
		}
		var cs []map[string]any
		for i := start; i < len(is.Comments) && i < start+n; i++ {
			c := is.Comments[i]
			m := map[string]any{"id": c.ID, "body": c.Body, "author": map[string]any{"displayName": "Mia Krystof"}, "created": stamp(c.Created), "updated": stamp(c.Updated)}
			if c.Visibility != nil {
				m["visibility"] = c.Visibility
			}
			if strings.Contains(q.Get("expand"), "properties") {
				m["properties"] = c.Props
			}
			cs = append(cs, m)
		}
		reply(w, 200, map[string]any{"startAt": start, "maxResults": n, "total": len(is.Comments), "comments": cs})
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post
	case r.Method == "POST" && sub == "/comment":
		var req struct {
			Body       json.RawMessage `json:"body"`
			Visibility map[string]any  `json:"visibility"`
			Properties []property      `json:"properties"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if err := f.checkBody(v, req.Body); err != nil || len(req.Body) == 0 {
			f.fail(w, 400, fmt.Sprintf("Comment body can not be empty! (%v)", err))
			return
		}
		f.cseq++
		now := time.Now()
		c := &Comment{ID: strconv.Itoa(20000 + f.cseq), Body: req.Body, Created: now, Updated: now, Visibility: req.Visibility, Props: req.Properties}
		is.Comments = append(is.Comments, c)
		f.touch(is)
		reply(w, 201, map[string]any{"id": c.ID})
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-id-delete
	case r.Method == "DELETE" && strings.HasPrefix(sub, "/comment/"):
		id := strings.TrimPrefix(sub, "/comment/")
		for i, c := range is.Comments {
			if c.ID == id {
				is.Comments = slices.Delete(is.Comments, i, i+1)
				f.touch(is)
				w.WriteHeader(204)
				return
			}
		}
		f.fail(w, 404, "Can not find a comment for the id: "+id+".")
	case r.Method == "PUT" && strings.HasPrefix(sub, "/comment/"):
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-id-put
		id := strings.TrimPrefix(sub, "/comment/")
		var req struct {
			Body json.RawMessage `json:"body"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if err := f.checkBody(v, req.Body); err != nil {
			f.fail(w, 400, err.Error())
			return
		}
		for _, c := range is.Comments {
			if c.ID == id {
				c.Body, c.Updated = req.Body, time.Now()
				f.touch(is)
				reply(w, 200, map[string]any{"id": c.ID})
				return
			}
		}
		f.fail(w, 404, "Can not find a comment for the id: "+id+".")
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-properties/#api-rest-api-3-issue-issueidorkey-properties-propertykey-put
	case r.Method == "PUT" && strings.HasPrefix(sub, "/properties/"):
		var val any
		if err := json.NewDecoder(r.Body).Decode(&val); err != nil {
			f.fail(w, 400, "The property value must be JSON: "+err.Error())
			return
		}
		_, had := is.Props[strings.TrimPrefix(sub, "/properties/")]
		is.Props[strings.TrimPrefix(sub, "/properties/")] = val
		// Setting a property does not change the issue's updated stamp.
		if had {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(201)
		}
	// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-attachments/#api-rest-api-3-issue-issueidorkey-attachments-post
	case r.Method == "POST" && sub == "/attachments":
		if r.Header.Get("X-Atlassian-Token") != "no-check" {
			f.fail(w, 403, "XSRF check failed")
			return
		}
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			f.fail(w, 415, err.Error())
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var out []map[string]any
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.fail(w, 400, err.Error())
				return
			}
			if part.FormName() != "file" {
				continue
			}
			data, _ := io.ReadAll(part)
			f.cseq++
			a := &Attachment{ID: strconv.Itoa(30000 + f.cseq), Filename: part.FileName(), Mime: part.Header.Get("Content-Type"), Data: data, Created: time.Now()}
			is.Files = append(is.Files, a)
			out = append(out, map[string]any{"id": a.ID, "filename": a.Filename, "mimeType": a.Mime, "size": len(data), "created": stamp(a.Created)})
		}
		if len(out) == 0 {
			f.fail(w, 400, "no file part named 'file'")
			return
		}
		f.touch(is)
		reply(w, 200, out)
	default:
		f.fail(w, 404, "no such endpoint in the fake: "+r.Method+" "+r.URL.Path)
	}
}

func (f *Jira) search(w http.ResponseWriter, r *http.Request, v string) {
	var req struct {
		JQL           string   `json:"jql"`
		MaxResults    int      `json:"maxResults"`
		NextPageToken string   `json:"nextPageToken"`
		StartAt       int      `json:"startAt"`
		Properties    []string `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.fail(w, 400, err.Error())
		return
	}
	parent := reParentJQL.FindStringSubmatch(req.JQL)
	if !strings.HasPrefix(req.JQL, "project = "+f.Project) && parent == nil {
		f.fail(w, 400, "the fake understands only queries of project "+f.Project+" and parent = KEY: "+req.JQL)
		return
	}
	var list []*Issue
	if parent != nil {
		for _, is := range f.Issues {
			if is.Parent == parent[1] && !f.Hidden[is.Key] {
				list = append(list, is)
			}
		}
	} else if !strings.Contains(req.JQL, "issue.property[") { // not indexed: finds nothing
		var since time.Time
		if m := reJQLSince.FindStringSubmatch(req.JQL); m != nil {
			// JQL dates are in the user's time zone, to the minute.
			var err error
			if since, err = time.ParseInLocation("2006/01/02 15:04", m[1], f.TZ); err != nil {
				f.fail(w, 400, err.Error())
				return
			}
		}
		for _, is := range f.Issues {
			if !f.Hidden[is.Key] && !is.Updated.Before(since) {
				list = append(list, is)
			}
		}
	}
	desc := strings.Contains(req.JQL, "ORDER BY updated DESC")
	slices.SortFunc(list, func(a, b *Issue) int {
		c := a.Updated.Compare(b.Updated)
		if c == 0 {
			c = strings.Compare(a.Key, b.Key)
		}
		if desc {
			return -c
		}
		return c
	})
	start := req.StartAt
	if v == "3" {
		start, _ = strconv.Atoi(req.NextPageToken)
	}
	n := req.MaxResults
	if n <= 0 || n > f.PageMax {
		n = f.PageMax
	}
	var out []any
	for i := start; i < len(list) && i < start+n; i++ {
		out = append(out, f.wire(list[i], v, slices.Contains(req.Properties, propKey)))
	}
	if out == nil {
		out = []any{}
	}
	if v == "2" {
		reply(w, 200, map[string]any{"startAt": start, "maxResults": n, "total": len(list), "issues": out})
		return
	}
	body := map[string]any{"issues": out, "isLast": start+n >= len(list)}
	if start+n < len(list) {
		body["nextPageToken"] = strconv.Itoa(start + n)
	}
	reply(w, 200, body)
}
