package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const (
	// cookieName holds the session ID.
	cookieName = "issuemesh_console"
	// loginTTL is how long a login link stays usable (once).
	loginTTL = 15 * time.Minute
	// sessionTTL is how long a session lasts after its last request.
	sessionTTL = 12 * time.Hour
	// maxLoginTokens bounds the unused login links kept.
	maxLoginTokens = 64
)

// session is one logged-in browser.
type session struct {
	csrf    string
	expires time.Time
	flash   *flash // shown once on the next page
}

// flash is the outcome of an action, shown on the page the action
// redirects to.
type flash struct {
	Err  bool
	Msg  string
	Code string // a code to copy (an invitation)
}

// auth holds the login tokens and sessions; all in memory, so a restart
// of the node logs every browser out.
type auth struct {
	mu       sync.Mutex
	tokens   map[string]time.Time // login token: expiry
	sessions map[string]*session
	now      func() time.Time
}

func newAuth() *auth {
	return &auth{tokens: map[string]time.Time{}, sessions: map[string]*session{}, now: time.Now}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newLoginToken mints a one-time login token.
func (a *auth) newLoginToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for t, exp := range a.tokens {
		if now.After(exp) {
			delete(a.tokens, t)
		}
	}
	for t := range a.tokens { // too many unused links: the oldest go
		if len(a.tokens) < maxLoginTokens {
			break
		}
		delete(a.tokens, t)
	}
	t := randomToken()
	a.tokens[t] = now.Add(loginTTL)
	return t
}

// login spends a login token and opens a session; ok is false for a
// token that is unknown, used or expired.
func (a *auth) login(token string) (id string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var found bool
	var exp time.Time
	for t, e := range a.tokens { // constant time per comparison
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			found, exp = true, e
		}
	}
	if !found {
		return "", false
	}
	delete(a.tokens, token)
	if a.now().After(exp) {
		return "", false
	}
	for sid, ss := range a.sessions { // forget the sessions that ended
		if a.now().After(ss.expires) {
			delete(a.sessions, sid)
		}
	}
	id = randomToken()
	a.sessions[id] = &session{csrf: randomToken(), expires: a.now().Add(sessionTTL)}
	return id, true
}

// session returns the request's live session, extending it.
func (a *auth) session(r *http.Request) (string, *session) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil {
		return "", nil
	}
	if a.now().After(s.expires) {
		delete(a.sessions, c.Value)
		return "", nil
	}
	s.expires = a.now().Add(sessionTTL)
	return c.Value, s
}

func (a *auth) logout(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, id)
}

// setFlash and takeFlash pass an action's outcome to the next page.
func (a *auth) setFlash(s *session, f flash) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s.flash = &f
}

func (a *auth) takeFlash(s *session) *flash {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// csrfOK checks an action: the form's token must be the session's, and
// an Origin header, when the browser sends one, must be this console.
func csrfOK(r *http.Request, s *session) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}
