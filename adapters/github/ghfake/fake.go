// Package ghfake is a stateful fake of the part of GitHub's REST API that
// adapters/github uses, for tests (its own, and e2e tests that run a node
// against it). It keeps GitHub's one-second stamps, since= filters,
// pagination with Link headers, ETags and 304s (which cost no rate
// limit), rate-limit headers and refusals, GitHub App installation tokens
// (JWTs checked with the app's public key, tokens that expire), sub-issues,
// comment deletions and repository webhooks; its answers are shaped as
// GitHub's OpenAPI description (@octokit/openapi) says, and with a Spec
// every exchange it serves is validated against that description (Serve).
//
// It is test support: nothing in the issuemesh binary imports it.
package ghfake

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Repo is one repository's state.
type Repo struct {
	Owner, Name string
	Issues      map[int]map[string]any // by number, as GitHub answers
	Comments    []map[string]any       // in creation order
	Milestones  []map[string]any
	Hooks       []map[string]any
	Next        int // next issue number
}

// FullName is "owner/name".
func (r *Repo) FullName() string { return r.Owner + "/" + r.Name }

// App is a GitHub App installed on the fake's repositories.
type App struct {
	ID           int64
	Key          *rsa.PublicKey
	Installation int64
	// TokenTTL is how long an installation token lives (GitHub: an hour).
	TokenTTL time.Duration
}

// Server is the fake. Lock Mu to read or change its state.
type Server struct {
	// T receives what breaks the description when Spec is set, and
	// missing examples.
	T Reporter
	// Spec, when set, validates every exchange Serve answers.
	Spec *Spec
	// Token is the personal access token accepted.
	Token string
	// App, when set, is accepted too (JWTs, installation tokens).
	App *App

	Mu        sync.Mutex
	Repos     map[string]*Repo // by "owner/name"
	Remaining int              // of the rate limit
	Requests  int              // requests answered, 304s included
	NotMod    int              // 304s answered
	// LimitNext is "primary" or "secondary": the next request is refused
	// so. LimitFor keeps refusing (primary limit) until that time.
	LimitNext string
	LimitFor  time.Time
	// TokensIssued counts installation tokens made.
	TokensIssued int
	tokens       map[string]time.Time // installation token: expiry
	nextID       int64
	link         string // the Link header of the answer being made
	baseURL      string
	checked      int
}

// New returns a fake with the repositories named ("owner/name"); Serve
// or Start serve it.
func New(t Reporter, spec *Spec, repos ...string) *Server {
	s := &Server{T: t, Spec: spec, Token: "fake-token", Repos: map[string]*Repo{}, Remaining: 5000, nextID: 1000, tokens: map[string]time.Time{}}
	for _, r := range repos {
		o, n, _ := strings.Cut(r, "/")
		s.Repos[r] = &Repo{Owner: o, Name: n, Issues: map[int]map[string]any{}, Next: 1}
	}
	return s
}

// Start serves the fake on a loopback port until Close.
func (s *Server) Start() *httptest.Server {
	srv := httptest.NewServer(s)
	s.SetURL(srv.URL)
	return srv
}

// SetURL is the address the fake is reached at (for its URLs and Link
// headers).
func (s *Server) SetURL(u string) {
	s.Mu.Lock()
	s.baseURL = strings.TrimSuffix(u, "/")
	s.Mu.Unlock()
}

// URL is where the fake is served.
func (s *Server) URL() string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.baseURL
}

// Checked is how many exchanges were validated against the description.
func (s *Server) Checked() int {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.checked
}

// Repo is the state of "owner/name" (nil when the fake has no such
// repository). Lock Mu around its use.
func (s *Server) Repo(full string) *Repo { return s.Repos[full] }

// Now is GitHub's clock: stamps have one-second resolution.
func Now() string { return time.Now().UTC().Format(time.RFC3339) }

func (s *Server) api(r *Repo) string { return "https://api.github.com/repos/" + r.FullName() }

