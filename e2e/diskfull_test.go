package e2e

import (
	"errors"
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

// newNodeAt is newNode with the home at a given path.
func newNodeAt(t *testing.T, name, home string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, home: home, log: &lockedBuffer{}}
	p.mustCLI("init", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1")
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", p.name, tail(p.log.String(), 60))
		}
	})
	return p
}

// mountSmall mounts a 64 MB filesystem on mnt: a tmpfs, or with
// ISSUEMESH_E2E_DISKFS=ext4 an ext4 on a loop device. It skips the test
// when that cannot be done.
func mountSmall(t *testing.T, mnt string) {
	t.Helper()
	if os.Getenv("ISSUEMESH_E2E_DISKFS") != "ext4" {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a 64 MB tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
		return
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if out, err := exec.Command("truncate", "-s", "64M", img).CombinedOutput(); err != nil {
		t.Skipf("cannot create a disk image: %v: %s", err, out)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Skipf("cannot make an ext4 filesystem: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() }) // the loop device goes with it (autoclear)
}

// fillDisk writes a file in dir until the filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 256<<10)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

type diskStatus struct {
	Disk struct {
		Path  string `json:"path"`
		Free  int64  `json:"free_bytes"`
		Low   bool   `json:"low"`
		Error string `json:"error"`
	} `json:"disk"`
	Pending  int `json:"pending"`
	Incoming int `json:"incoming"`
}

// TestDiskFullNodeSurvivesAndKeepsPeersEdits: A's home is on a 64 MB
// filesystem that another file fills while B's edits flow to A. A does not
// die (Badger writes through memory maps: without a guard it gets SIGBUS),
// says so in status and errors, and once space is freed it resumes. Then
// the disk fills again, A is killed while full and started again on the
// full disk, which it reports; space is freed and it resumes. Both nodes end
// with B's last confirmed edit of every issue, never an older value.
func TestDiskFullNodeSurvivesAndKeepsPeersEdits(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a 64 MB tmpfs for one node's home")
	}
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	mountSmall(t, mnt)

	a := newNodeAt(t, "full", filepath.Join(mnt, "full"))
	b := newNode(t, "healthy")
	a.start()
	b.start()
	pair(a, b)

	const issues = 10
	keys := make([]string, issues)
	for i := range keys {
		var v struct{ Key string }
		if err := b.api("POST", "/v1/issues", map[string]any{"summary": "b-0", "description": fmt.Sprintf("id-%d", i)}, &v); err != nil {
			t.Fatal(err)
		}
		keys[i] = v.Key
	}
	testutil.WaitFor(t, 30*time.Second, "A has B's issues", func() bool { return len(a.issues()) == issues })

	// B edits all the time; last is what B's API accepted last, per issue.
	var (
		mu   sync.Mutex
		last = map[string]string{}
		n    int
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	edits := func() int { mu.Lock(); defer mu.Unlock(); return n }
	go func() {
		defer close(done)
		big := strings.Repeat("x", 2000) // events over the value threshold: the value log grows too
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := keys[i%issues]
			s := fmt.Sprintf("b-%d", i)
			if err := b.api("PATCH", "/v1/issues/"+k, map[string]any{"summary": s, "priority": big[:i%2000]}, nil); err != nil {
				continue
			}
			mu.Lock()
			last[fmt.Sprintf("id-%d", i%issues)], n = s, n+1
			mu.Unlock()
		}
	}()
	alive := func() {
		t.Helper()
		select {
		case <-a.exited:
			log := a.log.String()
			if i := strings.Index(log, "fatal error"); i >= 0 {
				log = log[i:min(len(log), i+2000)] // the signal and the writing goroutine
			} else {
				log = tail(log, 30)
			}
			t.Fatalf("A died on the full disk:\n%s", log)
		default:
		}
	}

	testutil.WaitFor(t, 30*time.Second, "edits flow", func() bool { return edits() > 50 })
	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	testutil.WaitFor(t, 30*time.Second, "A reports its full disk in status --json", func() bool {
		alive()
		var st diskStatus
		return a.cliJSON(&st, "status") == nil && st.Disk.Low
	})
	var st diskStatus
	if err := a.cliJSON(&st, "status"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Disk.Error, a.home) || !strings.Contains(st.Disk.Error, "free") {
		t.Fatalf("the disk error should name the home %s and the free space: %q", a.home, st.Disk.Error)
	}
	out := a.mustCLI("errors")
	if !strings.Contains(out, "disk of "+a.home) {
		t.Fatalf("errors does not show the full disk:\n%s", out)
	}
	text := a.mustCLI("status")
	if !strings.Contains(text, "disk full since") {
		t.Fatalf("status does not show the full disk:\n%s", text)
	}
	// B's edits go on while A is full; A keeps serving reads.
	before := edits()
	testutil.WaitFor(t, 30*time.Second, "B edits while A is full", func() bool { alive(); return edits() > before+100 })
	if _, err := a.cli("issue", "list"); err != nil {
		t.Fatalf("A does not serve reads while full: %v", err)
	}
	alive()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "A resumes once space is freed", func() bool {
		alive()
		var st diskStatus
		if a.cliJSON(&st, "status") != nil {
			return false
		}
		return !st.Disk.Low
	})
	testutil.WaitFor(t, 30*time.Second, "B edits after A resumed", func() bool { return edits() > before+200 })

	// Full again, and this time A is killed while full and restarted on
	// the full disk; then space is freed (the run that lost B's edits
	// before).
	fillDisk(t, filler)
	testutil.WaitFor(t, 30*time.Second, "A reports its full disk again", func() bool {
		alive()
		var st diskStatus
		return a.cliJSON(&st, "status") == nil && st.Disk.Low
	})
	before = edits()
	testutil.WaitFor(t, 30*time.Second, "B edits while A is full again", func() bool { alive(); return edits() > before+50 })
	a.kill()
	a.start() // on the full disk: it starts, and waits for room
	var again diskStatus
	if err := a.cliJSON(&again, "status"); err != nil || !again.Disk.Low {
		t.Fatalf("A restarted on its full disk does not say so: %+v, %v", again.Disk, err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "B edits after A restarted", func() bool { alive(); return edits() > before+150 })
	close(stop)
	<-done

	byID := func(p *proc) map[string]string {
		m := map[string]string{}
		for _, is := range p.issues() {
			m[is.Description] = is.Summary
		}
		return m
	}
	testutil.WaitFor(t, 60*time.Second, "both nodes hold B's last confirmed edits", func() bool {
		alive()
		var sa, sb diskStatus
		if a.api("GET", "/v1/status", nil, &sa) != nil || b.api("GET", "/v1/status", nil, &sb) != nil {
			return false
		}
		if sa.Pending+sa.Incoming+sb.Pending+sb.Incoming > 0 {
			return false
		}
		ma, mb := byID(a), byID(b)
		for id, s := range last {
			if ma[id] != s || mb[id] != s {
				return false
			}
		}
		return true
	})
	alive()
}
