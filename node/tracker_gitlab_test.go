package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/gitlab"
	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
	"github.com/issuemesh/issuemesh/config"
)

// TestGitLabShareConfidential: tracker.share_confidential reaches the
// adapter. Without it a confidential issue is in no change feed and cannot
// be read; with it, it leaves marked confidential.
func TestGitLabShareConfidential(t *testing.T) {
	f := glfake.New(t)
	dir := t.TempDir()
	tok := filepath.Join(dir, "gitlab.token")
	if err := os.WriteFile(tok, []byte(glfake.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	pub := f.CreateIssue("alice", "public", "")
	sec := f.CreateIssue("alice", "security hole", "")
	sec.Confidential = true
	f.Mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, share := range []bool{false, true} {
		cfg := config.Tracker{Type: "gitlab", URL: f.URL(), Project: f.Project, TokenFile: tok, ShareConfidential: share}
		tr, err := openGitLab(cfg, func(s string) string { return s }, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		is, _, err := tr.Changes(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		for _, i := range is {
			keys[i.Key] = true
		}
		secKey, pubKey := f.Project+"#"+strconv.FormatInt(sec.IID, 10), f.Project+"#"+strconv.FormatInt(pub.IID, 10)
		_, getErr := tr.Get(ctx, secKey)
		if !keys[pubKey] || keys[secKey] != share || (getErr == nil) != share {
			t.Errorf("share_confidential %v: feed %v, Get of the confidential issue: %v; want it shared only when set", share, keys, getErr)
		}
		if !share && !errors.Is(getErr, adapters.ErrNotFound) {
			t.Errorf("Get of a confidential issue kept back: %v, want ErrNotFound", getErr)
		}
		tr.Close()
	}
}

// TestGitLabProjects: tracker.projects opens one connection over several
// projects.
func TestGitLabProjects(t *testing.T) {
	f := glfake.New(t)
	tok := filepath.Join(t.TempDir(), "gitlab.token")
	if err := os.WriteFile(tok, []byte(glfake.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Tracker{Type: "gitlab", URL: f.URL(), Project: f.Project, TokenFile: tok, Projects: []string{"acme/gadgets"}}
	tr, err := openGitLab(cfg, func(s string) string { return s }, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, ok := tr.(*gitlab.Multi); !ok {
		t.Fatalf("tracker.projects opened %T, want a *gitlab.Multi", tr)
	}
}