// User is a user object as GitHub answers it.
func User(login string) map[string]any {
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

func (s *Server) label(r *Repo, name string) map[string]any {
	h := sha256.Sum256([]byte(name))
	return map[string]any{"id": int64(h[0])<<8 | int64(h[1]), "node_id": "LA_" + hex.EncodeToString(h[:4]),
		"url": s.api(r) + "/labels/" + name, "name": name, "description": nil, "color": hex.EncodeToString(h[:3]), "default": false}
}

// AddMilestone adds an open milestone; call with Mu held.
func (s *Server) AddMilestone(r *Repo, title string) map[string]any {
	s.nextID++
	n := len(r.Milestones) + 1
	u := s.api(r) + "/milestones/" + strconv.Itoa(n)
	m := map[string]any{"url": u, "html_url": "https://github.com/" + r.FullName() + "/milestone/" + strconv.Itoa(n),
		"labels_url": u + "/labels", "id": s.nextID, "node_id": fmt.Sprintf("MI_%d", s.nextID), "number": n, "state": "open", "title": title,
		"description": nil, "creator": User("octo"), "open_issues": 0, "closed_issues": 0, "created_at": Now(), "updated_at": Now(),
		"closed_at": nil, "due_on": nil}
	r.Milestones = append(r.Milestones, m)
	return m
}

// AddHook adds a repository webhook for issues and issue_comment whose
// last delivery got code (0: never delivered); call with Mu held.
func (s *Server) AddHook(r *Repo, url string, code int) {
	s.nextID++
	u := s.api(r) + "/hooks/" + strconv.FormatInt(s.nextID, 10)
	last := map[string]any{"code": nil, "status": "unused", "message": nil}
	if code != 0 {
		st := "active"
		if code >= 300 {
			st = "failed"
		}
		last = map[string]any{"code": code, "status": st, "message": http.StatusText(code)}
	}
	r.Hooks = append(r.Hooks, map[string]any{"type": "Repository", "id": s.nextID, "name": "web", "active": true,
		"events": []string{"issues", "issue_comment"}, "config": map[string]any{"url": url, "content_type": "json", "insecure_ssl": "0"},
		"updated_at": Now(), "created_at": Now(), "url": u, "test_url": u + "/test", "ping_url": u + "/pings",
		"deliveries_url": u + "/deliveries", "last_response": last})
}

// ServeHTTP answers one request, validating the exchange when Spec is set.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Mu.Lock()
	if s.baseURL == "" {
		s.baseURL = "http://" + r.Host
	}
	s.Mu.Unlock()
	if s.Spec == nil {
		s.serve(w, r)
		return
	}
	reqBody, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	rec := httptest.NewRecorder()
	s.serve(rec, r)
	res := rec.Result()
	body := rec.Body.Bytes()
	if s.Spec.Exchange(s.T, r, reqBody, res.StatusCode, res.Header, body) {
		s.Mu.Lock()
		s.checked++
		s.Mu.Unlock()
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	w.Write(body)
}

// auth says whether the request carries an accepted credential: the
// token, an unexpired installation token, or (for /app paths) a valid JWT.
func (s *Server) auth(r *http.Request) (ok, isJWT bool) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		return false, false
	}
	if tok == s.Token {
		return true, false
	}
	if exp, ok := s.tokens[tok]; ok {
		return time.Now().Before(exp), false
	}
	if s.App == nil {
		return false, false
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.App.Key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil || claims.Issuer != strconv.FormatInt(s.App.ID, 10) {
		return false, false
	}
	// GitHub refuses JWTs that live over ten minutes.
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute+time.Second {
		return false, false
	}
	return true, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.Requests++
	reset := time.Now().Add(time.Hour).Unix()
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	ok, isJWT := s.auth(r)
	if !ok {
		s.send(w, 401, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v3") // GitHub Enterprise Server's prefix
	if isJWT != strings.HasPrefix(path, "/app") {
		s.send(w, 401, map[string]any{"message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest", "status": "401"})
		return
	}
	if time.Now().Before(s.LimitFor) && s.LimitNext == "" {
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(s.LimitFor.Unix(), 10))
		s.send(w, 403, map[string]any{"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})
		return
	}
	switch s.LimitNext {
	case "primary":
		s.LimitNext = ""
		h.Set("X-RateLimit-Remaining", "0")
		if !s.LimitFor.IsZero() {
			h.Set("X-RateLimit-Reset", strconv.FormatInt(s.LimitFor.Unix(), 10))
		}
		s.send(w, 403, map[string]any{"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})
		return
	case "secondary":
		s.LimitNext = ""
		h.Set("Retry-After", "30")
		h.Set("X-RateLimit-Remaining", strconv.Itoa(s.Remaining))
		s.send(w, 403, map[string]any{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
		return
	}
	s.link = ""
	code, body := s.route(r, path)
	if s.link != "" {
		h.Set("Link", s.link)
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
			s.NotMod++
			h.Set("X-RateLimit-Remaining", strconv.Itoa(s.Remaining)) // a 304 costs nothing
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	s.Remaining--
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.Remaining))
	write(w, code, data)
}

func (s *Server) send(w http.ResponseWriter, code int, body any) {
	data, _ := json.Marshal(body)
	write(w, code, data)
}

func write(w http.ResponseWriter, code int, data []byte) {
	if data != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(code)
	w.Write(data)
}

func errBody(code int, msg string) (int, any) {
	return code, map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(code)}
}

func (s *Server) route(r *http.Request, p string) (int, any) {
	switch {
	case p == "/rate_limit" && r.Method == "GET":
		return 200, s.rateLimit()
	case p == "/user" && r.Method == "GET":
		u := s.Example("private-user-response-with-public-and-private-profile-information")
		u["login"], u["user_view_type"] = "octo", "private" // the example lacks the discriminator
		return 200, u
	case p == "/app" && r.Method == "GET":
		a := s.Example("integration")
		a["id"], a["slug"], a["name"] = s.App.ID, "issuemesh-test", "issuemesh test"
		return 200, a
	case strings.HasPrefix(p, "/app/installations/") && strings.HasSuffix(p, "/access_tokens") && r.Method == "POST":
		return s.installationToken(p)
	case p == "/installation/repositories" && r.Method == "GET":
		var list []map[string]any
		for _, name := range slices.Sorted(maps.Keys(s.Repos)) {
			list = append(list, s.repository(s.Repos[name]))
		}
		return 200, map[string]any{"total_count": len(list), "repositories": list}
	case !strings.HasPrefix(p, "/repos/"):
		return errBody(404, "Not Found")
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(p, "/repos/"), "/"), "/")
	if len(parts) < 2 {
		return errBody(404, "Not Found")
	}
	repo := s.Repos[parts[0]+"/"+parts[1]]
	if repo == nil {
		return errBody(404, "Not Found")
	}
	parts = parts[2:]
	rest := "/" + strings.Join(parts, "/")
	switch {
	case len(parts) == 0 && r.Method == "GET":
		return 200, s.repository(repo)
	case rest == "/hooks" && r.Method == "GET":
		return 200, nonNil(repo.Hooks)
	case rest == "/issues" && r.Method == "GET":
		return s.listIssues(r, repo)
	case rest == "/issues" && r.Method == "POST":
		return s.createIssue(r, repo)
	case rest == "/milestones" && r.Method == "GET":
		return 200, nonNil(repo.Milestones)
	case rest == "/issues/comments" && r.Method == "GET":
		return s.listAllComments(r, repo)
	case len(parts) == 3 && parts[0] == "issues" && parts[1] == "comments":
		switch r.Method {
		case "PATCH":
			return s.editComment(r, repo, parts[2])
		case "DELETE":
			return s.deleteComment(repo, parts[2])
		}
	}
	if len(parts) < 2 || parts[0] != "issues" {
		return errBody(404, "Not Found")
	}
	n, err := strconv.Atoi(parts[1])
	is := repo.Issues[n]
	if err != nil || is == nil {
		return errBody(404, "Not Found")
	}
	switch {
	case len(parts) == 2 && r.Method == "GET":
		return 200, is
	case len(parts) == 2 && r.Method == "PATCH":
		return s.updateIssue(r, repo, is)
	case len(parts) == 3 && parts[2] == "comments" && r.Method == "GET":
		var cs []map[string]any
		for _, c := range repo.Comments {
			if c["issue_url"] == is["url"] {
				cs = append(cs, c)
			}
		}
		return s.page(r, cs)
	case len(parts) == 3 && parts[2] == "comments" && r.Method == "POST":
		return s.addComment(r, repo, is)
	case len(parts) == 3 && parts[2] == "parent" && r.Method == "GET":
		if pu, _ := is["parent_issue_url"].(string); pu != "" {
			if pr, pn := s.issueAt(pu); pr != nil {
				return 200, pr.Issues[pn]
			}
		}
		return errBody(404, "Not Found")
	case len(parts) == 3 && parts[2] == "sub_issues" && r.Method == "GET":
		var subs []map[string]any
		for _, rp := range s.Repos {
			for _, c := range rp.Issues {
				if c["parent_issue_url"] == is["url"] {
					subs = append(subs, c)
				}
			}
		}
		slices.SortFunc(subs, func(a, b map[string]any) int { return int(a["id"].(int64) - b["id"].(int64)) })
		return s.page(r, subs)
	case len(parts) == 3 && parts[2] == "sub_issues" && r.Method == "POST":
		return s.addSubIssue(r, is)
	case len(parts) == 3 && parts[2] == "sub_issue" && r.Method == "DELETE":
		return s.removeSubIssue(r, is)
	}
	return errBody(404, "Not Found")
}

func nonNil(l []map[string]any) []map[string]any {
	if l == nil {
		return []map[string]any{}
	}
	return l
}

// issueAt finds the issue of an API URL.
func (s *Server) issueAt(u string) (*Repo, int) {
	for _, rp := range s.Repos {
		if n, ok := strings.CutPrefix(u, s.api(rp)+"/issues/"); ok {
			num, err := strconv.Atoi(n)
			if err == nil && rp.Issues[num] != nil {
				return rp, num
			}
		}
	}
	return nil, 0
}

func (s *Server) byID(id int64) map[string]any {
	for _, rp := range s.Repos {
		for _, is := range rp.Issues {
			if is["id"].(int64) == id {
				return is
			}
		}
	}
	return nil
}

func (s *Server) installationToken(p string) (int, any) {
	id := strings.TrimSuffix(strings.TrimPrefix(p, "/app/installations/"), "/access_tokens")
	if s.App == nil || id != strconv.FormatInt(s.App.Installation, 10) {
		return errBody(404, "Not Found")
	}
	s.TokensIssued++
	ttl := s.App.TokenTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	tok := fmt.Sprintf("ghs_fake%04d", s.TokensIssued)
	exp := time.Now().Add(ttl).UTC().Truncate(time.Second)
	s.tokens[tok] = exp
	return 201, map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339),
		"permissions": map[string]any{"issues": "write", "metadata": "read"}, "repository_selection": "selected"}
}

// Example is a copy of one of the description's examples.
func (s *Server) Example(name string) map[string]any {
	var ex map[string]any
	if s.Spec != nil {
		ex, _ = s.Spec.Examples[name].(map[string]any)
	}
	b, _ := json.Marshal(ex["value"])
	var out map[string]any
	json.Unmarshal(b, &out)
	if out == nil {
		if s.T != nil {
			s.T.Errorf("GitHub's description has no example %q (is the fake given a Spec?)", name)
		}
		out = map[string]any{}
	}
	return out
}

func (s *Server) rateLimit() map[string]any {
	rl := s.Example("rate-limit-overview")
	core := map[string]any{"limit": 5000, "remaining": s.Remaining, "reset": time.Now().Add(time.Hour).Unix(), "used": 5000 - s.Remaining}
	if res, ok := rl["resources"].(map[string]any); ok {
		res["core"] = core
	} else {
		rl["resources"] = map[string]any{"core": core, "search": core}
	}
	rl["rate"] = core
	return rl
}

func (s *Server) repository(rp *Repo) map[string]any {
	r := s.Example("full-repository-default-response")
	// GitHub's example is not valid by its own schema: "language" is
	// missing; the fork's source and parent are left out.
	delete(r, "source")
	delete(r, "parent")
	delete(r, "template_repository")
	r["language"] = nil
	r["name"], r["full_name"], r["private"], r["has_issues"] = rp.Name, rp.FullName(), true, true
	r["permissions"] = map[string]any{"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
	return r
}

// page answers one page of items with GitHub's Link header.
func (s *Server) page(r *http.Request, items []map[string]any) (int, any) {
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
		s.link = `<` + s.baseURL + r.URL.Path + "?" + q.Encode() + `>; rel="next"`
	}
	return 200, out
}

func since(r *http.Request) (time.Time, int, any) {
	v := r.URL.Query().Get("since")
	if v == "" {
		return time.Time{}, 0, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		c, b := errBody(422, "since: invalid timestamp")
		return t, c, b
	}
	return t, 0, nil
}

// Stamp reads a stamp field of an object.
func Stamp(m map[string]any, k string) time.Time {
	t, _ := time.Parse(time.RFC3339, m[k].(string))
	return t
}

func (s *Server) listIssues(r *http.Request, rp *Repo) (int, any) {
	q := r.URL.Query()
	from, code, body := since(r)
	if code != 0 {
		return code, body
	}
	var list []map[string]any
	for _, is := range rp.Issues {
		st := q.Get("state")
		if st == "" {
			st = "open"
		}
		if st != "all" && is["state"] != st {
			continue
		}
		if !from.IsZero() && Stamp(is, "updated_at").Before(from) {
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
		c := Stamp(a, sortBy+"_at").Compare(Stamp(b, sortBy+"_at"))
		if c == 0 {
			c = a["number"].(int) - b["number"].(int)
		}
		if desc {
			return -c
		}
		return c
	})
	return s.page(r, list)
}

func (s *Server) listAllComments(r *http.Request, rp *Repo) (int, any) {
	from, code, body := since(r)
	if code != 0 {
		return code, body
	}
	var list []map[string]any
	for _, c := range rp.Comments {
		if from.IsZero() || !Stamp(c, "updated_at").Before(from) {
			list = append(list, c)
		}
	}
	by := "created_at"
	if r.URL.Query().Get("sort") == "updated" {
		by = "updated_at"
	}
	slices.SortStableFunc(list, func(a, b map[string]any) int { return Stamp(a, by).Compare(Stamp(b, by)) })
	if r.URL.Query().Get("direction") == "desc" {
		slices.Reverse(list)
	}
	return s.page(r, list)
}

func decode(r *http.Request) (map[string]any, error) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Server) setLabels(rp *Repo, is map[string]any, v any) {
	ls := []map[string]any{}
	seen := map[string]bool{}
	for _, x := range v.([]any) {
		name := x.(string)
		if !seen[name] {
			seen[name] = true
			ls = append(ls, s.label(rp, name))
		}
	}
	is["labels"] = ls
}

func setAssignees(is map[string]any, v any) {
	as := []map[string]any{}
	for _, x := range v.([]any) {
		as = append(as, User(x.(string)))
	}
	is["assignees"] = as
	is["assignee"] = nil
	if len(as) > 0 {
		is["assignee"] = as[0]
	}
}

// CreateIssue makes an issue as a person on GitHub would (call with Mu
// held): for tests that change GitHub behind the adapter's back.
func (s *Server) CreateIssue(rp *Repo, title, body string) map[string]any {
	n := rp.Next
	rp.Next++
	s.nextID++
	u := s.api(rp) + "/issues/" + strconv.Itoa(n)
	ts := Now()
	is := map[string]any{
		"id": s.nextID, "node_id": fmt.Sprintf("I_%d", s.nextID), "url": u, "repository_url": s.api(rp),
		"labels_url": u + "/labels{/name}", "comments_url": u + "/comments", "events_url": u + "/events",
		"html_url": "https://github.com/" + rp.FullName() + "/issues/" + strconv.Itoa(n),
		"number":   n, "state": "open", "state_reason": nil, "title": title, "body": nil,
		"user": User("octo"), "labels": []map[string]any{}, "assignee": nil, "assignees": []map[string]any{},
		"milestone": nil, "locked": false, "active_lock_reason": nil, "comments": 0, "closed_at": nil,
		"created_at": ts, "updated_at": ts, "author_association": "OWNER",
	}
	if body != "" {
		is["body"] = body
	}
	rp.Issues[n] = is
	return is
}

func (s *Server) createIssue(r *http.Request, rp *Repo) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	title, _ := m["title"].(string)
	if strings.TrimSpace(title) == "" {
		return 422, map[string]any{"message": "Validation Failed", "errors": []any{map[string]any{"resource": "Issue", "code": "missing_field", "field": "title"}}, "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue"}
	}
	is := s.CreateIssue(rp, title, "")
	is["body"] = m["body"]
	if v, ok := m["labels"]; ok {
		s.setLabels(rp, is, v)
	}
	if v, ok := m["assignees"]; ok {
		setAssignees(is, v)
	}
	if v, ok := m["milestone"]; ok && v != nil {
		for _, ms := range rp.Milestones {
			if float64(ms["number"].(int)) == v.(float64) {
				is["milestone"] = ms
			}
		}
	}
	return 201, is
}

