// Package testutil holds the helpers the tests of several packages share
// (node, p2p and the end-to-end tests in e2e). It is imported by tests
// only and owns no step of the sync path.
package testutil

import (
	"testing"
	"time"
)

// WaitFor polls cond until it returns true, and fails the test when it has
// not after timeout. what says what was awaited ("B to have the issue"); it
// is the failure message. Polling starts at 10 ms and slows to 50 ms, so a
// condition that costs a process start (e2e) is not run in a busy loop.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	poll := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(poll)
		poll = min(2*poll, 50*time.Millisecond)
	}
}
