package rt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

const queueJSON = `{"id":3,"Name":"q","Lifecycle":"default","TicketCustomFields":[{"name":"issuemesh twin"}]}`

// fakeRT serves the queue, a ticket search that reads TicketSQL dates in
// zone (as RT does in the token owner's time zone), and body at path.
func fakeRT(t *testing.T, zone *time.Location, path, body string) (*Tracker, *httptest.Server) {
	t.Helper()
	created := time.Date(2026, 7, 1, 12, 0, 5, 0, time.UTC) // summer: DST matters
	rangeRe := regexp.MustCompile(`Created >= '([^']+)' AND Created < '([^']+)'`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := strings.TrimPrefix(r.URL.Path, "/REST/2.0"); p {
		case "/queue/q":
			w.Write([]byte(queueJSON))
		case "/tickets":
			q := r.URL.Query().Get("query")
			items := []map[string]any{}
			match := true
			if m := rangeRe.FindStringSubmatch(q); m != nil {
				from, _ := time.ParseInLocation("2006-01-02 15:04:05", m[1], zone)
				to, _ := time.ParseInLocation("2006-01-02 15:04:05", m[2], zone)
				match = !created.Before(from) && created.Before(to)
			}
			if match && !strings.Contains(q, "LastUpdated") {
				items = append(items, map[string]any{"id": "7", "Created": created.Format(time.RFC3339), "LastUpdated": created.Format(time.RFC3339)})
			}
			json.NewEncoder(w).Encode(map[string]any{"items": items, "page": 1, "pages": 1, "per_page": 100, "total": len(items)})
		case path:
			w.Write([]byte(body))
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"message":"Not Found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return newTracker(t, srv.URL, time.UTC), srv
}

func newTracker(t *testing.T, url string, loc *time.Location) *Tracker {
	t.Helper()
	tr, err := New(Options{URL: url, Token: "tok", Queue: "q", Location: loc, HTTP: rest.Options{MaxRetries: -1, Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTimezone: when RT reads dates in another zone than configured, the
// feed refuses to run (naming the offset) instead of missing changes.
func TestTimezone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	ctx := context.Background()
	tr, srv := fakeRT(t, berlin, "", "")
	_, _, err = tr.Changes(ctx, "1782907205:", 10)
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "UTC+2h") || !strings.Contains(err.Error(), "tracker.timezone") {
		t.Fatalf("wrong zone: err = %v", err)
	}
	if _, _, err := newTracker(t, srv.URL, berlin).Changes(ctx, "1782907205:", 10); err != nil {
		t.Fatalf("right zone: %v", err)
	}
	utc, _ := fakeRT(t, time.UTC, "", "")
	if _, _, err := utc.Changes(ctx, "1782907205:", 10); err != nil {
		t.Fatalf("UTC: %v", err)
	}
}

func TestGarbage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, path, body string }{
		{"ticket is a list", "/REST/2.0/ticket/1", `[1,2]`},
		{"other ticket", "/REST/2.0/ticket/1", `{"id":2}`},
		{"id is an object", "/REST/2.0/ticket/1", `{"id":{"a":1}}`},
		{"html", "/REST/2.0/ticket/1", `<html>oops</html>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := fakeRT(t, time.UTC, strings.TrimPrefix(tc.path, "/REST/2.0"), tc.body)
			_, err := tr.Get(ctx, "1")
			if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "/ticket/1") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	tr, _ := fakeRT(t, time.UTC, "/ticket/1", `{"id":1,"Subject":"s"}`)
	if _, err := tr.Get(ctx, "1"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("history missing (404): %v", err)
	}
	if _, err := tr.Get(ctx, "2"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "s", Status: "Done"}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), `"resolved"`) {
		t.Errorf("unknown status: %v", err)
	}
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "s", Priority: "Urgent"}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), `"Low", "Medium", "High"`) {
		t.Errorf("unknown priority: %v", err)
	}
}

func TestPriorityNames(t *testing.T) {
	tr := newTracker(t, "http://127.0.0.1:1", nil)
	for n, want := range map[string]string{"0": "Low", "49": "Low", "50": "Medium", "99": "Medium", "100": "High", "High": "High", "-3": "-3"} {
		if got := tr.priorityName(n); got != want {
			t.Errorf("priorityName(%s) = %q, want %q", n, got, want)
		}
	}
	for p, want := range map[string]int{"low": 0, "High": 100, "42": 42} {
		if got, err := tr.priorityNumber(p); err != nil || got != want {
			t.Errorf("priorityNumber(%s) = %d, %v", p, got, err)
		}
	}
}