// SetState closes or reopens an issue as GitHub does (call with Mu held).
func SetState(is map[string]any, state string, reason any) {
	if state != is["state"] {
		if state == "closed" {
			is["closed_at"], is["closed_by"] = Now(), User("octo")
			is["state_reason"] = "completed"
		} else {
			is["closed_at"], is["closed_by"] = nil, nil
			is["state_reason"] = "reopened"
		}
	}
	is["state"] = state
	if reason != nil {
		is["state_reason"] = reason
	}
	is["updated_at"] = Now()
}

func (s *Server) updateIssue(r *http.Request, rp *Repo, is map[string]any) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	if v, ok := m["title"]; ok {
		if t, _ := v.(string); strings.TrimSpace(t) == "" {
			return errBody(422, "Validation Failed")
		}
		is["title"] = v
	}
	if v, ok := m["body"]; ok {
		is["body"] = v
	}
	if v, ok := m["state"]; ok {
		SetState(is, v.(string), m["state_reason"])
	} else if v, ok := m["state_reason"]; ok && v != nil {
		is["state_reason"] = v
	}
	if v, ok := m["labels"]; ok {
		s.setLabels(rp, is, v)
	}
	if v, ok := m["assignees"]; ok {
		setAssignees(is, v)
	}
	if v, ok := m["milestone"]; ok {
		is["milestone"] = nil
		if v != nil {
			var found bool
			for _, ms := range rp.Milestones {
				if float64(ms["number"].(int)) == v.(float64) {
					is["milestone"], found = ms, true
				}
			}
			if !found {
				return errBody(422, "Validation Failed")
			}
		}
	}
	is["updated_at"] = Now()
	return 200, is
}

