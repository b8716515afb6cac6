package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/github"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/adapters/redmine"
	"github.com/issuemesh/issuemesh/adapters/rt"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/store"
	"github.com/issuemesh/issuemesh/trackerhealth"
)

// openTracker opens the tracker adapter that the config names. The embedded
// local tracker is also returned as such, for the issue commands.
func openTracker(home string, cfg *config.Config, opts Options, space *diskspace.Guard, wrap wrapTransport) (adapters.Tracker, *local.Tracker, error) {
	switch cfg.Tracker.Type {
	case "local":
		// The embedded tracker's Badger files are checked as the sync
		// log's are (store/verify.go): a damaged file is refused by name.
		if errs := store.Verify(filepath.Join(home, TrackerDir)); len(errs) > 0 {
			return nil, nil, fmt.Errorf("open local tracker: %w", errors.Join(errs...))
		}
		space.Watch(filepath.Join(home, TrackerDir))
		lt, err := local.Open(filepath.Join(home, TrackerDir), local.Options{Prefix: cfg.Tracker.Prefix, SyncWrites: !opts.NoSync, Logger: opts.Logger, Space: space})
		if err != nil {
			return nil, nil, fmt.Errorf("open local tracker: %w", err)
		}
		return lt, lt, nil
	default:
		tr, err := openRemoteTracker(home, cfg.Tracker, opts.Logger, wrap)
		return tr, nil, err
	}
}

// OpenRemoteTracker opens the adapter of a tracker reached over the network
// (redmine, rt, github, gitea) as the tracker section describes. It reads the credential
// file (relative paths are relative to home) but does no network I/O.
func OpenRemoteTracker(home string, t config.Tracker, log *slog.Logger) (adapters.Tracker, error) {
	return openRemoteTracker(home, t, log, nil)
}

// wrapTransport wraps an adapter's HTTP transport (nil: the default
// transport); the node's is its request metrics (metricsflow.go). This is
// the one place every adapter's HTTP client gets it.
type wrapTransport func(http.RoundTripper) http.RoundTripper

// forgeClient is the HTTP client of the adapters built on a vendor's
// client library (github, gitea): their default, with wrap's transport.
func forgeClient(wrap wrapTransport) *http.Client {
	if wrap == nil {
		return nil
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: wrap(nil)}
}

func openRemoteTracker(home string, t config.Tracker, log *slog.Logger, wrap wrapTransport) (adapters.Tracker, error) {
	if log == nil {
		log = slog.Default()
	}
	file := func(f string) string {
		if f != "" && !filepath.IsAbs(f) {
			return filepath.Join(home, f)
		}
		return f
	}
	switch t.Type {
	case "redmine":
		key, err := redmine.LoadAPIKey(file(t.APIKeyFile), log)
		if err != nil {
			return nil, fmt.Errorf("open redmine tracker: %w", err)
		}
		o := redmine.Options{URL: t.URL, APIKey: key, Project: t.Project, Logger: log}
		o.HTTP.WrapTransport = wrap
		tr, err := redmine.New(o)
		if err != nil {
			return nil, fmt.Errorf("open redmine tracker: %w", err)
		}
		return tr, nil
	case "rt":
		tok, err := rt.LoadToken(file(t.TokenFile), log)
		if err != nil {
			return nil, fmt.Errorf("open rt tracker: %w", err)
		}
		loc := time.UTC
		if t.Timezone != "" {
			if loc, err = time.LoadLocation(t.Timezone); err != nil {
				return nil, fmt.Errorf("open rt tracker: tracker.timezone: %w", err)
			}
		}
		o := rt.Options{URL: t.URL, Token: tok, Queue: t.Queue, Location: loc, Logger: log}
		o.HTTP.WrapTransport = wrap
		tr, err := rt.New(o)
		if err != nil {
			return nil, fmt.Errorf("open rt tracker: %w", err)
		}
		return tr, nil
	case "github":
		o := github.Options{BaseURL: t.URL, Repo: t.Repo, Repos: t.Repos, PullRequests: t.PullRequests, Logger: log, HTTPClient: forgeClient(wrap)}
		var err error
		if t.AppID != 0 {
			o.App = &github.App{ID: t.AppID, Installation: t.Installation}
			o.App.Key, err = github.LoadAppKey(file(t.AppKeyFile))
		} else {
			o.Token, err = github.LoadToken(file(t.TokenFile), log)
		}
		if err != nil {
			return nil, fmt.Errorf("open github tracker: %w", err)
		}
		if w := t.Webhook; w != nil {
			if o.WebhookSecret, err = github.LoadWebhookSecret(file(w.SecretFile), log); err != nil {
				return nil, fmt.Errorf("open github tracker: %w", err)
			}
			o.WebhookListen = w.Listen
		}
		tr, err := github.New(o)
		if err != nil {
			return nil, fmt.Errorf("open github tracker: %w", err)
		}
		return tr, nil
	case "gitea":
		return openGitea(t, file, log, forgeClient(wrap))
	case "jira":
		return openJira(t, file, log, forgeClient(wrap))
	case "gitlab":
		return openGitLab(t, file, log, forgeClient(wrap))
	default:
		return nil, fmt.Errorf("tracker.type %q: no adapter for it in this build", t.Type)
	}
}

// wrapHealth puts the node's tracker behind its health
// (trackerhealth.Tracker).
func wrapHealth(n *Node) {
	var o trackerhealth.Options
	if n.local == nil && n.opts.Tracker == nil {
		o.Reopen = func(live config.Tracker) (adapters.Tracker, error) {
			// The tracker the node started with, with the credential
			// files named now (the rest needs a restart).
			t := n.cfg.Tracker
			t.APIKeyFile, t.TokenFile = live.APIKeyFile, live.TokenFile
			return openRemoteTracker(n.home, t, n.log, n.metrics.trackerTransport)
		}
	}
	n.health = trackerhealth.New(n.cfg.Tracker.Type, n.tracker, n.log, o)
	n.tracker = n.health.AsTracker()
}

// TrackerHealth is the tracker's health now.
func (n *Node) TrackerHealth() TrackerHealth {
	if n.health == nil {
		return TrackerHealth{Type: n.cfg.Tracker.Type, State: "unknown"}
	}
	return n.health.Health()
}

// Tracker is the node's tracker adapter as opened, without the health
// wrapper the node itself goes through (for benchmarks and tools that
// drive the tracker directly, in-process, and need its concrete type).
func (n *Node) Tracker() adapters.Tracker { return n.rawTracker }
