package github

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
)

// App is a GitHub App installed on the repositories: its ID, its private
// key (PEM, as GitHub lets you download it) and the installation's ID
// (in the URL of the installation's settings page).
type App struct {
	ID           int64
	Key          []byte
	Installation int64
}

// LoadAppKey reads the app's private key file (tracker.app_key_file).
func LoadAppKey(file string) ([]byte, error) {
	if file == "" {
		return nil, errors.New("tracker.app_key_file: missing; a GitHub App needs its private key file (.pem)")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tracker.app_key_file: %w", err)
	}
	return b, nil
}

// An installation token lives an hour. It is renewed when less than
// renewBefore is left, so no request goes out with one about to expire.
const (
	renewBefore = 5 * time.Minute
	// jwtLife: GitHub refuses a JWT that lives over ten minutes; iat is
	// set a minute back for clocks that run behind GitHub's.
	jwtLife = 9 * time.Minute
)

// appTokens is the RoundTripper that authenticates as the installation:
// it keeps the installation token, asks for a new one (with a JWT signed
// by the app's key) before it expires, and sets it on every request.
type appTokens struct {
	id, installation int64
	key              *rsa.PrivateKey
	next             http.RoundTripper // the pacing transport
	copts            []gh.ClientOptionsFunc
	now              func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	perms   map[string]string
	made    int // tokens made, for tests and check
}

func newAppTokens(a App, next http.RoundTripper, copts []gh.ClientOptionsFunc) (*appTokens, error) {
	if a.ID <= 0 {
		return nil, errors.New("github: tracker.app_id: missing; the GitHub App's ID is on its settings page")
	}
	if a.Installation <= 0 {
		return nil, errors.New("github: tracker.installation: missing; the installation's ID ends the URL of its settings page")
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(a.Key)
	if err != nil {
		return nil, fmt.Errorf("github: tracker.app_key_file: not the app's RSA private key in PEM: %w", err)
	}
	return &appTokens{id: a.ID, installation: a.Installation, key: key, next: next, copts: copts, now: time.Now}, nil
}

// jwt is a fresh JSON Web Token of the app.
func (a *appTokens) jwt() (string, error) {
	now := a.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.id, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtLife)),
	})
	return tok.SignedString(a.key)
}

// appClient is a client authenticated as the app itself (by JWT), for
// the endpoints under /app.
func (a *appTokens) appClient() (*gh.Client, error) {
	j, err := a.jwt()
	if err != nil {
		return nil, fmt.Errorf("github: sign the app's JWT: %w", err)
	}
	return gh.NewClient(append(a.copts, gh.WithAuthToken(j), gh.WithHTTPClient(&http.Client{Transport: a.next, Timeout: 30 * time.Second}))...)
}

// current returns a token valid for at least renewBefore, making one when
// needed.
func (a *appTokens) current(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.expires.Sub(a.now()) > renewBefore {
		return a.token, nil
	}
	c, err := a.appClient()
	if err != nil {
		return "", err
	}
	it, resp, err := c.Apps.CreateInstallationToken(ctx, a.installation, &gh.InstallationTokenOptions{})
	if err != nil {
		op := fmt.Sprintf("github: make a token for installation %d of app %d", a.installation, a.id)
		switch {
		case resp != nil && resp.StatusCode == http.StatusUnauthorized:
			return "", &adapters.TrackerError{Class: adapters.ClassCredentials, Status: 401,
				Err: fmt.Errorf("%s: GitHub refused the app's JWT (check tracker.app_id and tracker.app_key_file): %w: %w", op, adapters.ErrUnavailable, err)}
		case resp != nil && resp.StatusCode == http.StatusNotFound:
			return "", &adapters.TrackerError{Class: adapters.ClassCredentials, Status: 404,
				Err: fmt.Errorf("%s: the app has no such installation (check tracker.installation): %w: %w", op, adapters.ErrUnavailable, err)}
		}
		return "", classify(op[len("github: "):], resp, err)
	}
	a.token, a.expires, a.made = it.GetToken(), it.GetExpiresAt().Time, a.made+1
	a.perms = map[string]string{}
	if p := it.GetPermissions(); p != nil {
		a.perms["issues"], a.perms["metadata"], a.perms["pull_requests"], a.perms["repository_hooks"] = p.GetIssues(), p.GetMetadata(), p.GetPullRequests(), p.GetRepositoryHooks()
	}
	return a.token, nil
}

// forget drops the token after GitHub refused it (revoked, or the clock
// is off), so that the next request makes a new one.
func (a *appTokens) forget(tok string) {
	a.mu.Lock()
	if a.token == tok {
		a.token = ""
	}
	a.mu.Unlock()
}

func (a *appTokens) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := a.current(r.Context())
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := a.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		a.forget(tok)
	}
	return resp, err
}

// state is what check reports: the token's expiry, its permissions and
// how many tokens were made.
func (a *appTokens) state() (time.Time, map[string]string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.expires, a.perms, a.made
}
