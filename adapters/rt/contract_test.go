package rt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// Environment of the tests against a real RT (scripts/rt.sh prints them).
const (
	envURL       = "ISSUEMESH_TEST_RT_URL"
	envTokenFile = "ISSUEMESH_TEST_RT_TOKEN_FILE"
)

// realRT returns the URL and token of the test server, or skips.
func realRT(t *testing.T) (string, string) {
	t.Helper()
	u, tf := os.Getenv(envURL), os.Getenv(envTokenFile)
	if u == "" || tf == "" {
		t.Skipf("no real RT: set %s and %s (scripts/rt.sh, run as root, installs one and prints them)", envURL, envTokenFile)
	}
	tok, err := rest.ReadSecret(tf, "", envTokenFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u, tok
}

// newQueue creates a fresh queue for one test (and disables it after).
func newQueue(t *testing.T, u, tok string) string {
	t.Helper()
	c, err := rest.New(rest.Options{BaseURL: u + "/REST/2.0", Name: "RT", Header: http.Header{"Authorization": {"token " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 4)
	rand.Read(b)
	name := "imtest-" + hex.EncodeToString(b)
	var out struct {
		ID flexString `json:"id"`
	}
	if _, err := c.Do(ctx, rest.Request{Method: http.MethodPost, Path: "/queue", Body: map[string]any{"Name": name}}, &out); err != nil {
		t.Fatalf("create test queue (the token must be a superuser's): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.Do(ctx, rest.Request{Method: http.MethodDelete, Path: "/queue/" + string(out.ID), Idempotent: true}, nil); err != nil {
			t.Logf("disable test queue %s: %v", name, err)
		}
		c.Close()
	})
	return name
}

// TestContract runs the adapter contract suite against a real RT, one fresh
// queue per test.
func TestContract(t *testing.T) {
	u, tok := realRT(t)
	lat := &contract.Latencies{}
	contract.Run(t, func(t *testing.T) adapters.Tracker {
		tr, err := New(Options{URL: u, Token: tok, Queue: newQueue(t, u, tok), HTTP: rest.Options{HTTPClient: lat.Client()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}, contract.Profile{
		OpenStatus: "open", ClosedStatus: "resolved", Priorities: [2]string{"Low", "High"},
		Labels: true, RejectsUnknownStatus: true, MissingKey: "999999999", Settle: feed.DefaultSettle,
		// scripts/rt.sh creates the field "Customer".
		Fields: contract.FieldsProfile{User: adapters.User{Login: "root"}, CustomField: "Customer"},
	})
	t.Logf("RT request latencies: %v", lat)
}
