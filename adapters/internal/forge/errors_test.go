package forge

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

func TestClassify(t *testing.T) {
	tooLarge := errors.New("too large")
	e := Errors{Prefix: "x", Name: "X", Credentials: "check the token", Permission: "needs scope s", TooLarge: tooLarge}
	answer := func(st int, h ...string) *http.Response {
		r := &http.Response{StatusCode: st, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	failed := errors.New("failed")
	for _, tc := range []struct {
		name  string
		resp  *http.Response
		err   error
		class adapters.ErrorClass
		kind  error
		wait  time.Duration // RetryAt about this far ahead
	}{
		{"401", answer(401), failed, adapters.ClassCredentials, adapters.ErrUnavailable, 0},
		{"403", answer(403), failed, adapters.ClassPermission, adapters.ErrUnavailable, 0},
		{"429 Retry-After", answer(429, "Retry-After", "30"), failed, adapters.ClassRateLimited, adapters.ErrUnavailable, 30 * time.Second},
		{"429 RateLimit-Reset", answer(429, "RateLimit-Reset", strconv.FormatInt(time.Now().Add(2*time.Minute).Unix(), 10)), failed, adapters.ClassRateLimited, adapters.ErrUnavailable, 2 * time.Minute},
		{"429 bare", answer(429), failed, adapters.ClassRateLimited, adapters.ErrUnavailable, time.Minute},
		{"404", answer(404), failed, adapters.ClassNotFound, adapters.ErrNotFound, 0},
		{"410", answer(410), failed, adapters.ClassNotFound, adapters.ErrNotFound, 0},
		{"422", answer(422), failed, adapters.ClassRejected, adapters.ErrRejected, 0},
		{"502", answer(502), failed, adapters.ClassServer, adapters.ErrUnavailable, 0},
		{"200 not JSON", answer(200), failed, adapters.ClassGarbage, adapters.ErrUnavailable, 0},
		{"too large", answer(200), tooLarge, adapters.ClassGarbage, adapters.ErrUnavailable, 0},
		{"no answer", nil, failed, adapters.ClassUnreachable, adapters.ErrUnavailable, 0},
		{"timeout", nil, context.DeadlineExceeded, adapters.ClassUnreachable, adapters.ErrUnavailable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Classify(context.Background(), "do it", tc.resp, tc.err)
			var te *adapters.TrackerError
			if !errors.As(err, &te) || te.Class != tc.class || !errors.Is(err, tc.kind) || !errors.Is(err, tc.err) {
				t.Fatalf("%v (%#v): want class %s wrapping %v and %v", err, te, tc.class, tc.kind, tc.err)
			}
			if tc.wait > 0 {
				if d := time.Until(te.RetryAt); d < tc.wait-5*time.Second || d > tc.wait+time.Second {
					t.Fatalf("retry in %v, want about %v", d, tc.wait)
				}
			}
		})
	}
	if err := e.Classify(context.Background(), "op", nil, nil); err != nil {
		t.Fatalf("no error classified as %v", err)
	}
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Classify(c, "op", nil, c.Err()); !errors.Is(err, context.Canceled) || errors.As(err, new(*adapters.TrackerError)) {
		t.Fatalf("the context's end: %v", err)
	}
}
