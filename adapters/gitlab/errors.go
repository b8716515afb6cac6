package gitlab

import (
	"context"
	"net/http"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/issuemesh/issuemesh/adapters/internal/forge"
)

// errs classifies the client's errors, which are text only, by the HTTP
// status of the answer (forge.Errors.Classify lists the classes). A 429
// (GitLab.com and instances with rate limits on) waits for Retry-After or
// RateLimit-Reset.
var errs = forge.Errors{
	Prefix:      "gitlab",
	Name:        "GitLab",
	Credentials: "GitLab refused the token (revoked or expired?): check tracker.token_file or " + EnvToken,
	Permission:  "the token may not do this: it needs the api scope and at least the Reporter role (Planner or Developer to edit issues) in the project",
}

// classify turns an error of the client into one the sync engine
// understands, named by op, what was being done.
func classify(ctx context.Context, op string, resp *gl.Response, err error) error {
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	return errs.Classify(ctx, op, hr, err)
}

// rejected is a refusal of the adapter itself (before any request).
func rejected(format string, args ...any) error { return errs.Rejected(format, args...) }

func notFound(format string, args ...any) error { return errs.NotFound(format, args...) }
