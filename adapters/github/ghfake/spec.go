package ghfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// EnvSpecDir names the directory of the @octokit/openapi package and
// EnvWebhooksDir that of @octokit/openapi-webhooks; when unset,
// scripts/github-openapi.sh (found by walking up to go.mod) is run to
// find or install them.
const (
	EnvSpecDir     = "ISSUEMESH_TEST_OCTOKIT_OPENAPI"
	EnvWebhooksDir = "ISSUEMESH_TEST_OCTOKIT_WEBHOOKS"
)

// UsedPaths are the operations of GitHub's description the fake answers.
// The description is cut down to them (and all its components) so that it
// loads in about a second.
var UsedPaths = []string{
	"/repos/{owner}/{repo}", "/repos/{owner}/{repo}/issues", "/repos/{owner}/{repo}/issues/{issue_number}",
	"/repos/{owner}/{repo}/issues/{issue_number}/comments", "/repos/{owner}/{repo}/issues/comments",
	"/repos/{owner}/{repo}/issues/comments/{comment_id}", "/repos/{owner}/{repo}/milestones",
	"/repos/{owner}/{repo}/issues/{issue_number}/sub_issues", "/repos/{owner}/{repo}/issues/{issue_number}/sub_issue",
	"/repos/{owner}/{repo}/issues/{issue_number}/parent", "/repos/{owner}/{repo}/hooks",
	"/app", "/app/installations/{installation_id}/access_tokens", "/installation/repositories",
	"/rate_limit", "/user",
}

// Spec is GitHub's REST description, cut down to UsedPaths.
type Spec struct {
	router     routers.Router
	basicError *openapi3.Schema
	// Examples are components/examples, as JSON.
	Examples map[string]any
	// File is the description's file.
	File string
}

// dirs runs scripts/github-openapi.sh when the environment does not name
// the packages' directories.
var dirs = sync.OnceValues(func() (map[string]string, error) {
	out := map[string]string{EnvSpecDir: os.Getenv(EnvSpecDir), EnvWebhooksDir: os.Getenv(EnvWebhooksDir)}
	if out[EnvSpecDir] != "" && out[EnvWebhooksDir] != "" {
		return out, nil
	}
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(root)
		if up == root {
			return nil, errors.New("no go.mod above the working directory, so no scripts/github-openapi.sh")
		}
		root = up
	}
	b, err := exec.Command("bash", filepath.Join(root, "scripts", "github-openapi.sh")).Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/github-openapi.sh: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		for k := range out {
			if v, ok := strings.CutPrefix(l, "export "+k+"="); ok && out[k] == "" {
				out[k] = strings.Trim(v, `'"`)
			}
		}
	}
	if out[EnvSpecDir] == "" || out[EnvWebhooksDir] == "" {
		return nil, fmt.Errorf("scripts/github-openapi.sh printed no %s or %s: %s", EnvSpecDir, EnvWebhooksDir, b)
	}
	return out, nil
})

// LoadSpec is the REST description, loaded once per process.
var LoadSpec = sync.OnceValues(func() (*Spec, error) {
	d, err := dirs()
	if err != nil {
		return nil, err
	}
	file := filepath.Join(d[EnvSpecDir], "generated", "api.github.com.json")
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
	for _, p := range UsedPaths {
		if paths[p] == nil {
			return nil, fmt.Errorf("%s has no path %s", file, p)
		}
		kept[p] = paths[p]
	}
	full["paths"] = kept
	examples, _ := full["components"].(map[string]any)["examples"].(map[string]any)
	full["servers"] = []any{map[string]any{"url": "https://api.github.com"}}
	cut, _ := json.Marshal(full)
	doc, err := openapi3.NewLoader().LoadFromData(cut)
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
	return &Spec{router: r, basicError: be.Value, Examples: examples, File: file}, nil
})

// LoadWebhooks is the webhooks description (@octokit/openapi-webhooks),
// loaded once per process.
var LoadWebhooks = sync.OnceValues(func() (*openapi3.T, error) {
	d, err := dirs()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d[EnvWebhooksDir], "generated", "api.github.com.json"))
	if err != nil {
		return nil, err
	}
	return openapi3.NewLoader().LoadFromData(b)
})

