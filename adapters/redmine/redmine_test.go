package redmine

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// fakeRedmine answers the name lists properly and path with body.
func fakeRedmine(t *testing.T, path, body string) *Tracker {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case path:
			w.Write([]byte(body))
		case "/issue_statuses.json":
			w.Write([]byte(`{"issue_statuses":[{"id":1,"name":"New"},{"id":5,"name":"Closed"}]}`))
		case "/enumerations/issue_priorities.json":
			w.Write([]byte(`{"issue_priorities":[{"id":2,"name":"Normal"}]}`))
		case "/trackers.json":
			w.Write([]byte(`{"trackers":[{"id":1,"name":"Bug"}]}`))
		case "/custom_fields.json":
			w.Write([]byte(`{"custom_fields":[{"id":4,"name":"issuemesh twin","customized_type":"issue"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	tr, err := New(Options{URL: srv.URL, APIKey: "k", Project: "p", HTTP: rest.Options{MaxRetries: -1, Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestGarbage: wrong-shaped answers are clear errors naming the URL,
// never a panic, never an issue made up of nothing.
func TestGarbage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, path, body string }{
		{"issue is a string", "/issues/1.json", `{"issue":"x"}`},
		{"no issue", "/issues/1.json", `{}`},
		{"other issue", "/issues/1.json", `{"issue":{"id":2}}`},
		{"null", "/issues/1.json", `null`},
		{"journals not a list", "/issues/1.json", `{"issue":{"id":1,"journals":{"a":1}}}`},
		{"bad time", "/issues/1.json", `{"issue":{"id":1,"updated_on":"yesterday"}}`},
		{"html", "/issues/1.json", `<html>maintenance</html>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := fakeRedmine(t, tc.path, tc.body)
			_, err := tr.Get(ctx, "1")
			if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "/issues/1.json") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	for _, body := range []string{`{"issues":null}`, `{"issues":[{"id":0}]}`, `{"issues":[{"id":3}]}`, `{"issues":"many"}`, `[]`} {
		tr := fakeRedmine(t, "/issues.json", body)
		if _, _, err := tr.Changes(ctx, "", 10); !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "/issues.json") {
			t.Errorf("changes with %s: err = %v", body, err)
		}
	}
	tr := fakeRedmine(t, "/x", "")
	if _, err := tr.Get(ctx, "1"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "s", Status: "Bogus"}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), `"New", "Closed"`) {
		t.Errorf("unknown status: %v", err)
	}
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "s", Extra: map[string]string{"assignee": "x"}}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("unknown extra: %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, o := range []Options{{URL: "http://x", Project: "p"}, {URL: "http://x", APIKey: "k"}, {URL: "x", APIKey: "k", Project: "p"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
