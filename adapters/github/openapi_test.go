package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// envSpecDir names the directory of the @octokit/openapi package; empty:
// scripts/github-openapi.sh is run to find (or install) it.
const envSpecDir = "ISSUEMESH_TEST_OCTOKIT_OPENAPI"

// usedPaths are the operations of GitHub's description the fake answers.
// The description is cut down to them (and all its components) so that it
// loads in about a second.
var usedPaths = []string{
	"/repos/{owner}/{repo}", "/repos/{owner}/{repo}/issues", "/repos/{owner}/{repo}/issues/{issue_number}",
	"/repos/{owner}/{repo}/issues/{issue_number}/comments", "/repos/{owner}/{repo}/issues/comments",
	"/repos/{owner}/{repo}/issues/comments/{comment_id}", "/repos/{owner}/{repo}/milestones",
	"/rate_limit", "/user",
}

type spec struct {
	router     routers.Router
	basicError *openapi3.Schema
	examples   map[string]any // components/examples, as JSON
	file       string
}

// loadSpec is the description, loaded once per test binary.
var loadSpec = sync.OnceValues(func() (*spec, error) {
	dir := os.Getenv(envSpecDir)
	if dir == "" {
		out, err := exec.Command("bash", "../../scripts/github-openapi.sh").Output()
		if err != nil {
			return nil, fmt.Errorf("scripts/github-openapi.sh: %w", err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "export "+envSpecDir+"="); ok {
				dir = strings.Trim(v, `'"`)
			}
		}
		if dir == "" {
			return nil, fmt.Errorf("scripts/github-openapi.sh printed no %s: %s", envSpecDir, out)
		}
	}
	file := filepath.Join(dir, "generated", "api.github.com.json")
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var full map[string]any
	if err := json.Unmarshal(raw, &full); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	paths := full["paths"].(map[string]any)
	kept := map[string]any{}
	for _, p := range usedPaths {
		if paths[p] == nil {
			return nil, fmt.Errorf("%s has no path %s", file, p)
		}
		kept[p] = paths[p]
	}
	full["paths"] = kept
	examples, _ := full["components"].(map[string]any)["examples"].(map[string]any)
	full["servers"] = []any{map[string]any{"url": "https://api.github.com"}}
	cut, _ := json.Marshal(full)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(cut)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", file, err)
	}
	be := doc.Components.Schemas["basic-error"]
	if be == nil || be.Value == nil {
		return nil, fmt.Errorf("%s has no basic-error schema", file)
	}
	return &spec{router: r, basicError: be.Value, examples: examples, file: file}, nil
})

// needSpec returns GitHub's description or skips the test, saying why.
func needSpec(t *testing.T) *spec {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Skipf("GitHub's OpenAPI description (@octokit/openapi from the npm registry) is not available: %v", err)
	}
	return s
}

// validator is a RoundTripper that checks every request against GitHub's
// description before sending it and every answer after, failing the test
// with the method, path and the rule broken.
type validator struct {
	t    interface{ Errorf(string, ...any) }
	s    *spec
	next http.RoundTripper

	mu      sync.Mutex
	checked int
}

func (v *validator) RoundTrip(r *http.Request) (*http.Response, error) {
	var reqBody []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	// Route as if sent to api.github.com (the description's server).
	vr := r.Clone(context.Background())
	vr.URL.Scheme, vr.URL.Host, vr.Host = "https", "api.github.com", "api.github.com"
	vr.URL.Path = strings.TrimPrefix(vr.URL.Path, "/api/v3") // the fake is a GitHub Enterprise Server
	vr.URL.RawPath = ""
	vr.Body = io.NopCloser(bytes.NewReader(reqBody))
	what := r.Method + " " + r.URL.Path
	route, params, err := v.s.router.FindRoute(vr)
	if err != nil {
		v.t.Errorf("the adapter sent %s, which GitHub's description has no operation for: %v", what, err)
		return v.next.RoundTrip(r)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		v.t.Errorf("request %s?%s breaks GitHub's description (%s): %v\nbody: %s", what, r.URL.RawQuery, route.Operation.OperationID, err, reqBody)
	}
	resp, err := v.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if route.Operation.Responses.Status(resp.StatusCode) == nil && generalStatus[resp.StatusCode] {
		// GitHub documents these for every operation in its REST
		// overview, not per operation: the body is a basic-error.
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			v.t.Errorf("the answer %d to %s is not JSON: %v", resp.StatusCode, what, err)
		} else if err := v.s.basicError.VisitJSON(doc); err != nil {
			v.t.Errorf("the answer %d to %s breaks GitHub's basic-error schema: %v\nbody: %s", resp.StatusCode, what, err, body)
		}
		v.count()
		return resp, nil
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("the answer %d to %s breaks GitHub's description (%s): %v\nbody: %.2000s", resp.StatusCode, what, route.Operation.OperationID, err, body)
	}
	v.count()
	return resp, nil
}

// generalStatus are the answers any operation may give (bad credentials,
// rate limits), which the description leaves out of most operations.
var generalStatus = map[int]bool{401: true, 403: true, 429: true}

func (v *validator) count() {
	v.mu.Lock()
	v.checked++
	v.mu.Unlock()
}

// Checked is how many exchanges were validated.
func (v *validator) Checked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checked
}

// newValidated opens the adapter on a fresh fake, every exchange validated.
func newValidated(t *testing.T) (*Tracker, *fakeGitHub, *validator) {
	t.Helper()
	s := needSpec(t)
	f := newFake(t, "octo", "widgets")
	f.examples = s.examples
	v := &validator{t: t, s: s, next: http.DefaultTransport}
	tr, err := New(Options{BaseURL: f.srv.URL + "/", Token: f.token, Repo: "octo/widgets", Settle: 1100 * time.Millisecond,
		HTTPClient: &http.Client{Transport: v, Timeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.Close()
		t.Logf("%d requests and answers validated against %s", v.Checked(), filepath.Base(s.file))
	})
	return tr, f, v
}
