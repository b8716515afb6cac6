package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
)

// The CLI contract of issue 16 on the local tracker: people, type, dates
// and custom fields on create and edit, relations, comment edit and delete,
// detach, and issue show --json with comment IDs and relations.
func TestIssueFieldsCLI(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	must := func(args ...string) string {
		t.Helper()
		out, err := run(t, append([]string{"--home", home}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	show := func(key string) api.IssueView {
		t.Helper()
		var v api.IssueView
		if err := json.Unmarshal([]byte(must("issue", "show", key, "--json")), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	must("init", "--listen", "/ip4/127.0.0.1/tcp/0")
	blocked := must("issue", "create", "--summary", "blocked one")
	key := must("issue", "create", "--summary", "full", "--assignee", "ann@example.com", "--reporter", "bob",
		"--type", "Bug", "--due", "2027-01-31", "--start", "2027-01-02",
		"--field", "Tier:option=Gold", "--field", "Effort:number=3", "--field", "Platforms:options=linux, mac", "--field", "Note=hello")
	must("issue", "relate", key, blocked, "--kind", "blocks")
	must("issue", "edit", key, "--field", "Effort=5", "--field", "Note=", "--assignee", "")
	must("issue", "comment", key, "--body", "first")
	must("issue", "comment", key, "--body", "second")
	must("issue", "comment", key, "--edit", "1", "--body", "first, edited")
	must("issue", "comment", key, "--delete", "2")
	file := filepath.Join(dir, "trace.log")
	if err := os.WriteFile(file, []byte("log"), 0o600); err != nil {
		t.Fatal(err)
	}
	must("issue", "attach", key, file)
	must("issue", "detach", key, "trace.log")

	v := show(key)
	if v.Assignee != nil || v.Reporter == nil || v.Reporter.Login != "bob" || v.Type != "Bug" || v.Due != "2027-01-31" || v.Start != "2027-01-02" {
		t.Errorf("people, type, dates: %+v %+v %q %q %q", v.Assignee, v.Reporter, v.Type, v.Due, v.Start)
	}
	wantFields := map[string]adapters.FieldValue{
		"Tier":      {Kind: "option", Text: "Gold"},
		"Effort":    {Kind: "number", Text: "5"}, // kept its kind
		"Platforms": {Kind: "options", Options: []string{"linux", "mac"}},
	}
	if !reflect.DeepEqual(v.Fields, wantFields) {
		t.Errorf("fields %+v, want %+v", v.Fields, wantFields)
	}
	if len(v.Related) != 1 || v.Related[0].Kind != "blocks" || v.Related[0].Key != blocked {
		t.Errorf("related %+v", v.Related)
	}
	if len(v.Comments) != 1 || v.Comments[0].ID != "1" || v.Comments[0].Body != "first, edited" {
		t.Errorf("comments %+v", v.Comments)
	}
	if len(v.Attachments) != 0 {
		t.Errorf("files %+v", v.Attachments)
	}
	text := must("issue", "show", key)
	for _, want := range []string{"reporter: bob", "type: Bug", "due: 2027-01-31", "Tier: Gold", "blocks " + blocked, "[1] "} {
		if !strings.Contains(text, want) {
			t.Errorf("issue show lacks %q:\n%s", want, text)
		}
	}
	must("issue", "unrelate", key, blocked)
	if v := show(key); len(v.Related) != 0 {
		t.Errorf("after unrelate: %+v", v.Related)
	}
	for _, bad := range [][]string{
		{"issue", "edit", key, "--due", "tomorrow"},
		{"issue", "edit", key, "--field", "novalue"},
		{"issue", "edit", key, "--field", "X:colour=red"},
		{"issue", "relate", key, blocked, "--kind", "owns"},
		{"issue", "comment", key, "--delete", "9"},
		{"issue", "detach", key, "nope.txt"},
	} {
		if out, err := run(t, append([]string{"--home", home}, bad...)...); err == nil {
			t.Errorf("%v accepted:\n%s", bad, out)
		}
	}
}
