package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

func (tn *testNode) status(t *testing.T) Status {
	t.Helper()
	rec := httptest.NewRecorder()
	tn.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("status: %v: %s", err, rec.Body.String())
	}
	return st
}

// TestFailingServiceIsRestarted runs a service that panics, then fails,
// then works: the node keeps running, the service is restarted each time
// and status shows the restarts.
func TestFailingServiceIsRestarted(t *testing.T) {
	a := startNode(t, "a", Options{})
	var runs atomic.Int32
	a.goRun(a.runContext(), "flaky", func(ctx context.Context) error {
		switch runs.Add(1) {
		case 1:
			panic("the flaky service broke")
		case 2:
			return errors.New("the flaky service failed")
		}
		<-ctx.Done()
		return nil
	})
	testutil.WaitFor(t, 10*time.Second, "the service runs a third time", func() bool { return runs.Load() == 3 })
	st := a.status(t)
	if len(st.Restarts) != 1 || st.Restarts[0].Service != "flaky" || st.Restarts[0].Restarts != 2 {
		t.Fatalf("status restarts = %+v, want flaky restarted twice", st.Restarts)
	}
	if st.Restarts[0].LastError != "the flaky service failed" {
		t.Fatalf("last error = %q", st.Restarts[0].LastError)
	}
	if !st.Running || st.Home.HomeBytes == 0 {
		t.Fatalf("status = running %v, home %d bytes: want a running node with its home's size", st.Running, st.Home.HomeBytes)
	}
}

// TestGCRecordedInStatus runs the GC service once and finds it in status.
func TestGCRecordedInStatus(t *testing.T) {
	a := startNode(t, "a", Options{})
	a.gc.Kick()
	testutil.WaitFor(t, 10*time.Second, "a GC in status", func() bool { return a.status(t).Home.LastGC != nil })
	gc := a.status(t).Home.LastGC
	if gc.Error != "" || gc.Before == 0 || gc.Start.IsZero() {
		t.Fatalf("last GC = %+v", gc)
	}
}
