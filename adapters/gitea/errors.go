package gitea

import (
	"context"
	"net/http"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters/internal/forge"
)

// errs classifies the SDK's errors, which are text only, by the HTTP
// status of the answer (forge.Errors.Classify lists the classes). Gitea
// itself does not limit its API; a proxy in front of it may answer 429.
var errs = forge.Errors{
	Prefix:      "gitea",
	Name:        "Gitea",
	Credentials: "Gitea refused the token: check tracker.token_file or " + EnvToken,
	Permission:  "the token may not do this: it needs the scopes write:issue and read:repository, and write access to the repository",
	TooLarge:    errTooLarge,
}

// classify turns an error of the SDK into one the sync engine understands,
// named by op, what was being done.
func classify(ctx context.Context, op string, resp *sdk.Response, err error) error {
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	return errs.Classify(ctx, op, hr, err)
}

// unreachable is a failure while reading an answer's body.
func unreachable(op string, err error) error { return errs.Unreachable(op, err) }

// rejected is a refusal of the adapter itself (before any request).
func rejected(format string, args ...any) error { return errs.Rejected(format, args...) }

func notFound(format string, args ...any) error { return errs.NotFound(format, args...) }
