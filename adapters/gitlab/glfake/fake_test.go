package glfake

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestShapesAreChecked: an answer with a key the documentation's example
// lacks, or a value of another JSON type, and a request attribute the
// documentation does not list, are violations (so the check can fail).
func TestShapesAreChecked(t *testing.T) {
	f := New(t)
	r := httptest.NewRequest("GET", "/api/v4/projects/acme%2Fwidgets/issues?updated_after=x&bogus=1", nil)
	f.Mu.Lock()
	f.write(httptest.NewRecorder(), r, 200, "issue", []map[string]any{{"iid": "7", "title": "t", "invented": true, "milestone": map[string]any{"title": 3}}})
	f.checkRequest("GET issues", r, nil)
	got := strings.Join(f.violations, "\n")
	f.violations = nil // the test's own; New's cleanup would fail it
	f.Mu.Unlock()
	for _, want := range []string{"issue[0].iid is string", "issue[0].invented is not in the documentation's example", "issue[0].milestone.title is float64", `query parameter "bogus"`} {
		if !strings.Contains(got, want) {
			t.Errorf("violations lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "updated_after") || strings.Contains(got, ".title is not") {
		t.Errorf("documented attributes reported:\n%s", got)
	}
	// Every example names its source.
	for name := range f.shapes {
		b, _ := examples.ReadFile("testdata/" + name + ".json")
		if !strings.Contains(string(b), `"source": "https://docs.gitlab.com/api/`) {
			t.Errorf("testdata/%s.json names no documentation page as its source", name)
		}
	}
	resp, err := http.Get(f.URL() + "/api/v4/user")
	if err != nil || resp.StatusCode != 401 {
		t.Errorf("no token: %v %v, want 401", resp, err)
	}
	resp.Body.Close()
}
