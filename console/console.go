package console

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// SocketFile is the console's control socket in the node's home: `issuemesh
// console url` asks it for a login link.
const SocketFile = "console.sock"

// Options configure a console.
type Options struct {
	Node Node
	// Home is the node's home (rule files, config.yaml, console.sock).
	Home string
	// Config is the console section (Listen, TLS files relative to Home).
	Config config.Console
	Logger *slog.Logger
	// Tick is how often a live page is rendered again (default 1s).
	Tick time.Duration
}

// Server is a running console.
type Server struct {
	opts  Options
	h     http.Handler // the node's admin API
	node  *api.Client  // a client of it, in-process
	auth  *auth
	tmpl  *template.Template
	log   *slog.Logger
	tls   bool
	issue issueCache

	mu     sync.Mutex
	base   string       // the URL the console answers on, e.g. http://127.0.0.1:7447
	l, ctl net.Listener // the console's address and console.sock
}

// New checks the options and parses the templates.
func New(opts Options) (*Server, error) {
	if err := config.ValidateConsole(opts.Config); err != nil {
		return nil, err
	}
	if opts.Config.Listen == "" {
		return nil, errors.New("console: no listen address")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	h := opts.Node.Handler()
	s := &Server{opts: opts, h: h, node: api.NewLocalClient(h, nil), auth: newAuth(), tmpl: t, log: opts.Logger, tls: opts.Config.TLSCert != ""}
	s.issue.node = s.node
	return s, nil
}

// Listen opens the console's address and its control socket; Serve then
// serves them. Apart, so that `run` fails at once on a taken port.
func (s *Server) Listen(ctx context.Context) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.opts.Config.Listen)
	if err != nil {
		return fmt.Errorf("the console's address %s (console.listen or run --console): %w", s.opts.Config.Listen, err)
	}
	if s.tls {
		cert, key := config.ConsolePath(s.opts.Home, s.opts.Config.TLSCert), config.ConsolePath(s.opts.Home, s.opts.Config.TLSKey)
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			l.Close()
			return fmt.Errorf("console.tls_cert %s and tls_key %s: %w", cert, key, err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12})
	}
	ctl, err := s.listenControl()
	if err != nil {
		l.Close()
		return err
	}
	s.mu.Lock()
	s.l, s.ctl = l, ctl
	s.base = baseURL(s.tls, s.opts.Config.Listen, l.Addr())
	s.mu.Unlock()
	return nil
}

// Serve serves the console until ctx is done (Listen first).
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	l, ctl := s.l, s.ctl
	s.mu.Unlock()
	if l == nil {
		return errors.New("console: Serve before Listen")
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, BaseContext: func(net.Listener) context.Context { return ctx }}
	ctlSrv := &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(l) }()
	go func() { errc <- ctlSrv.Serve(ctl) }()
	s.log.Info("serving the console", "url", s.URL(), "login", "issuemesh console url")
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	srv.Close()
	ctlSrv.Close()
	os.Remove(filepath.Join(s.opts.Home, SocketFile))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// URL is the console's address, once it listens.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// LoginURL mints a one-time login link.
func (s *Server) LoginURL() string {
	return s.URL() + "/login?token=" + s.auth.newLoginToken()
}

func baseURL(tls bool, listen string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(listen)
	_, port, _ := net.SplitHostPort(bound.String())
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		} else {
			host = "localhost"
		}
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// listenControl opens console.sock, readable by the home's owner only.
func (s *Server) listenControl() (net.Listener, error) {
	path := filepath.Join(s.opts.Home, SocketFile)
	os.Remove(path) // one left by a killed node; the run lock keeps out a second one
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("console control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("console control socket %s: %w", path, err)
	}
	return l, nil
}

// LoginLink is the control socket's answer.
type LoginLink struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login-link", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(LoginLink{URL: s.LoginURL(), Expires: time.Now().Add(loginTTL).UTC()})
	})
	return mux
}

// Handler is the console's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /login", s.login)
	// Metrics need no secret (README "Metrics"), as on metrics.listen.
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) })
	for path, p := range s.pages() {
		mux.Handle("GET "+path, s.authed(func(w http.ResponseWriter, r *http.Request, id string, ss *session) { s.servePage(w, r, p, ss) }))
	}
	mux.Handle("GET /events", s.authed(s.events))
	for path, a := range s.actions() {
		mux.Handle("POST "+path, s.authed(s.action(a)))
	}
	mux.Handle("POST /logout", s.authed(s.logout))
	mux.Handle("GET /", s.authed(func(w http.ResponseWriter, r *http.Request, _ string, _ *session) { http.NotFound(w, r) }))
	return secureHeaders(mux)
}

// secureHeaders forbids framing, sniffing, referrers and any script or
// style from elsewhere.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin") // not no-referrer: with it, Chromium sends "Origin: null" on the console's own forms
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// authed answers 401 without a session; the handler gets the session.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, string, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ss := s.auth.session(r)
		if ss == nil {
			s.denied(w, http.StatusUnauthorized, "Not logged in. Run `issuemesh console url` on the node's machine and open the link it prints.")
			return
		}
		h(w, r, id, ss)
	})
}

func (s *Server) denied(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	s.tmpl.ExecuteTemplate(w, "denied", struct {
		Code int
		Msg  string
	}{code, msg})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	id, ok := s.auth.login(r.URL.Query().Get("token"))
	if !ok {
		s.denied(w, http.StatusForbidden, "This login link is unknown, already used or expired. Run `issuemesh console url` for a new one.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: s.tls, SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL / time.Second)})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// action is a POST: it returns where to go next and what to say.
type action func(ctx context.Context, r *http.Request) (next string, f flash)

func (s *Server) action(a action) func(http.ResponseWriter, *http.Request, string, *session) {
	return func(w http.ResponseWriter, r *http.Request, id string, ss *session) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if !csrfOK(r, ss) {
			s.denied(w, http.StatusForbidden, "This action did not come from a console page (missing or wrong CSRF token, or another origin). Reload the page and try again.")
			return
		}
		next, f := a(r.Context(), r)
		if f.Msg != "" {
			s.auth.setFlash(ss, f)
		}
		if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}
