package redmine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// Environment of the tests against a real Redmine (scripts/redmine.sh
// prints them).
const (
	envURL     = "ISSUEMESH_TEST_REDMINE_URL"
	envKeyFile = "ISSUEMESH_TEST_REDMINE_KEY_FILE"
)

// realRedmine returns the URL and API key of the test server, or skips.
func realRedmine(t *testing.T) (string, string) {
	t.Helper()
	u, kf := os.Getenv(envURL), os.Getenv(envKeyFile)
	if u == "" || kf == "" {
		t.Skipf("no real Redmine: set %s and %s (scripts/redmine.sh, run as root, installs one and prints them)", envURL, envKeyFile)
	}
	key, err := rest.ReadSecret(kf, "", envKeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u, key
}

// newProject creates a fresh project for one test (and deletes it after).
func newProject(t *testing.T, url, key string) string {
	t.Helper()
	c, err := rest.New(rest.Options{BaseURL: url, Name: "Redmine", Header: http.Header{"X-Redmine-Api-Key": {key}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tr struct {
		Trackers []ref `json:"trackers"`
	}
	if _, err := c.Do(ctx, rest.Request{Method: http.MethodGet, Path: "/trackers.json"}, &tr); err != nil {
		t.Fatal(err)
	}
	ids := make([]int, len(tr.Trackers))
	for i, x := range tr.Trackers {
		ids[i] = x.ID
	}
	b := make([]byte, 4)
	rand.Read(b)
	ident := "imtest-" + hex.EncodeToString(b)
	body := map[string]any{"project": map[string]any{
		"name": ident, "identifier": ident, "is_public": false,
		"enabled_module_names": []string{"issue_tracking"}, "tracker_ids": ids,
	}}
	if _, err := c.Do(ctx, rest.Request{Method: http.MethodPost, Path: "/projects.json", Body: body}, nil); err != nil {
		t.Fatalf("create test project (the API key must be an administrator's): %v", err)
	}
	// The key's user is a Manager of the project, so issues can be
	// assigned to them (Redmine assigns only to members).
	var me struct {
		User struct {
			ID int `json:"id"`
		} `json:"user"`
	}
	var roles struct {
		Roles []ref `json:"roles"`
	}
	if _, err := c.Do(ctx, rest.Request{Method: http.MethodGet, Path: "/users/current.json"}, &me); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, rest.Request{Method: http.MethodGet, Path: "/roles.json"}, &roles); err != nil {
		t.Fatal(err)
	}
	if role, ok := lookup(roles.Roles, "Manager"); ok {
		m := map[string]any{"membership": map[string]any{"user_id": me.User.ID, "role_ids": []int{role}}}
		if _, err := c.Do(ctx, rest.Request{Method: http.MethodPost, Path: "/projects/" + ident + "/memberships.json", Body: m}, nil); err != nil {
			t.Fatalf("make the key's user a member of %s: %v", ident, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.Do(ctx, rest.Request{Method: http.MethodDelete, Path: "/projects/" + ident + ".json", Idempotent: true}, nil); err != nil {
			t.Logf("delete test project %s: %v", ident, err)
		}
		c.Close()
	})
	return ident
}

// TestContract runs the adapter contract suite against a real Redmine, one
// fresh project per test.
func TestContract(t *testing.T) {
	u, key := realRedmine(t)
	lat := &contract.Latencies{}
	contract.Run(t, func(t *testing.T) adapters.Tracker {
		tr, err := New(Options{URL: u, APIKey: key, Project: newProject(t, u, key), HTTP: rest.Options{HTTPClient: lat.Client()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}, contract.Profile{
		OpenStatus: "In Progress", ClosedStatus: "Closed", Priorities: [2]string{"Low", "High"},
		Labels: true, RejectsUnknownStatus: true, MissingKey: "999999999", Settle: feed.DefaultSettle,
		// scripts/redmine.sh creates the fields "Customer", "Effort" and "Tier".
		Fields: contract.FieldsProfile{User: adapters.User{Login: "admin"}, Type: "Feature", CustomField: "Customer",
			Typed: map[string]adapters.FieldValue{"Effort": {Kind: adapters.KindNumber, Text: "3"}, "Tier": {Kind: adapters.KindOption, Text: "Gold"}}},
	})
	t.Logf("Redmine request latencies: %v", lat)
}

// TestWithoutCustomFields: without the twin field the twin ID lives in a
// hidden line of the description (and FindByTwin still finds it); without
// the labels field labels are not kept.
func TestWithoutCustomFields(t *testing.T) {
	u, key := realRedmine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := New(Options{URL: u, APIKey: key, Project: newProject(t, u, key)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	nc, err := tr.cache(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	blind := *nc
	blind.twinCF, blind.labelsCF = 0, 0
	tr.names = &blind

	made, err := tr.Create(ctx, adapters.Issue{Summary: "no fields", Description: "the text", TwinID: "nocf-twin", Labels: []string{"lost"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := tr.getWire(ctx, mustAtoi(t, made.Key))
	if err != nil {
		t.Fatal(err)
	}
	if w.Description == nil || !strings.HasSuffix(*w.Description, "<!-- issuemesh:twin nocf-twin -->") {
		t.Fatalf("stored description: %v", w.Description)
	}
	if made.Description != "the text" || made.TwinID != "nocf-twin" || len(made.Labels) != 0 {
		t.Fatalf("issue: %+v", made)
	}
	if got, err := tr.FindByTwin(ctx, "nocf-twin"); err != nil || got.Key != made.Key {
		t.Fatalf("FindByTwin: %+v, %v", got, err)
	}
	got, err := tr.Update(ctx, made.Key, adapters.Patch{Description: ptr("new text")})
	if err != nil || got.Description != "new text" || got.TwinID != "nocf-twin" {
		t.Fatalf("after a description change: %+v, %v", got, err)
	}
	got, err = tr.Update(ctx, made.Key, adapters.Patch{TwinID: ptr("")})
	if err != nil || got.Description != "new text" || got.TwinID != "" {
		t.Fatalf("after clearing the twin: %+v, %v", got, err)
	}
	if _, err := tr.FindByTwin(ctx, "nocf-twin"); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("FindByTwin after clearing: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
