package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// rules test speaks one replica shape: what --to prints on A, fed as is
// to --from on B, is read; edited by hand (a new summary, its clock left
// out), it gives the patch B's incoming rules would make; a key the shape
// does not have is refused, by name.
func TestRulesTestReplicaRoundTrip(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)
	key := trim(a.mustCLI("issue", "create", "--summary", "Shape test", "--description", "the text", "--label", "api"))
	a.mustCLI("issue", "comment", key, "--body", "seen")
	var onB issue
	testutil.WaitFor(t, 10*time.Second, "the issue and its comment land on B", func() bool {
		var ok bool
		onB, ok = b.findBySummary("Shape test")
		return ok && len(onB.Comments) == 1
	})

	var to struct {
		Replica map[string]any `json:"replica"`
	}
	out := a.mustCLI("rules", "test", "--to", "bob", key)
	if err := json.Unmarshal([]byte(out), &to); err != nil {
		t.Fatalf("rules test --to: %v: %s", err, out)
	}
	fields, _ := to.Replica["fields"].(map[string]any)
	summary, _ := fields["summary"].(map[string]any)
	if summary["value"] != "Shape test" || !strings.Contains(out, `"api"`) || !strings.Contains(out, `"seen"`) {
		t.Fatalf("rules test --to does not print the replica by field name: %s", out)
	}
	file := filepath.Join(t.TempDir(), "replica.json")
	write := func(v any) {
		t.Helper()
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		Skip   bool
		Create json.RawMessage
		Patch  *struct {
			Summary *string `json:"summary"`
		}
	}
	// As printed: read, and nothing to change (B has it all).
	write(to.Replica)
	from := func() (result, error) {
		var res result
		out, err := b.cli("rules", "test", "--from", "alice", "--replica", file, onB.Key)
		if err == nil {
			err = json.Unmarshal([]byte(out), &res)
		}
		return res, err
	}
	res, err := from()
	if err != nil {
		t.Fatalf("the replica --to printed, fed to --from: %v", err)
	}
	if res.Patch == nil || res.Patch.Summary != nil {
		t.Fatalf("the replica as printed: %+v", res)
	}
	// Edited by hand: the summary without its clock is a fresh edit.
	fields["summary"] = map[string]any{"value": "Renamed by hand"}
	write(to.Replica)
	if res, err = from(); err != nil {
		t.Fatal(err)
	}
	if res.Patch == nil || res.Patch.Summary == nil || *res.Patch.Summary != "Renamed by hand" {
		t.Fatalf("an edited summary does not make the patch: %+v", res)
	}
	// An unknown key is refused, named.
	fields["summary"] = map[string]any{"value": "x", "colck": "now"}
	write(to.Replica)
	if _, err := from(); err == nil || !strings.Contains(err.Error(), `"colck"`) || !strings.Contains(err.Error(), "fields.summary") {
		t.Fatalf("a replica with the unknown key colck: %v", err)
	}
	if is, err := b.issue(onB.Key); err != nil || is.Summary != "Shape test" {
		t.Fatalf("rules test changed B's issue: %+v, %v", is, err)
	}
}
