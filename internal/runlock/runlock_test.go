package runlock

import (
	"errors"
	"os"
	"testing"
)

func TestLockRunRefusesASecondHolder(t *testing.T) {
	home := t.TempDir()
	if _, ok := RunningPID(home); ok {
		t.Fatal("RunningPID on a home without a pid file says a node runs")
	}
	l, err := Acquire(home)
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := RunningPID(home); !ok || pid != os.Getpid() {
		t.Fatalf("RunningPID while locked: %d, %v; want %d, true", pid, ok, os.Getpid())
	}
	_, err = Acquire(home)
	var re *RunningError
	if !errors.As(err, &re) || re.PID != os.Getpid() {
		t.Fatalf("second Acquire: %v; want a RunningError with PID %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := RunningPID(home); ok {
		t.Fatal("RunningPID after Release says a node runs")
	}
	l, err = Acquire(home)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l.Release()
}
