package redmine

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/internal/reqcount"
)

// TestRequestsOfCreateAndOpenAttachment counts, against a real Redmine,
// the requests of a create that needs nothing after its POST (the POST's
// answer is the issue: no read back) and of opening a file of an issue
// just read (no second read of the issue to find the file).
func TestRequestsOfCreateAndOpenAttachment(t *testing.T) {
	u, key := realRedmine(t)
	project := newProject(t, u, key)
	ctx := context.Background()
	c := reqcount.New()
	o := Options{URL: u, APIKey: key, Project: project}
	o.HTTP.WrapTransport = c.Wrap
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// Warm the name cache (statuses, priorities, trackers, fields).
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "warm", Status: "New"}); err != nil {
		t.Fatal(err)
	}
	c.Take()
	is, err := tr.Create(ctx, adapters.Issue{Summary: "counted create", Description: "d", Status: "New", TwinID: "twin-counted-1"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Take()
	if got["POST /issues.json"] != 1 || got.Total(nil) != 1 {
		t.Errorf("a create with nothing to send after the POST made %v, want the POST alone", got)
	}
	if is.Summary != "counted create" || is.Status != "New" || is.TwinID != "twin-counted-1" || is.Description != "d" {
		t.Errorf("the created issue as returned: %+v", is)
	}
	back, err := tr.Get(ctx, is.Key)
	if err != nil {
		t.Fatal(err)
	}
	if back.Summary != is.Summary || back.Status != is.Status || back.TwinID != is.TwinID || back.Description != is.Description || !back.Updated.Equal(is.Updated) {
		t.Errorf("Create returned %+v, a read gives %+v", is, back)
	}

	if _, err := tr.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "f.txt", ContentType: "text/plain"}, strings.NewReader("file body\n")); err != nil {
		t.Fatal(err)
	}
	full, err := tr.Get(ctx, is.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Attachments) != 1 {
		t.Fatalf("files after attaching: %+v", full.Attachments)
	}
	c.Take()
	rc, err := tr.OpenAttachment(ctx, is.Key, full.Attachments[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "file body\n" {
		t.Errorf("file content %q", b)
	}
	if got := c.Take(); got["GET /issues/N.json"] != 0 || got["GET /attachments/download/N"] != 1 {
		t.Errorf("opening a file of an issue just read made %v, want one download", got)
	}
	// A file ID of another issue is still refused.
	other, err := tr.Create(ctx, adapters.Issue{Summary: "other", Status: "New"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.OpenAttachment(ctx, other.Key, full.Attachments[0].ID); err == nil {
		t.Error("a file of another issue was opened")
	}
}
