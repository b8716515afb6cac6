package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node"
	"github.com/issuemesh/issuemesh/node/configcheck"
)

// Tracker set-up: the init flags that choose a tracker, and `tracker check`.

// trackerInitFlags are the flags of init that choose the node's tracker.
func trackerInitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tracker", Value: "local", Usage: "the tracker this node syncs: local (embedded), redmine, rt, github, gitea, jira or gitlab"},
		&cli.StringFlag{Name: "url", Usage: "redmine, rt: the tracker's URL, e.g. http://127.0.0.1:3000; github: the API of a GitHub Enterprise Server (https://HOST/api/v3/), empty for github.com; gitea: Gitea's or Forgejo's root URL, e.g. https://gitea.example.com/; gitlab: GitLab's root URL, https://gitlab.com/ or a self-managed https://HOST/"},
		&cli.StringFlag{Name: "api-key-file", Usage: "redmine: file holding the API key (default: $ISSUEMESH_REDMINE_API_KEY at run time)"},
		&cli.StringFlag{Name: "token-file", Usage: "rt, github, gitea, gitlab: file holding the token (default: $ISSUEMESH_RT_TOKEN, $ISSUEMESH_GITHUB_TOKEN, $ISSUEMESH_GITEA_TOKEN or $ISSUEMESH_GITLAB_TOKEN at run time)"},
		&cli.StringSliceFlag{Name: "repo", Usage: "github, gitea: the repository synced, owner/repo (github: repeat it, or separate by commas, for several on one connection)"},
		&cli.Int64Flag{Name: "app-id", Usage: "github: authenticate as this GitHub App (its ID) instead of by token; with --app-key-file and --installation"},
		&cli.StringFlag{Name: "app-key-file", Usage: "github: the GitHub App's private key file (.pem)"},
		&cli.Int64Flag{Name: "installation", Usage: "github: the GitHub App's installation ID (the end of the installation's settings URL)"},
		&cli.BoolFlag{Name: "pull-requests", Usage: "github: sync pull requests as issues too"},
		&cli.StringFlag{Name: "project", Usage: "redmine: the project's identifier; jira: the project's key; gitlab: the project's full path, group/name"},
		&cli.StringFlag{Name: "email", Usage: "jira: the Atlassian account of the Cloud API token given by --token-file (default token: $ISSUEMESH_JIRA_TOKEN at run time)"},
		&cli.StringFlag{Name: "pat-file", Usage: "jira: Data Center: file holding a personal access token (default: $ISSUEMESH_JIRA_PAT at run time)"},
		&cli.StringFlag{Name: "queue", Usage: "rt: the queue's name"},
		&cli.StringFlag{Name: "timezone", Usage: "rt: the time zone RT reads search dates in (its $Timezone), if not UTC"},
	}
}

// applyTrackerFlags sets cfg.Tracker from the init flags. Credential files
// are stored as absolute paths and must be readable now.
func applyTrackerFlags(c *cli.Context, cfg *config.Config) error {
	typ := c.String("tracker")
	if typ == "local" {
		for _, f := range []string{"url", "api-key-file", "token-file", "project", "queue", "timezone", "repo", "app-id", "app-key-file", "installation", "pull-requests", "email", "pat-file"} {
			if c.IsSet(f) {
				return fmt.Errorf("--%s is for --tracker redmine, rt, github, gitea, jira or gitlab, not the local tracker", f)
			}
		}
		return nil
	}
	abs := func(flag string) (string, error) {
		f := c.String(flag)
		if f == "" {
			return "", nil
		}
		a, err := filepath.Abs(f)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		if _, err := os.ReadFile(a); err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		return a, nil
	}
	t := config.Tracker{Type: typ, URL: c.String("url"), Project: c.String("project"), Queue: c.String("queue"), Timezone: c.String("timezone"),
		AppID: c.Int64("app-id"), Installation: c.Int64("installation"), PullRequests: c.Bool("pull-requests"), Email: c.String("email")}
	if repos := c.StringSlice("repo"); len(repos) == 1 {
		t.Repo = repos[0]
	} else {
		t.Repos = repos
	}
	var err error
	if t.AppKeyFile, err = abs("app-key-file"); err != nil {
		return err
	}
	if t.APIKeyFile, err = abs("api-key-file"); err != nil {
		return err
	}
	if t.TokenFile, err = abs("token-file"); err != nil {
		return err
	}
	if t.PATFile, err = abs("pat-file"); err != nil {
		return err
	}
	cfg.Tracker = t
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w (set it with the init flag of the same name)", err)
	}
	return nil
}

func trackerCommands() []*cli.Command {
	return []*cli.Command{{
		Name:  "tracker",
		Usage: "the tracker this node syncs",
		Subcommands: []*cli.Command{{
			Name:  "check",
			Usage: "verify the tracker: connection, credentials, project or queue, statuses, custom fields",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
				&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "give up after this long"},
			},
			Action: cmdTrackerCheck,
		}},
	}}
}

func cmdTrackerCheck(c *cli.Context) error {
	cfg, err := config.Load(home(c))
	if err != nil {
		return err
	}
	var results []check.Result
	switch cfg.Tracker.Type {
	case "local":
		results = []check.Result{{Name: "tracker", OK: true, Detail: "the embedded local tracker, in " + filepath.Join(home(c), node.TrackerDir) + ": nothing to reach"}}
	default:
		tr, err := node.OpenRemoteTracker(home(c), cfg.Tracker, logger(c.App.ErrWriter, "error"))
		if err != nil {
			results = []check.Result{{Name: "configuration", OK: false, Detail: err.Error()}}
			break
		}
		defer tr.Close()
		ch, ok := tr.(check.Checker)
		if !ok {
			results = []check.Result{{Name: "tracker", OK: true, Warning: true, Detail: cfg.Tracker.Type + " adapter has no self-check"}}
			break
		}
		ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
		defer cancel()
		results = ch.Check(ctx)
		// The maps of config.yaml against the values just checked.
		results = append(results, configcheck.Check(ctx, home(c), cfg, tr, logger(c.App.ErrWriter, "error"))...)
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, results); err != nil {
			return err
		}
	} else {
		w := c.App.Writer
		fmt.Fprintf(w, "tracker: %s %s%s%s%s\n", cfg.Tracker.Type, cfg.Tracker.URL, prefixed(" project ", cfg.Tracker.Project), prefixed(" queue ", cfg.Tracker.Queue), prefixed(" repo ", strings.Join(slices.DeleteFunc(append([]string{cfg.Tracker.Repo}, cfg.Tracker.Repos...), func(r string) bool { return r == "" }), ", ")))
		printResults(c, results)
	}
	if failed > 0 {
		return errors.New("the tracker check failed: see the FAIL lines")
	}
	return nil
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