// AddComment comments on an issue as a person would (call with Mu held).
func (s *Server) AddComment(rp *Repo, is map[string]any, login, body string) map[string]any {
	s.nextID++
	ts := Now()
	c := map[string]any{
		"id": s.nextID, "node_id": fmt.Sprintf("IC_%d", s.nextID), "url": s.api(rp) + "/issues/comments/" + strconv.FormatInt(s.nextID, 10),
		"html_url": is["html_url"].(string) + "#issuecomment-" + strconv.FormatInt(s.nextID, 10),
		"body":     body, "user": User(login), "created_at": ts, "updated_at": ts, "issue_url": is["url"],
		"author_association": "OWNER", "performed_via_github_app": nil,
	}
	rp.Comments = append(rp.Comments, c)
	is["comments"] = is["comments"].(int) + 1
	is["updated_at"] = ts // GitHub bumps the issue when a comment is added
	return c
}

func (s *Server) addComment(r *http.Request, rp *Repo, is map[string]any) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	body, _ := m["body"].(string)
	if body == "" {
		return errBody(422, "Validation Failed")
	}
	return 201, s.AddComment(rp, is, "octo", body)
}

// editComment does not change the issue's updated_at (as on GitHub and Gitea).
func (s *Server) editComment(r *http.Request, rp *Repo, id string) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	for _, c := range rp.Comments {
		if strconv.FormatInt(c["id"].(int64), 10) == id {
			c["body"], c["updated_at"] = m["body"], Now()
			return 200, c
		}
	}
	return errBody(404, "Not Found")
}

