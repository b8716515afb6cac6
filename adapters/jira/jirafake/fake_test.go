package jirafake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// reference reads a body of Atlassian's reference kept in the adapter's
// testdata (each file names its source).
func reference(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Source string `json:"source"`
		Body   any    `json:"body"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Source == "" {
		t.Fatalf("%s: %v (source %q)", name, err, doc.Source)
	}
	return doc.Body
}

func call(t *testing.T, f *Jira, method, path string, body any, out any) {
	t.Helper()
	var rd bytes.Buffer
	if body != nil {
		json.NewEncoder(&rd).Encode(body)
	}
	req, _ := http.NewRequest(method, f.URL()+path, &rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFakeFollowsReference: the fake's answers have the shape of the
// bodies of Atlassian's reference in testdata: every key they show, with
// the same JSON type.
func TestFakeFollowsReference(t *testing.T) {
	f := New(t)
	var fields []any
	call(t, f, "GET", "/rest/api/3/field", nil, &fields)
	byID := map[string]any{}
	for _, e := range fields {
		byID[e.(map[string]any)["id"].(string)] = e
	}
	// The reference's entries against the fake's of the same kind.
	like := map[string]string{"description": "summary", "summary": "summary", "customfield_10000": "customfield_10054", "customfield_10001": "customfield_10051"}
	for _, e := range reference(t, "field-get.json").([]any) {
		id := e.(map[string]any)["id"].(string)
		for _, d := range ShapeDiff(e, byID[like[id]]) {
			t.Errorf("GET /field, %s (as %s): %s", id, like[id], d)
		}
	}

	for _, s := range []string{"blocker", "blocked"} {
		call(t, f, "POST", "/rest/api/3/issue", map[string]any{"fields": map[string]any{"project": map[string]string{"key": "PROJ"}, "issuetype": map[string]string{"name": "Task"}, "summary": s}}, nil)
	}
	call(t, f, "POST", "/rest/api/3/issueLink", map[string]any{"type": map[string]string{"name": "Blocks"}, "outwardIssue": map[string]string{"key": "PROJ-1"}, "inwardIssue": map[string]string{"key": "PROJ-2"}}, nil)
	doc := reference(t, "issuelinks.json").(map[string]any)["fields"].(map[string]any)["issuelinks"].([]any)
	for i, key := range []string{"PROJ-1", "PROJ-2"} { // the link's start shows outwardIssue, its end inwardIssue
		var is struct {
			Fields struct {
				IssueLinks []any `json:"issuelinks"`
			} `json:"fields"`
		}
		call(t, f, "GET", "/rest/api/3/issue/"+key, nil, &is)
		if len(is.Fields.IssueLinks) != 1 {
			t.Fatalf("%s: links %v", key, is.Fields.IssueLinks)
		}
		for _, d := range ShapeDiff(doc[i], is.Fields.IssueLinks[0]) {
			t.Errorf("%s issuelinks: %s", key, d)
		}
	}
}
