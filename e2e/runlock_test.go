package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A second `run` on a home where a node runs refuses to start and says
// which process runs there; after that node is killed with SIGKILL, the
// pid file it leaves behind does not stop a new one.
func TestSecondRunRefusedWithPID(t *testing.T) {
	a := newNode(t, "a")
	a.start()
	a.mu.Lock()
	pid := a.cmd.Process.Pid
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, binary, "--home", a.home, "run")
	var out bytes.Buffer
	second.Stdout, second.Stderr = &out, &out
	err := second.Run()
	if ctx.Err() != nil {
		t.Fatalf("a second run on the same home did not exit within 8s: %s", out.String())
	}
	if err == nil {
		t.Fatalf("a second run on the same home exited 0: %s", out.String())
	}
	msg := out.String()
	if !strings.Contains(msg, "already runs") || !strings.Contains(msg, "PID "+strconv.Itoa(pid)) {
		t.Fatalf("a second run said %q; want it to say a node already runs, with PID %d", msg, pid)
	}
	if strings.Contains(msg, "Cannot acquire directory lock") {
		t.Fatalf("a second run printed the database's lock error: %q", msg)
	}
	// The first one still runs and answers.
	var st struct{ Running bool }
	if err := a.cliJSON(&st, "status"); err != nil || !st.Running {
		t.Fatalf("the first node after the refused second run: running %v, %v", st.Running, err)
	}

	a.kill()
	if b, err := os.ReadFile(filepath.Join(a.home, "node.pid")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pid file after SIGKILL: %q, %v; want the killed node's PID left behind", b, err)
	}
	a.start()
}