func (s *Server) deleteComment(rp *Repo, id string) (int, any) {
	for i, c := range rp.Comments {
		if strconv.FormatInt(c["id"].(int64), 10) == id {
			rp.Comments = slices.Delete(rp.Comments, i, i+1)
			if pr, n := s.issueAt(c["issue_url"].(string)); pr != nil {
				pr.Issues[n]["comments"] = pr.Issues[n]["comments"].(int) - 1
			}
			return 204, nil
		}
	}
	return errBody(404, "Not Found")
}

func (s *Server) addSubIssue(r *http.Request, parent map[string]any) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	id, _ := m["sub_issue_id"].(float64)
	sub := s.byID(int64(id))
	if sub == nil {
		return errBody(404, "Not Found")
	}
	if pu, _ := sub["parent_issue_url"].(string); pu != "" && m["replace_parent"] != true {
		return errBody(422, "Validation Failed: the issue already has a parent")
	}
	if sub["url"] == parent["url"] {
		return errBody(422, "Validation Failed: an issue cannot be its own sub-issue")
	}
	sub["parent_issue_url"] = parent["url"]
	sub["updated_at"] = Now()
	s.summarize()
	return 201, parent
}

func (s *Server) removeSubIssue(r *http.Request, parent map[string]any) (int, any) {
	m, err := decode(r)
	if err != nil {
		return errBody(400, "Problems parsing JSON")
	}
	id, _ := m["sub_issue_id"].(float64)
	sub := s.byID(int64(id))
	if sub == nil || sub["parent_issue_url"] != parent["url"] {
		return errBody(404, "Not Found")
	}
	delete(sub, "parent_issue_url")
	sub["updated_at"] = Now()
	s.summarize()
	return 200, parent
}

