package testutil

import (
	"strings"
	"testing"
	"time"
)

// fakeT records a failure instead of stopping the test that runs WaitFor.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = format
	// WaitFor must not go on after Fatalf; end this goroutine as
	// testing.T.Fatalf does.
	panic(errStop)
}

var errStop = &struct{ s string }{"stop"}

func run(f *fakeT, timeout time.Duration, cond func() bool) (stopped bool) {
	defer func() {
		if r := recover(); r != nil {
			if r != errStop {
				panic(r)
			}
			stopped = true
		}
	}()
	WaitFor(f, timeout, "the condition holds", cond)
	return false
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name     string
		trueAt   int // the call that first returns true; 0: never
		timeout  time.Duration
		wantFail bool
	}{
		{"true at once", 1, time.Second, false},
		{"true after a few polls", 4, 5 * time.Second, false},
		{"never true", 0, 100 * time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeT{}
			calls := 0
			start := time.Now()
			stopped := run(f, tc.timeout, func() bool {
				calls++
				return tc.trueAt != 0 && calls >= tc.trueAt
			})
			if stopped != tc.wantFail {
				t.Fatalf("failed = %v, want %v (after %d calls)", stopped, tc.wantFail, calls)
			}
			if tc.wantFail {
				if msg := f.failed; !strings.Contains(msg, "timed out") {
					t.Fatalf("failure message %q does not say it timed out", msg)
				}
				if time.Since(start) < tc.timeout {
					t.Fatalf("gave up after %v, before the %v timeout", time.Since(start), tc.timeout)
				}
				return
			}
			if calls != tc.trueAt {
				t.Fatalf("cond called %d times, want %d (it must stop once true)", calls, tc.trueAt)
			}
		})
	}
}