// CheckDelivery validates a webhook payload against schema (for example
// "webhook-issues-opened") and returns one line per rule broken, with the
// JSON pointer where.
func CheckDelivery(schema string, payload []byte) ([]string, error) {
	doc, err := LoadWebhooks()
	if err != nil {
		return nil, err
	}
	ref := doc.Components.Schemas[schema]
	if ref == nil {
		return nil, fmt.Errorf("GitHub's webhooks description has no schema %s", schema)
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, fmt.Errorf("the delivery is not JSON: %w", err)
	}
	err = ref.Value.VisitJSON(v, openapi3.MultiErrors())
	if err == nil {
		return nil, nil
	}
	var me openapi3.MultiError
	if !errors.As(err, &me) {
		me = openapi3.MultiError{err}
	}
	var out []string
	for _, e := range me {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			out = append(out, fmt.Sprintf("delivery breaks %s at /%s: %s", schema, strings.Join(se.JSONPointer(), "/"), se.Reason))
		} else {
			out = append(out, fmt.Sprintf("delivery breaks %s: %.300s", schema, e))
		}
	}
	return out, nil
}

// Reporter receives what breaks the description (a *testing.T).
type Reporter interface{ Errorf(string, ...any) }

// GeneralStatus are the answers any operation may give (bad credentials,
// rate limits), which the description leaves out of most operations.
var GeneralStatus = map[int]bool{401: true, 403: true, 429: true}

// Exchange checks one request (with its body) and its answer against the
// description and reports each mismatch with the method, path, operation
// and rule broken. It returns false when the request has no operation.
func (s *Spec) Exchange(rep Reporter, r *http.Request, reqBody []byte, status int, header http.Header, body []byte) bool {
	// Route as if sent to api.github.com (the description's server).
	vr := r.Clone(context.Background())
	vr.URL.Scheme, vr.URL.Host, vr.Host = "https", "api.github.com", "api.github.com"
	vr.URL.Path = strings.TrimPrefix(vr.URL.Path, "/api/v3") // a GitHub Enterprise Server's prefix
	vr.URL.RawPath = ""
	vr.RequestURI = ""
	vr.Body = io.NopCloser(bytes.NewReader(reqBody))
	what := r.Method + " " + r.URL.Path
	route, params, err := s.router.FindRoute(vr)
	if err != nil {
		rep.Errorf("the adapter sent %s, which GitHub's description has no operation for: %v", what, err)
		return false
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		rep.Errorf("request %s?%s breaks GitHub's description (%s): %v\nbody: %s", what, r.URL.RawQuery, route.Operation.OperationID, err, reqBody)
	}
	if route.Operation.Responses.Status(status) == nil && GeneralStatus[status] {
		// GitHub documents these for every operation in its REST
		// overview, not per operation: the body is a basic-error.
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			rep.Errorf("the answer %d to %s is not JSON: %v", status, what, err)
		} else if err := s.basicError.VisitJSON(doc); err != nil {
			rep.Errorf("the answer %d to %s breaks GitHub's basic-error schema: %v\nbody: %s", status, what, err, body)
		}
		return true
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		rep.Errorf("the answer %d to %s breaks GitHub's description (%s): %v\nbody: %.2000s", status, what, route.Operation.OperationID, err, body)
	}
	return true
}

// Validator is a RoundTripper that checks every request against GitHub's
// description and every answer, reporting mismatches to T.
type Validator struct {
	T    Reporter
	S    *Spec
	Next http.RoundTripper

	mu      sync.Mutex
	checked int
}

// RoundTrip sends r on, validating both ways.
func (v *Validator) RoundTrip(r *http.Request) (*http.Response, error) {
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
	next := v.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if v.S.Exchange(v.T, r, reqBody, resp.StatusCode, resp.Header, body) {
		v.mu.Lock()
		v.checked++
		v.mu.Unlock()
	}
	return resp, nil
}

// Checked is how many exchanges were validated.
func (v *Validator) Checked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checked
}