// summarize sets every issue's sub_issues_summary.
func (s *Server) summarize() {
	count := map[string][2]int{}
	for _, rp := range s.Repos {
		for _, is := range rp.Issues {
			if pu, _ := is["parent_issue_url"].(string); pu != "" {
				c := count[pu]
				c[0]++
				if is["state"] == "closed" {
					c[1]++
				}
				count[pu] = c
			}
		}
	}
	for _, rp := range s.Repos {
		for _, is := range rp.Issues {
			c := count[is["url"].(string)]
			pct := 0
			if c[0] > 0 {
				pct = 100 * c[1] / c[0]
			}
			is["sub_issues_summary"] = map[string]any{"total": c[0], "completed": c[1], "percent_completed": pct}
		}
	}
}

// Delivery is the webhook payload GitHub sends for an action on an issue
// (call with Mu held).
func (s *Server) Delivery(rp *Repo, action string, is map[string]any) map[string]any {
	b, _ := json.Marshal(is)
	var issue map[string]any
	json.Unmarshal(b, &issue)
	issue["reactions"] = map[string]any{"url": is["url"].(string) + "/reactions", "total_count": 0, "+1": 0, "-1": 0,
		"laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0}
	delete(issue, "sub_issues_summary")
	delete(issue, "parent_issue_url")
	return map[string]any{"action": action, "issue": issue, "repository": s.repository(rp), "sender": User("octo")}
}
