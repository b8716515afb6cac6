package redmine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// A note synced into Redmine reaches the people of the project as the
// person wrote it: the issue as a project member reads it (Redmine's API
// with X-Redmine-Switch-User, which filters the journals' details through
// Journal#visible_details(user), as the mail to that member does, and
// gives the notes as the plain-text mail prints them) carries no marker.
// The adapter, with the administrator's key, still recognises the note
// (and its edit) as the synced comment.
func TestMarkersNeverReachPeople(t *testing.T) {
	u, key := realRedmine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	project := newProject(t, u, key)
	tr, err := New(Options{URL: u, APIKey: key, Project: project})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	nc, err := tr.cache(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if nc.markerCF == 0 {
		t.Fatalf("Redmine has no issue custom field %q: run scripts/redmine.sh", MarkerField)
	}
	login := newMember(ctx, t, tr, project)

	made, err := tr.Create(ctx, adapters.Issue{Summary: "printer on fire", Description: "it burns", TwinID: "12D3KooWPeer/issue-1"})
	if err != nil {
		t.Fatal(err)
	}
	reply := adapters.Comment{SyncID: "12D3KooWPeer/7", Author: "Alice (partner)", Body: "We sent a technician."}
	private := adapters.Comment{SyncID: "12D3KooWPeer/8", Author: "Bob (partner)", Body: "Staff only.", Internal: true}
	status := "In Progress"
	if _, err := tr.Update(ctx, made.Key, adapters.Patch{AddComments: []adapters.Comment{reply, private}, Status: &status}); err != nil {
		t.Fatal(err)
	}
	edited := reply
	edited.Body = "We sent two technicians."
	is, err := tr.Update(ctx, made.Key, adapters.Patch{AddComments: []adapters.Comment{edited}})
	if err != nil {
		t.Fatal(err)
	}

	// The adapter reads its markers back.
	want := []adapters.Comment{edited, private}
	if len(is.Comments) != len(want) {
		t.Fatalf("comments read back: %+v; want %d", is.Comments, len(want))
	}
	for i, c := range is.Comments {
		if c.SyncID != want[i].SyncID || c.Body != want[i].Body || c.Author != want[i].Author || c.Internal != want[i].Internal {
			t.Errorf("comment %d read back: %+v; want sync ID %s, body %q, author %q, internal %v", i, c, want[i].SyncID, want[i].Body, want[i].Author, want[i].Internal)
		}
	}
	if is.TwinID != made.TwinID || is.Description != "it burns" || is.Status != status {
		t.Errorf("issue read back: twin %q, description %q, status %q", is.TwinID, is.Description, is.Status)
	}
	// Adding them again is recognised: no further note.
	if is, err = tr.Update(ctx, made.Key, adapters.Patch{AddComments: []adapters.Comment{edited, private}}); err != nil || len(is.Comments) != 2 {
		t.Fatalf("the same synced comments again: %d comments, %v; want 2", len(is.Comments), err)
	}

	// A synced file keeps its markers out of its description too.
	file := adapters.Attachment{SyncID: "12D3KooWPeer/f1", Filename: "log.txt", Author: "Alice (partner)", Size: 5}
	got, err := tr.AddAttachment(ctx, made.Key, file, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if is, err = tr.Get(ctx, made.Key); err != nil || len(is.Attachments) != 1 || is.Attachments[0].SyncID != file.SyncID || is.Attachments[0].Digest != got.Digest || got.Digest == "" || is.Attachments[0].Author != file.Author {
		t.Fatalf("file read back: %+v (added: %+v), %v", is.Attachments, got, err)
	}
	if again, err := tr.AddAttachment(ctx, made.Key, file, strings.NewReader("hello")); err != nil || again.ID != got.ID {
		t.Fatalf("the same file again: %+v, %v; want file %s", again, err, got.ID)
	}

	// What a member of the project reads carries the note, not a marker.
	seen := readAs(ctx, t, u, key, login, "/issues/"+made.Key+".json?include=journals,attachments")
	if !strings.Contains(seen, edited.Body) || !strings.Contains(seen, "Alice (partner) wrote:") || !strings.Contains(seen, `"log.txt"`) {
		t.Fatalf("the member does not see the synced note %q with its author:\n%s", edited.Body, seen)
	}
	if strings.Contains(seen, "issuemesh:") {
		t.Errorf("what a member of the project reads carries a marker:\n%s", seen)
	}
}

// newMember adds a user who is no administrator to the project as a
// Reporter and returns the login (the user is deleted after the test).
func newMember(ctx context.Context, t *testing.T, tr *Tracker, project string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	login := "member-" + hex.EncodeToString(b)
	var u struct {
		User struct {
			ID int `json:"id"`
		} `json:"user"`
	}
	if _, err := tr.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: "/users.json", Body: map[string]any{"user": map[string]any{
		"login": login, "firstname": "Requestor", "lastname": "Person", "mail": login + "@example.com", "password": "member-password-1",
	}}}, &u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := tr.c.Do(ctx, rest.Request{Method: http.MethodDelete, Path: fmt.Sprintf("/users/%d.json", u.User.ID), Idempotent: true}, nil); err != nil {
			t.Logf("delete test user %s: %v", login, err)
		}
	})
	var roles struct {
		Roles []ref `json:"roles"`
	}
	if err := tr.get(ctx, "/roles.json", nil, &roles); err != nil {
		t.Fatal(err)
	}
	role, ok := lookup(roles.Roles, "Reporter")
	if !ok {
		t.Fatalf("Redmine has no role Reporter: %s", names(roles.Roles))
	}
	if _, err := tr.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: "/projects/" + project + "/memberships.json", Body: map[string]any{"membership": map[string]any{
		"user_id": u.User.ID, "role_ids": []int{role},
	}}}, nil); err != nil {
		t.Fatal(err)
	}
	return login
}

// readAs returns Redmine's answer to GET path for the user login.
func readAs(ctx context.Context, t *testing.T, base, key, login, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Redmine-API-Key", key)
	req.Header.Set("X-Redmine-Switch-User", login)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as %s: %s, %v: %s", path, login, resp.Status, err, body)
	}
	return string(body)
}
