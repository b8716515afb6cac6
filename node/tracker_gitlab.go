package node

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/gitlab"
	"github.com/issuemesh/issuemesh/config"
)

// openGitLab opens the GitLab adapter; file resolves a
// credential file relative to the home.
func openGitLab(t config.Tracker, file func(string) string, log *slog.Logger, hc *http.Client) (adapters.Tracker, error) {
	tok, err := gitlab.LoadToken(file(t.TokenFile), log)
	if err != nil {
		return nil, fmt.Errorf("open gitlab tracker: %w", err)
	}
	o := gitlab.Options{URL: t.URL, Token: tok, Project: t.Project, ShareConfidential: t.ShareConfidential, Projects: t.Projects, Logger: log, HTTPClient: hc}
	if w := t.Webhook; w != nil {
		if o.WebhookSecret, err = gitlab.LoadWebhookSecret(file(w.SecretFile), log); err != nil {
			return nil, fmt.Errorf("open gitlab tracker: %w", err)
		}
		o.WebhookListen = w.Listen
	}
	tr, err := gitlab.Open(o)
	if err != nil {
		return nil, fmt.Errorf("open gitlab tracker: %w", err)
	}
	return tr, nil
}
