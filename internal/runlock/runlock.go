// Package runlock keeps two nodes from running on one home at once: the
// running node holds an exclusive flock on the home's pid file and writes
// its PID there, and commands that need the home offline ask who runs.
// It owns no step of the sync path; it guards the home the node runs on.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PIDFile in a home holds the process ID of the node that runs on it. The
// running node keeps an exclusive flock on it: the kernel drops the lock
// when the process ends, however it ends, so a file left behind by a node
// killed with SIGKILL blocks nobody.
const PIDFile = "node.pid"

// RunningError says that a node already runs on a home.
type RunningError struct {
	Home string
	PID  int // 0 when the running node has not written it yet
}

func (e *RunningError) Error() string {
	pid := "its PID is not written yet"
	if e.PID > 0 {
		pid = "PID " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("a node already runs on %s (%s); stop it first (SIGTERM, or Ctrl-C where it runs), or give another --home", e.Home, pid)
}

// Lock is the hold of a running node on its home.
type Lock struct{ f *os.File }

// runLockWait is how long Acquire waits for a lock held for an instant by
// RunningPID's probe.
const runLockWait = time.Second

// Acquire takes the home for the node that will run in this process and
// writes its PID, or returns a *RunningError when a node already runs on
// home. Release it when the node has stopped.
func Acquire(home string) (*Lock, error) {
	path := filepath.Join(home, PIDFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pid file of the node: %w", err)
	}
	deadline := time.Now().Add(runLockWait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, &RunningError{Home: home, PID: readPID(path)}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the pid file %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the pid file %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the pid file %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release empties the pid file and lets another node run on the home. The
// file stays: removing it could let two processes lock two different files.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Truncate(0)
	return errors.Join(err, l.f.Close())
}

// RunningPID returns the PID of the node running on home, and whether one
// runs. It probes with a shared lock held for an instant.
func RunningPID(home string) (int, bool) {
	path := filepath.Join(home, PIDFile)
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return readPID(path), errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return 0, false
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}
