package node

import (
	"context"
	"log/slog"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node/configcheck"
)

// CheckConfig validates a parsed config beyond its syntax (see
// configcheck.Check); a result that is not OK refuses the config.
func CheckConfig(ctx context.Context, home string, cfg *config.Config, tr adapters.Tracker, log *slog.Logger) []check.Result {
	return configcheck.Check(ctx, home, cfg, tr, log)
}
