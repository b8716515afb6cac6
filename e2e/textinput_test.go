package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliStdin runs one issuemesh command with stdin as its standard input.
func (p *proc) cliStdin(stdin string, args ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"--home", p.home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), &cliError{args: args, err: err, stderr: strings.TrimSpace(errb.String())}
	}
	return out.String(), nil
}

type cliError struct {
	args   []string
	err    error
	stderr string
}

func (e *cliError) Error() string {
	return "issuemesh " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

// A description longer than one command-line argument may be (128 KiB on
// Linux) comes from a file; edits and comments come from standard input.
func TestLongTextsFromFileAndStdin(t *testing.T) {
	a := newNode(t, "a")
	a.start()

	long := strings.Repeat("A line of a long description, with ünïcödé.\n", 8000) // about 370 KB
	file := filepath.Join(t.TempDir(), "desc.txt")
	if err := os.WriteFile(file, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(a.mustCLI("issue", "create", "--summary", "long", "--description-file", file))
	is, err := a.issue(key)
	if err != nil {
		t.Fatal(err)
	}
	if is.Description != long {
		t.Fatalf("description from the file: got %d bytes, want %d", len(is.Description), len(long))
	}

	edited := "edited\nfrom standard input\n"
	if _, err := a.cliStdin(edited, "issue", "edit", key, "--description-file", "-"); err != nil {
		t.Fatal(err)
	}
	body := "a comment\nof two lines"
	if _, err := a.cliStdin(body, "issue", "comment", key, "--body-file", "-"); err != nil {
		t.Fatal(err)
	}
	bodyFile := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(bodyFile, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustCLI("issue", "comment", key, "--body-file", bodyFile)
	if is, err = a.issue(key); err != nil {
		t.Fatal(err)
	}
	if is.Description != edited {
		t.Fatalf("description from stdin: got %q, want %q", is.Description, edited)
	}
	if len(is.Comments) != 2 || is.Comments[0].Body != body || is.Comments[1].Body != "from a file" {
		t.Fatalf("comments: got %+v, want %q and %q", is.Comments, body, "from a file")
	}

	// Both ways at once, or neither for a comment, is a mistake said so.
	if _, err := a.cli("issue", "edit", key, "--description", "x", "--description-file", file); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("--description with --description-file: got %v, want a refusal", err)
	}
	if _, err := a.cli("issue", "comment", key); err == nil || !strings.Contains(err.Error(), "--body-file") {
		t.Fatalf("comment without a body: got %v, want an error naming --body-file", err)
	}
	if _, err := a.cli("issue", "comment", key, "--body-file", filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("comment from a missing file: got %v, want an error naming the file", err)
	}
}
