package rt

import (
	"context"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/internal/reqcount"
)

// TestRequestsOfFieldUpdate counts, against a real RT, the requests of an
// update that changes only the ticket's own fields: the read back after
// the PUT is the ticket alone, not its history and messages again, and
// the issue returned still has the comments read before.
func TestRequestsOfFieldUpdate(t *testing.T) {
	u, tok := realRT(t)
	ctx := context.Background()
	c := reqcount.New()
	o := Options{URL: u, Token: tok, Queue: newQueue(t, u, tok)}
	o.HTTP.WrapTransport = c.Wrap
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	is, err := tr.Create(ctx, adapters.Issue{Summary: "counted", Description: "d", Comments: []adapters.Comment{{Body: "a comment", Internal: true}}})
	if err != nil {
		t.Fatal(err)
	}
	c.Take()
	s := "counted, edited"
	after, err := tr.Update(ctx, is.Key, adapters.Patch{Summary: &s})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Take()
	if got["GET /REST/2.0/ticket/N/history"] != 1 || got["PUT /REST/2.0/ticket/N"] != 1 || got["GET /REST/2.0/ticket/N"] != 2 || got.Total(nil) != 6 {
		t.Errorf("a summary edit made %v; want the read before (ticket, history, 2 attachment searches), the PUT and a read of the ticket alone", got)
	}
	if after.Summary != s || after.Description != "d" || len(after.Comments) != 1 || after.Comments[0].Body != "a comment" {
		t.Errorf("the issue returned after the edit: %+v", after)
	}
	back, err := tr.Get(ctx, is.Key)
	if err != nil {
		t.Fatal(err)
	}
	if back.Summary != after.Summary || back.Description != after.Description || len(back.Comments) != len(after.Comments) || !back.Updated.Equal(after.Updated) {
		t.Errorf("Update returned %+v, a read gives %+v", after, back)
	}
}
