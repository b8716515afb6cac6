package reqcount

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestShape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/issues/42.json", "/issues/N.json"},
		{"/REST/2.0/ticket/7/comment", "/REST/2.0/ticket/N/comment"},
		{"/issues.json", "/issues.json"},
		{"/api/v1/repos/o/r/issues/123/comments/9", "/api/v1/repos/o/r/issues/N/comments/N"},
	} {
		if got := Shape(c.in); got != c.want {
			t.Errorf("Shape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCounterCountsThroughWrap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c := New()
	cl := c.Client()
	for _, p := range []string{"/issues/1.json", "/issues/2.json", "/issues.json"} {
		resp, err := cl.Get(srv.URL + p + "?x=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := c.Take()
	if got["GET /issues/N.json"] != 2 || got["GET /issues.json"] != 1 || len(got) != 2 {
		t.Fatalf("counts %v", got)
	}
	if n := got.Total(func(k string) bool { return k == "GET /issues.json" }); n != 2 {
		t.Fatalf("total without the list: %d", n)
	}
	if len(c.Take()) != 0 {
		t.Fatal("Take did not start again")
	}
}
