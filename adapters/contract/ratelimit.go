package contract

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// testRateLimit: answers of "too many requests" are waited out, not
// turned into an error: a read and a write made while the tracker
// throttles succeed once it stops.
func testRateLimit(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "throttled"}))
	p.Throttle(tr, 2)
	if got := must[adapters.Issue](t, "get while throttled")(tr.Get(c, is.Key)); got.Summary != "throttled" {
		t.Errorf("get while throttled: %+v", got)
	}
	p.Throttle(tr, 2)
	if got := must[adapters.Issue](t, "update while throttled")(tr.Update(c, is.Key, adapters.Patch{Summary: ptr("after the limit")})); got.Summary != "after the limit" {
		t.Errorf("update while throttled: %+v", got)
	}
}

// testRateLimitReported: a tracker that reports its rate limit instead of
// waiting it out answers a call made over the limit at once with a
// transient error that says when to come back (adapters.ErrUnavailable,
// class rate_limited, RetryAt the reset, named in the message), changes
// nothing, and the next call after the reset succeeds.
func testRateLimitReported(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "limited"}))
	reset := p.Limit(tr)
	check := func(what string, err error) time.Time {
		t.Helper()
		class, te := adapters.Classify(err)
		switch {
		case err == nil:
			t.Fatalf("%s over the rate limit succeeded; want the limit reported", what)
		case !errors.Is(err, adapters.ErrUnavailable) || class != adapters.ClassRateLimited || class.Permanent():
			t.Fatalf("%s over the rate limit: class %q, %v; want a transient rate_limited error wrapping ErrUnavailable", what, class, err)
		case te.RetryAt.Before(reset.Add(-time.Second)) || te.RetryAt.After(reset.Add(2*time.Second)):
			t.Errorf("%s over the rate limit: retry at %v, want the reset %v", what, te.RetryAt, reset)
		case !strings.Contains(err.Error(), te.RetryAt.UTC().Format(time.RFC3339)) && !strings.Contains(err.Error(), te.RetryAt.Local().Format(time.RFC3339)):
			t.Errorf("%s over the rate limit: %q does not say when (%v)", what, err, te.RetryAt.UTC().Format(time.RFC3339))
		}
		return te.RetryAt
	}
	start := time.Now()
	_, err := tr.Get(c, is.Key)
	retry := check("get", err)
	_, err = tr.Update(c, is.Key, adapters.Patch{Summary: ptr("during the limit")})
	check("update", err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("reporting the limit took %v; want it reported at once, not waited out", d)
	}
	time.Sleep(time.Until(retry) + 100*time.Millisecond) // the time the tracker named
	if got := must[adapters.Issue](t, "get after the reset")(tr.Get(c, is.Key)); got.Summary != "limited" {
		t.Errorf("get after the reset: %+v; the update made over the limit was applied", got)
	}
	if got := must[adapters.Issue](t, "update after the reset")(tr.Update(c, is.Key, adapters.Patch{Summary: ptr("after the reset")})); got.Summary != "after the reset" {
		t.Errorf("update after the reset: %+v", got)
	}
}
