package node

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/jira"
	"github.com/issuemesh/issuemesh/config"
)

// openJira opens the Jira adapter: Cloud with tracker.email and an API
// token, Data Center with a personal access token; file resolves a
// credential file relative to the home; hc (nil: the default) carries the
// node's transport wrapper.
func openJira(t config.Tracker, file func(string) string, log *slog.Logger, hc *http.Client) (adapters.Tracker, error) {
	o := jira.Options{URL: t.URL, Project: t.Project, Email: t.Email, RequestsPerMinute: t.RequestsPerMinute, Logger: log, HTTPClient: hc}
	var err error
	if t.Email != "" {
		o.Token, err = jira.LoadToken(file(t.TokenFile), log)
	} else {
		o.PAT, err = jira.LoadPAT(file(t.PATFile), log)
	}
	if err != nil {
		return nil, fmt.Errorf("open jira tracker: %w", err)
	}
	tr, err := jira.New(o)
	if err != nil {
		return nil, fmt.Errorf("open jira tracker: %w", err)
	}
	return tr, nil
}
