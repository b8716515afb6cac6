package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// binary is the issuemesh binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "issuemesh-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "issuemesh")
	build := exec.Command("go", "build", "-o", binary, "../cmd/issuemesh")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building issuemesh failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one issuemesh node: its home and, while it runs, its process.
type proc struct {
	t    *testing.T
	name string
	home string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *lockedBuffer
	// exited is closed when the running process exits.
	exited chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newNode initialises a node home listening on loopback with random ports.
func newNode(t *testing.T, name string, extraInit ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, home: filepath.Join(t.TempDir(), name), log: &lockedBuffer{}}
	args := append([]string{"init", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1"}, extraInit...)
	p.mustCLI(args...)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", p.name, tail(p.log.String(), 60))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cli runs one issuemesh command against this node's home.
func (p *proc) cli(args ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"--home", p.home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("issuemesh %s on %s: %v: %s", strings.Join(args, " "), p.name, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (p *proc) mustCLI(args ...string) string {
	p.t.Helper()
	out, err := p.cli(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// cliJSON runs a command with --json and decodes its output.
func (p *proc) cliJSON(v any, args ...string) error {
	out, err := p.cli(append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("decode output of %v: %w: %s", args, err, out)
	}
	return nil
}

// start runs the node and waits until it answers on its admin socket.
func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	cmd := exec.Command(binary, "--home", p.home, "run")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd = cmd
	exited := make(chan struct{})
	p.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	p.mu.Unlock()
	testutil.WaitFor(p.t, 20*time.Second, p.name+" runs", func() bool {
		var st struct{ Running bool }
		return p.cliJSON(&st, "status") == nil && st.Running
	})
}

// stop ends the node with SIGTERM and waits for it.
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

// kill ends the node with SIGKILL: no clean-up at all.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		p.t.Errorf("%s did not stop within 30s of %v", p.name, sig)
	}
}

// addr is the node's live TCP address on loopback.
func (p *proc) addr() string {
	p.t.Helper()
	var id struct {
		PeerID string   `json:"peer_id"`
		Addrs  []string `json:"addrs"`
	}
	if err := p.cliJSON(&id, "id"); err != nil {
		p.t.Fatal(err)
	}
	for _, a := range id.Addrs {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") && !strings.Contains(a, "/tcp/0/") {
			return a
		}
	}
	p.t.Fatalf("%s has no live loopback TCP address: %v", p.name, id.Addrs)
	return ""
}

func (p *proc) peerID() string {
	p.t.Helper()
	var id struct {
		PeerID string `json:"peer_id"`
	}
	if err := p.cliJSON(&id, "id"); err != nil {
		p.t.Fatal(err)
	}
	return id.PeerID
}

// pair makes a and b allowlist each other (both must be running).
func pair(a, b *proc) {
	a.mustCLI("peer", "add", b.addr(), "--name", b.name)
	b.mustCLI("peer", "add", a.addr(), "--name", a.name)
}

type twinRef struct {
	Peer     string `json:"peer"`
	PeerName string `json:"peer_name"`
	Key      string `json:"key"`
}

type comment struct {
	ID     string `json:"id"`
	SyncID string `json:"sync_id"`
	Author string `json:"author"`
	Body   string `json:"body"`
}

type issue struct {
	Key         string    `json:"key"`
	Summary     string    `json:"summary"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	Priority    string    `json:"priority"`
	Labels      []string  `json:"labels"`
	Comments    []comment `json:"comments"`
	Twin        string    `json:"twin"`
	Twins       []twinRef `json:"twins"`
}

func (p *proc) issues() []issue {
	p.t.Helper()
	var is []issue
	if err := p.cliJSON(&is, "issue", "list"); err != nil {
		p.t.Fatal(err)
	}
	return is
}

func (p *proc) issue(key string) (issue, error) {
	var is issue
	err := p.cliJSON(&is, "issue", "show", key)
	return is, err
}

func (p *proc) findBySummary(summary string) (issue, bool) {
	for _, is := range p.issues() {
		if is.Summary == summary {
			return is, true
		}
	}
	return issue{}, false
}

// waitFor polls cond until it holds or the deadline passes.
