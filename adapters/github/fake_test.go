package github

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub is a stateful in-process GitHub of one repository: the
// endpoints the adapter uses, with GitHub's one-second stamps, since=
// filters, pagination (Link headers), ETags and 304s, rate-limit headers,
// and answers shaped as GitHub's OpenAPI description says (the tests check
// that with validator).
type fakeGitHub struct {
	t           *testing.T
	owner, repo string
	token       string

	mu         sync.Mutex
	issues     map[int]map[string]any // by number, as GitHub answers
	comments   []map[string]any       // in creation order
	milestones []map[string]any
	next       int // next issue number
	nextID     int64
	remaining  int
	requests   int // requests answered, 304s included
	notMod     int
	limitNext  string         // "primary" or "secondary": the next request is refused so
	link       string         // the Link header of the answer being made
	examples   map[string]any // the description's examples (components/examples)
	srv        *httptest.Server
}

func newFake(t *testing.T, owner, repo string) *fakeGitHub {
	f := &fakeGitHub{t: t, owner: owner, repo: repo, token: "fake-token", issues: map[int]map[string]any{}, next: 1, nextID: 1000, remaining: 5000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// now is GitHub's clock: stamps have one-second resolution.
func now() string { return time.Now().UTC().Format(time.RFC3339) }

func (f *fakeGitHub) base() string { return f.srv.URL + "/repos/" + f.owner + "/" + f.repo }

func user(login string) map[string]any {
	u := "https://api.github.com/users/" + login
	return map[string]any{
		"login": login, "id": 1, "node_id": "U_1", "avatar_url": "https://avatars.githubusercontent.com/u/1",
		"gravatar_id": "", "url": u, "html_url": "https://github.com/" + login,
		"followers_url": u + "/followers", "following_url": u + "/following{/other_user}",
		"gists_url": u + "/gists{/gist_id}", "starred_url": u + "/starred{/owner}{/repo}",
		"subscriptions_url": u + "/subscriptions", "organizations_url": u + "/orgs",
		"repos_url": u + "/repos", "events_url": u + "/events{/privacy}",
		"received_events_url": u + "/received_events", "type": "User", "site_admin": false,
	}
}

func (f *fakeGitHub) label(name string) map[string]any {
	h := sha256.Sum256([]byte(name))
	return map[string]any{"id": int64(h[0])<<8 | int64(h[1]), "node_id": "LA_" + hex.EncodeToString(h[:4]),
		"url": f.base() + "/labels/" + name, "name": name, "description": nil, "color": hex.EncodeToString(h[:3]), "default": false}
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	reset := time.Now().Add(time.Hour).Unix()
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	h.Set("X-RateLimit-Resource", "core")
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		f.send(w, r, 401, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
		return
	}
	switch f.limitNext {
	case "primary":
		f.limitNext = ""
		h.Set("X-RateLimit-Remaining", "0")
		f.send(w, r, 403, map[string]any{"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})
		return
	case "secondary":
		f.limitNext = ""
		h.Set("Retry-After", "30")
		h.Set("X-RateLimit-Remaining", strconv.Itoa(f.remaining))
		f.send(w, r, 403, map[string]any{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
		return
	}
	f.link = ""
	code, body := f.route(r)
	if f.link != "" {
		h.Set("Link", f.link)
	}
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	if r.Method == http.MethodGet && code == 200 {
		sum := sha256.Sum256(data)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		h.Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			f.notMod++
			h.Set("X-RateLimit-Remaining", strconv.Itoa(f.remaining)) // a 304 costs nothing
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	f.remaining--
	h.Set("X-RateLimit-Remaining", strconv.Itoa(f.remaining))
	f.write(w, code, data)
}

func (f *fakeGitHub) send(w http.ResponseWriter, r *http.Request, code int, body any) {
	data, _ := json.Marshal(body)
	f.write(w, code, data)
}

func (f *fakeGitHub) write(w http.ResponseWriter, code int, data []byte) {
	if data != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(code)
	w.Write(data)
}

func errBody(code int, msg string) (int, any) {
	return code, map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(code)}
}

func (f *fakeGitHub) route(r *http.Request) (int, any) {
	p := strings.TrimPrefix(r.URL.Path, "/api/v3") // GitHub Enterprise Server's prefix
	prefix := "/repos/" + f.owner + "/" + f.repo
	switch {
	case p == "/rate_limit" && r.Method == "GET":
		return 200, f.rateLimit()
	case p == "/user" && r.Method == "GET":
		u := f.example("private-user-response-with-public-and-private-profile-information")
		u["login"], u["user_view_type"] = "octo", "private" // the example lacks the discriminator
		return 200, u
	case !strings.HasPrefix(p, prefix):
		return errBody(404, "Not Found")
	}
	rest := strings.TrimPrefix(p, prefix)
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case rest == "" && r.Method == "GET":
		return 200, f.repository()
	case rest == "/issues" && r.Method == "GET":
		return f.listIssues(r)
	case rest == "/issues" && r.Method == "POST":
		return f.createIssue(r)
	case rest == "/milestones" && r.Method == "GET":
		return 200, f.milestones
	case rest == "/issues/comments" && r.Method == "GET":
		return f.listAllComments(r)
	case len(parts) == 3 && parts[1] == "comments" && parts[0] == "issues" && r.Method == "PATCH":
		return f.editComment(r, parts[2])
	case len(parts) == 2 && parts[0] == "issues":
		n, err := strconv.Atoi(parts[1])
		is := f.issues[n]
		if err != nil || is == nil {
			return errBody(404, "Not Found")
		}
		if r.Method == "GET" {
			return 200, is
		}
		if r.Method == "PATCH" {
			return f.updateIssue(r, is)
		}
	case len(parts) == 3 && parts[0] == "issues" && parts[2] == "comments":
		n, err := strconv.Atoi(parts[1])
		is := f.issues[n]
		if err != nil || is == nil {
			return errBody(404, "Not Found")
		}
		if r.Method == "GET" {
			var cs []map[string]any
			for _, c := range f.comments {
				if c["issue_url"] == is["url"] {
					cs = append(cs, c)
				}
			}
			return f.page(r, cs)
		}
		if r.Method == "POST" {
			return f.addComment(r, is)
		}
	}
	return errBody(404, "Not Found")
}

// example is a copy of one of the description's examples.
func (f *fakeGitHub) example(name string) map[string]any {
	ex, _ := f.examples[name].(map[string]any)
	b, _ := json.Marshal(ex["value"])
	var out map[string]any
	json.Unmarshal(b, &out)
	if out == nil {
		f.t.Errorf("GitHub's description has no example %q", name)
		out = map[string]any{}
	}
	return out
}

func (f *fakeGitHub) rateLimit() map[string]any {
	rl := f.example("rate-limit-overview")
	core := map[string]any{"limit": 5000, "remaining": f.remaining, "reset": time.Now().Add(time.Hour).Unix(), "used": 5000 - f.remaining}
	rl["resources"].(map[string]any)["core"], rl["rate"] = core, core
	return rl
}

func (f *fakeGitHub) repository() map[string]any {
	r := f.example("full-repository-default-response")
	// GitHub's example is not valid by its own schema: "language" is
	// missing; the fork's source and parent are left out.
	delete(r, "source")
	delete(r, "parent")
	delete(r, "template_repository")
	r["language"] = nil
	r["name"], r["full_name"], r["private"], r["has_issues"] = f.repo, f.owner+"/"+f.repo, true, true
	r["permissions"] = map[string]any{"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
	return r
}

// page answers one page of items with GitHub's Link header.
func (f *fakeGitHub) page(r *http.Request, items []map[string]any) (int, any) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if pg <= 0 {
		pg = 1
	}
	from, to := min((pg-1)*per, len(items)), min(pg*per, len(items))
	out := items[from:to]
	if out == nil {
		out = []map[string]any{}
	}
	if to < len(items) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(pg+1))
		u := f.srv.URL + r.URL.Path + "?" + q.Encode()
		f.link = `<` + u + `>; rel="next"`
	}
	return 200, out
}

func (f *fakeGitHub) since(r *http.Request) (time.Time, int, any) {
	s := r.URL.Query().Get("since")
	if s == "" {
		return time.Time{}, 0, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		c, b := errBody(422, "since: invalid timestamp")
		return t, c, b
	}
	return t, 0, nil
}

func stamp(m map[string]any, k string) time.Time {
	t, _ := time.Parse(time.RFC3339, m[k].(string))
	return t
}

func (f *fakeGitHub) listIssues(r *http.Request) (int, any) {
	q := r.URL.Query()
	since, code, body := f.since(r)
	if code != 0 {
		return code, body
	}
	var list []map[string]any
	for _, is := range f.issues {
		st := q.Get("state")
		if st == "" {
			st = "open"
		}
		if st != "all" && is["state"] != st {
			continue
		}
		if !since.IsZero() && stamp(is, "updated_at").Before(since) {
			continue
		}
		list = append(list, is)
	}
	sortBy := q.Get("sort")
	if sortBy == "" {
		sortBy = "created"
	}
	desc := q.Get("direction") != "asc"
	slices.SortFunc(list, func(a, b map[string]any) int {
		c := stamp(a, sortBy+"_at").Compare(stamp(b, sortBy+"_at"))
		if c == 0 {
			c = a["number"].(int) - b["number"].(int)
		}
		if desc {
			return -c
		}
		return c
	})
	return f.page(r, list)
}

func (f *fakeGitHub) listAllComments(r *http.Request) (int, any) {
	since, code, body := f.since(r)
	if code != 0 {
		return code, body
	}
	var list []map[string]any
	for _, c := range f.comments {
		if since.IsZero() || !stamp(c, "updated_at").Before(since) {
			list = append(list, c)
		}
	}
	by := "created_at"
	if r.URL.Query().Get("sort") == "updated" {
		by = "updated_at"
	}
	slices.SortStableFunc(list, func(a, b map[string]any) int { return stamp(a, by).Compare(stamp(b, by)) })
	if r.URL.Query().Get("direction") == "desc" {
		slices.Reverse(list)
	}
	return f.page(r, list)
}

func decode(r *http.Request) (map[string]any, error) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func (f *fakeGitHub) setLabels(is map[string]any, v any) {
	ls := []map[string]any{}
	seen := map[string]bool{}
	for _, x := range v.([]any) {
		name := x.(string)
		if !seen[name] {
			seen[name] = true
			ls = append(ls, f.label(name))
		}
	}
	is["labels"] = ls
}

func (f *fakeGitHub) setAssignees(is map[string]any, v any) {
	as := []map[string]any{}
	for _, x := range v.([]any) {
		as = append(as, user(x.(string)))
	}
	is["assignees"] = as
	is["assignee"] = nil
	if len(as) > 0 {
		is["assignee"] = as[0]
	}
}

func (f *fakeGitHub) createIssue(r *http.Request) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	title, _ := m["title"].(string)
	if strings.TrimSpace(title) == "" {
		return 422, map[string]any{"message": "Validation Failed", "errors": []any{map[string]any{"resource": "Issue", "code": "missing_field", "field": "title"}}, "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue"}
	}
	n := f.next
	f.next++
	f.nextID++
	u := f.base() + "/issues/" + strconv.Itoa(n)
	ts := now()
	is := map[string]any{
		"id": f.nextID, "node_id": fmt.Sprintf("I_%d", f.nextID), "url": u, "repository_url": f.base(),
		"labels_url": u + "/labels{/name}", "comments_url": u + "/comments", "events_url": u + "/events",
		"html_url": "https://github.com/" + f.owner + "/" + f.repo + "/issues/" + strconv.Itoa(n),
		"number":   n, "state": "open", "state_reason": nil, "title": title, "body": m["body"],
		"user": user("octo"), "labels": []map[string]any{}, "assignee": nil, "assignees": []map[string]any{},
		"milestone": nil, "locked": false, "active_lock_reason": nil, "comments": 0, "closed_at": nil,
		"created_at": ts, "updated_at": ts, "author_association": "OWNER",
	}
	if v, ok := m["labels"]; ok {
		f.setLabels(is, v)
	}
	if v, ok := m["assignees"]; ok {
		f.setAssignees(is, v)
	}
	if v, ok := m["milestone"]; ok && v != nil {
		for _, ms := range f.milestones {
			if float64(ms["number"].(int)) == v.(float64) {
				is["milestone"] = ms
			}
		}
	}
	f.issues[n] = is
	return 201, is
}

func (f *fakeGitHub) updateIssue(r *http.Request, is map[string]any) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	if v, ok := m["title"]; ok {
		if s, _ := v.(string); strings.TrimSpace(s) == "" {
			return errBody(422, "Validation Failed")
		}
		is["title"] = v
	}
	if v, ok := m["body"]; ok {
		is["body"] = v
	}
	if v, ok := m["state"]; ok {
		if v != is["state"] {
			if v == "closed" {
				is["closed_at"], is["closed_by"] = now(), user("octo")
				is["state_reason"] = "completed"
			} else {
				is["closed_at"], is["closed_by"] = nil, nil
				is["state_reason"] = "reopened"
			}
		}
		is["state"] = v
	}
	if v, ok := m["state_reason"]; ok && v != nil {
		is["state_reason"] = v
	}
	if v, ok := m["labels"]; ok {
		f.setLabels(is, v)
	}
	if v, ok := m["assignees"]; ok {
		f.setAssignees(is, v)
	}
	if v, ok := m["milestone"]; ok {
		is["milestone"] = nil
		if v != nil {
			var found bool
			for _, ms := range f.milestones {
				if float64(ms["number"].(int)) == v.(float64) {
					is["milestone"], found = ms, true
				}
			}
			if !found {
				return errBody(422, "Validation Failed")
			}
		}
	}
	is["updated_at"] = now()
	return 200, is
}

func (f *fakeGitHub) addComment(r *http.Request, is map[string]any) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	body, _ := m["body"].(string)
	if body == "" {
		return errBody(422, "Validation Failed")
	}
	f.nextID++
	ts := now()
	c := map[string]any{
		"id": f.nextID, "node_id": fmt.Sprintf("IC_%d", f.nextID), "url": f.base() + "/issues/comments/" + strconv.FormatInt(f.nextID, 10),
		"html_url": is["html_url"].(string) + "#issuecomment-" + strconv.FormatInt(f.nextID, 10),
		"body":     body, "user": user("octo"), "created_at": ts, "updated_at": ts, "issue_url": is["url"],
		"author_association": "OWNER", "performed_via_github_app": nil,
	}
	f.comments = append(f.comments, c)
	is["comments"] = is["comments"].(int) + 1
	is["updated_at"] = ts // GitHub bumps the issue when a comment is added
	return 201, c
}

// editComment does not change the issue's updated_at (as on GitHub and Gitea).
func (f *fakeGitHub) editComment(r *http.Request, id string) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	for _, c := range f.comments {
		if strconv.FormatInt(c["id"].(int64), 10) == id {
			c["body"], c["updated_at"] = m["body"], now()
			return 200, c
		}
	}
	return errBody(404, "Not Found")
}

// delivery is the webhook payload GitHub sends for an action on an issue.
func (f *fakeGitHub) delivery(action string, is map[string]any) map[string]any {
	b, _ := json.Marshal(is)
	var issue map[string]any
	json.Unmarshal(b, &issue)
	issue["reactions"] = map[string]any{"url": is["url"].(string) + "/reactions", "total_count": 0, "+1": 0, "-1": 0,
		"laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0}
	repo := f.repository()
	return map[string]any{"action": action, "issue": issue, "repository": repo, "sender": user("octo")}
}
