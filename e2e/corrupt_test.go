package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestCorruptSyncLogRefused (issue 12): A shares 25 issues with B and stops
// cleanly. In copies of A's home, one byte is flipped in a table (.sst) of
// the sync log, and in a value-log file (.vlog). A node started on either
// copy must refuse to start with an error naming the file, `doctor` must
// name it too (and pass the clean home), and editing every issue
// afterwards must not create any issue a second time at B. Before the fix
// the node started on both copies without a word.
func TestCorruptSyncLogRefused(t *testing.T) {
	const n = 25
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)
	// Over the sync log's value threshold (64 KiB) once compressed (the
	// sync log stores twins and events S2-compressed), so that twins and
	// events reach the value log: letters in a pseudo-random order.
	rng := rand.New(rand.NewPCG(12, 34))
	letters := make([]byte, 74000)
	for i := range letters {
		letters[i] = 'a' + byte(rng.IntN(26))
	}
	desc := string(letters)
	for i := range n {
		a.mustCLI("issue", "create", "--summary", fmt.Sprintf("issue %02d", i), "--description", desc)
	}
	testutil.WaitFor(t, 30*time.Second, "B has every issue and A has acks for all", func() bool {
		var st struct{ Pending, Twins int }
		return len(b.issues()) == n && a.cliJSON(&st, "status") == nil && st.Twins == n && st.Pending == 0
	})
	a.stop() // a clean stop writes the tables

	if out, err := a.cli("doctor"); err != nil {
		t.Fatalf("doctor on a clean home: %v\n%s", err, out)
	}

	for _, tc := range []struct{ name, pattern string }{{"table", "*.sst"}, {"value log", "*.vlog"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &proc{t: t, name: "alice-copy", home: filepath.Join(t.TempDir(), "alice"), log: &lockedBuffer{}}
			copyDir(t, a.home, c.home)
			file := flipLargest(t, filepath.Join(c.home, "synclog"), tc.pattern)
			t.Logf("flipped a byte in %s", file)

			// The node refuses to start, naming the file.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out bytes.Buffer
			run := exec.CommandContext(ctx, binary, "--home", c.home, "run")
			run.Stdout, run.Stderr = &out, &out
			err := run.Run()
			if ctx.Err() != nil || err == nil {
				c.cmd = nil
				t.Fatalf("the node started on a sync log with a flipped byte in %s (it ran until stopped)", file)
			}
			if !strings.Contains(out.String(), file) {
				t.Fatalf("the node refused to start, but its error does not name %s:\n%s", file, tail(out.String(), 20))
			}

			// doctor names the file and exits non-zero, also with --json.
			dout, err := c.cli("doctor")
			var ee *exec.ExitError
			if err == nil || !strings.Contains(dout, file) {
				t.Fatalf("doctor on the corrupt home: err %v; want exit 1 and %s named:\n%s", err, file, dout)
			}
			jcmd := exec.Command(binary, "--home", c.home, "doctor", "--json")
			jout, err := jcmd.Output()
			var rep struct {
				OK     bool
				Checks []struct {
					Name     string
					Problems []struct{ File, What, Fix string }
				}
			}
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || json.Unmarshal(jout, &rep) != nil || rep.OK {
				t.Fatalf("doctor --json: %v: %s", err, jout)
			}
			if p := rep.Checks[0].Problems; rep.Checks[0].Name != "checksums" || len(p) == 0 || p[0].File != file || p[0].Fix == "" {
				t.Fatalf("doctor --json does not name %s with what to do: %s", file, jout)
			}

			// Edits afterwards (offline: the commands open the home) do not
			// reach B as new issues.
			for i := range n {
				c.cli("issue", "edit", fmt.Sprintf("LOCAL-%d", i+1), "--summary", fmt.Sprintf("edited %02d", i))
			}
			if got := len(b.issues()); got != n {
				t.Fatalf("B has %d issues after the edits on the corrupt copy, want %d (a twin created twice)", got, n)
			}
		})
	}
}

// copyDir copies a home (files and folders, not sockets).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(dst, 0o700)
		case !fi.Mode().IsRegular():
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flipLargest inverts one byte early in the largest file of dir matching
// pattern (inside its first table block or value-log entry) and returns
// the file's path.
func flipLargest(t *testing.T, dir, pattern string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(files) == 0 {
		t.Fatalf("no %s in %s", pattern, dir)
	}
	size := func(f string) int64 { fi, _ := os.Stat(f); return fi.Size() }
	f := slices.MaxFunc(files, func(x, y string) int { return int(size(x) - size(y)) })
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 200 {
		t.Fatalf("%s has %d bytes, too few to corrupt", f, len(b))
	}
	b[120] ^= 0xff
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
