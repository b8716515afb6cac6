package forge

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// DefaultPriorities are the priorities a forge keeps as labels when the
// connection names none.
func DefaultPriorities() []string { return []string{"low", "medium", "high", "urgent"} }

// Common are the options every forge adapter's New takes besides its
// address, credentials and repository: each adapter's Options has them
// under the same names and hands them here, so that the defaults and the
// checks are the same for all of them.
type Common struct {
	Priorities                   []string
	Settle                       time.Duration
	HTTPClient                   *http.Client
	WebhookListen, WebhookSecret string
	Logger                       *slog.Logger
}

// Resolve returns c with its defaults filled in, for the adapter named
// component ("gitea") of repo: the priorities (DefaultPriorities), the
// feed's overlap (settle), a copy of the HTTP client (so that wrapping its
// transport leaves the caller's as it was; one with a 30 s timeout when
// none is given) and a logger naming the adapter and repository. A
// webhook listener without its secret is refused.
func (c Common) Resolve(component, repo string, settle time.Duration) (Common, error) {
	if c.WebhookListen != "" && c.WebhookSecret == "" {
		return c, errors.New(component + ": a webhook listener needs its secret (tracker.webhook.secret_file)")
	}
	if len(c.Priorities) == 0 {
		c.Priorities = DefaultPriorities()
	} else {
		c.Priorities = slices.Clone(c.Priorities)
	}
	if c.Settle <= 0 {
		c.Settle = settle
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if c.HTTPClient != nil {
		cp := *c.HTTPClient
		hc = &cp
	}
	c.HTTPClient = hc
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("component", component, "repo", repo)
	return c, nil
}
