package node

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/gitea"
	"github.com/issuemesh/issuemesh/config"
)

// openGitea opens the Gitea (or Forgejo) adapter; file resolves a
// credential file relative to the home.
func openGitea(t config.Tracker, file func(string) string, log *slog.Logger, hc *http.Client) (adapters.Tracker, error) {
	tok, err := gitea.LoadToken(file(t.TokenFile), log)
	if err != nil {
		return nil, fmt.Errorf("open gitea tracker: %w", err)
	}
	o := gitea.Options{URL: t.URL, Token: tok, Repo: t.Repo, Logger: log, HTTPClient: hc}
	if w := t.Webhook; w != nil {
		if o.WebhookSecret, err = gitea.LoadWebhookSecret(file(w.SecretFile), log); err != nil {
			return nil, fmt.Errorf("open gitea tracker: %w", err)
		}
		o.WebhookListen = w.Listen
	}
	tr, err := gitea.New(o)
	if err != nil {
		return nil, fmt.Errorf("open gitea tracker: %w", err)
	}
	return tr, nil
}
