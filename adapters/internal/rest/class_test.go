package rest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// TestErrorClasses: every way a tracker fails is an *adapters.TrackerError
// with its class, which the node keeps as the tracker's health;
// credentials and permission are the permanent ones.
func TestErrorClasses(t *testing.T) {
	answer := func(status int, header, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if header != "" {
				w.Header().Set("Retry-After", header)
			}
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	for _, tc := range []struct {
		name      string
		h         http.HandlerFunc
		class     adapters.ErrorClass
		permanent bool
		kind      error
	}{
		{"401", answer(401, "", `{"error":"bad key"}`), adapters.ClassCredentials, true, adapters.ErrUnavailable},
		{"403", answer(403, "", `Forbidden`), adapters.ClassPermission, true, adapters.ErrUnavailable},
		{"404", answer(404, "", ``), adapters.ClassNotFound, false, adapters.ErrNotFound},
		{"422", answer(422, "", `{"errors":["Status is invalid"]}`), adapters.ClassRejected, false, adapters.ErrRejected},
		{"429", answer(429, "120", ``), adapters.ClassRateLimited, false, adapters.ErrUnavailable},
		{"503", answer(503, "", `down`), adapters.ClassServer, false, adapters.ErrUnavailable},
		{"garbage", answer(200, "", `<html>login</html>`), adapters.ClassGarbage, false, adapters.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			c := newClient(t, srv.URL, func(o *Options) { o.MaxRetries = -1 })
			start := time.Now()
			_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/x.json"}, &thing{})
			checkClass(t, err, tc.class, tc.permanent, tc.kind)
			if tc.class == adapters.ClassRateLimited {
				_, te := adapters.Classify(err)
				if d := te.RetryAt.Sub(start); d < 119*time.Second || d > 122*time.Second {
					t.Errorf("RetryAt is %v after the request; the server asked for 120s", d)
				}
			}
		})
	}
	t.Run("closed port", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := newClient(t, "http://"+addr, func(o *Options) { o.MaxRetries = -1 })
		_, err = c.Do(context.Background(), Request{Method: "GET", Path: "/x.json"}, &thing{})
		checkClass(t, err, adapters.ClassUnreachable, false, adapters.ErrUnavailable)
	})
	t.Run("upload 401", func(t *testing.T) {
		srv := httptest.NewServer(answer(401, "", ``))
		defer srv.Close()
		c := newClient(t, srv.URL, nil)
		_, err := c.Upload(context.Background(), "POST", "/uploads.json", nil, "application/octet-stream", nil, 0, nil)
		checkClass(t, err, adapters.ClassCredentials, true, adapters.ErrUnavailable)
	})
}

func checkClass(t *testing.T, err error, class adapters.ErrorClass, permanent bool, kind error) {
	t.Helper()
	var te *adapters.TrackerError
	if !errors.As(err, &te) {
		t.Fatalf("err %v is not an *adapters.TrackerError", err)
	}
	if te.Class != class || te.Class.Permanent() != permanent || !errors.Is(err, kind) {
		t.Fatalf("class %q (permanent %v), err %v; want %q (permanent %v) wrapping %v", te.Class, te.Class.Permanent(), err, class, permanent, kind)
	}
	if got, _ := adapters.Classify(err); got != class {
		t.Fatalf("Classify = %q, want %q", got, class)
	}
}
