package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// issue attach keeps a file with an issue (once per content), and issue
// show lists the files with their sizes.
func TestIssueAttach(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if out, err := run(t, "--home", home, "init", "--listen", "/ip4/127.0.0.1/tcp/0"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	key, err := run(t, "--home", home, "issue", "create", "--summary", "with files")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, key)
	}
	key = strings.TrimSpace(key)
	file := filepath.Join(dir, "trace.log")
	if err := os.WriteFile(file, []byte(strings.Repeat("x", 3000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time adds nothing
		if out, err := run(t, "--home", home, "issue", "attach", key, file, "--author", "ann"); err != nil {
			t.Fatalf("attach: %v\n%s", err, out)
		}
	}
	out, err := run(t, "--home", home, "issue", "show", key)
	if err != nil {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if !strings.Contains(out, "trace.log  (2.9 KiB by ann") || strings.Count(out, "trace.log") != 1 {
		t.Errorf("issue show lists the files as:\n%s", out)
	}
	if out, err := run(t, "--home", home, "issue", "attach", key, filepath.Join(dir, "missing")); err == nil || !strings.Contains(out+err.Error(), "no such file") {
		t.Errorf("attaching a missing file: %v\n%s", err, out)
	}
}
