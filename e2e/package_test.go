package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// The installed package's paths (packaging/nfpm.yaml).
const (
	debUnit   = "/lib/systemd/system/issuemesh.service"
	debBinary = "/usr/bin/issuemesh"
	debConfig = "/etc/issuemesh/config.yaml"
	debHome   = "/var/lib/issuemesh"
)

// TestDebianPackage: `make package` builds a .deb that dpkg installs on
// this machine: the service user exists, the unit passes `systemd-analyze
// verify`, the installed binary started as the unit starts it (its user,
// environment and ExecStart; no systemd runs as PID 1 here) runs the node
// in the home the package created and logs JSON, `status` answers, and
// `dpkg -r` takes the binary and the unit away while the home stays
// (purge removes it and the user). Needs root, dpkg and systemd-analyze
// (scripts/test.sh installs the systemd package); it skips otherwise.
func TestDebianPackage(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("not root: installing a .deb needs root (scripts/test.sh runs this as root)")
	}
	for _, tool := range []string{"dpkg", "systemd-analyze", "runuser", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/test.sh installs it as root)", tool)
		}
	}
	if exec.Command("dpkg", "-s", "issuemesh").Run() == nil {
		t.Skip("the issuemesh package is installed on this machine already; not touching it")
	}
	build := exec.Command("bash", "scripts/package.sh")
	build.Dir = ".."
	var stderr bytes.Buffer
	build.Stderr = &stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("make package: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	deb := filepath.Join("..", lines[len(lines)-1])

	t.Cleanup(func() { // leaves the machine as it was
		if o, err := exec.Command("dpkg", "-P", "issuemesh").CombinedOutput(); err != nil {
			t.Errorf("dpkg -P issuemesh: %v\n%s", err, o)
		}
	})
	mustRun(t, "dpkg", "-i", deb)
	if _, err := user.Lookup("issuemesh"); err != nil {
		t.Fatalf("the package created no user issuemesh: %v", err)
	}
	verify, err := exec.Command("systemd-analyze", "verify", debUnit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", debUnit, err, verify)
	}
	for _, l := range strings.Split(string(verify), "\n") {
		if strings.Contains(l, "issuemesh") { // other units' complaints are not ours
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
	unit := parseUnit(t, debUnit)
	for _, k := range []string{"ProtectSystem", "NoNewPrivileges", "StateDirectory", "Restart"} {
		if unit[k] == nil {
			t.Errorf("the unit has no %s=", k)
		}
	}
	if got := unit["User"]; len(got) != 1 || got[0] != "issuemesh" {
		t.Fatalf("unit User=%v, want issuemesh", got)
	}

	// Keep the test off ports and multicast that something on this
	// machine may use: a loopback address with a free port, no mDNS.
	cfg, err := os.ReadFile(debConfig)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("/ip4/0.0.0.0/tcp/4001", "/ip4/127.0.0.1/tcp/0", "  - /ip4/0.0.0.0/udp/4001/quic-v1\n", "", "mdns: true", "mdns: false", "nat_port_map: true", "nat_port_map: false").Replace(string(cfg))
	if err := os.WriteFile(debConfig, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	// ExecStart as the unit's user with the unit's environment (setpriv
	// and env exec it, so that the signals reach the node as from systemd).
	argv := strings.Fields(unit["ExecStart"][0])
	run := exec.Command("setpriv", append([]string{"--reuid=issuemesh", "--regid=issuemesh", "--init-groups", "env"}, append(unit["Environment"], argv...)...)...)
	run.Dir = "/"
	var log lockedBuffer // written by exec's copying goroutine while the test reads it
	run.Stderr = &log
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	defer func() {
		run.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(45 * time.Second):
			run.Process.Kill()
		}
	}()
	var st struct {
		PeerID  string `json:"peer_id"`
		Running bool   `json:"running"`
	}
	testutil.WaitFor(t, 30*time.Second, "status of the installed node answers running", func() bool {
		o, err := exec.Command("runuser", "-u", "issuemesh", "--", debBinary, "--home", debHome, "status", "--json").Output()
		return err == nil && json.Unmarshal(o, &st) == nil && st.Running
	})
	if st.PeerID == "" {
		t.Errorf("status has no peer ID")
	}
	first, _, _ := strings.Cut(log.String(), "\n")
	var rec map[string]any
	if json.Unmarshal([]byte(first), &rec) != nil || rec["msg"] == nil {
		t.Errorf("the service's log is not JSON lines: %q", first)
	}
	run.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the node exited with %v after SIGTERM\n%s", err, log.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("the node did not stop within 45 s of SIGTERM")
	}

	mustRun(t, "dpkg", "-r", "issuemesh")
	for _, gone := range []string{debBinary, debUnit} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is still there after dpkg -r (%v)", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(debHome, "identity.key")); err != nil {
		t.Errorf("dpkg -r removed the node's identity: %v", err)
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if o, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, o)
	}
}

// parseUnit reads a systemd unit's Key=Value lines (every section; a
// repeated key keeps each value in order).
func parseUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}
