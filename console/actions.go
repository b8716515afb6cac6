package console

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/config"
)

// maxRuleShown bounds the text of a rule file shown on the connections
// page.
const maxRuleShown = 64 << 10

// readRule is a rule file's text for display ("" for the default rules).
func readRule(home, file string) string {
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(config.ConsolePath(home, filepath.Clean(file)))
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", file, err)
	}
	if len(b) > maxRuleShown {
		return string(b[:maxRuleShown]) + "\n... (cut)"
	}
	return string(b)
}

// back is where an action returns: the page it came from.
func back(r *http.Request, def string) string {
	if n := r.PostFormValue("next"); strings.HasPrefix(n, "/") && !strings.HasPrefix(n, "//") {
		return n
	}
	return def
}

func fail(err error) flash { return flash{Err: true, Msg: err.Error()} }

func (s *Server) actions() map[string]action {
	m := map[string]action{
		"/peers/{peer}/pause":  s.pause(true),
		"/peers/{peer}/resume": s.pause(false),
		"/peers/{peer}/remove": func(ctx context.Context, r *http.Request) (string, flash) {
			var res struct {
				Name       string `json:"name"`
				DroppedOut int    `json:"dropped_out"`
				DroppedIn  int    `json:"dropped_in"`
				Unsynced   int    `json:"unsynced"`
			}
			p := r.PathValue("peer")
			if err := s.node.Do(ctx, "DELETE", "/v1/peers/"+esc(p), nil, &res); err != nil {
				return "/peers", fail(err)
			}
			return "/peers", flash{Msg: fmt.Sprintf("Removed %s: %d queued and %d received events dropped, %d twins unsynced.", cmpOr(res.Name, p), res.DroppedOut, res.DroppedIn, res.Unsynced)}
		},
		"/invite": func(ctx context.Context, r *http.Request) (string, flash) {
			var res inviteResult
			in := map[string]string{"name": strings.TrimSpace(r.PostFormValue("name")), "ttl": strings.TrimSpace(r.PostFormValue("ttl"))}
			if err := s.node.Do(ctx, "POST", "/v1/invites", in, &res); err != nil {
				return "/peers", fail(err)
			}
			return "/peers", flash{Msg: fmt.Sprintf("Invitation for %s, valid until %s. Give this code to the other side; they accept it on their console or with issuemesh accept:", cmpOr(res.Name, "a new peer"), res.Expires.Local().Format(time.DateTime)), Code: res.Code}
		},
		"/accept": func(ctx context.Context, r *http.Request) (string, flash) {
			var res map[string]any
			in := map[string]string{"code": strings.TrimSpace(r.PostFormValue("code")), "name": strings.TrimSpace(r.PostFormValue("name"))}
			if in["code"] == "" {
				return "/peers", flash{Err: true, Msg: "Paste the invitation code first."}
			}
			if err := s.node.Do(ctx, "POST", "/v1/accept", in, &res); err != nil {
				return "/peers", fail(err)
			}
			return "/peers", flash{Msg: acceptedMsg(res)}
		},
		"/retry": func(ctx context.Context, r *http.Request) (string, flash) {
			in := map[string]any{}
			if r.PostFormValue("all") != "" {
				in["all"] = true
			} else if k := r.PostFormValue("key"); k != "" {
				in["key"] = k
			} else {
				return back(r, "/errors"), flash{Err: true, Msg: "Nothing to retry: no key given."}
			}
			var res struct {
				Retried []blocked `json:"retried"`
			}
			if err := s.node.Do(ctx, "POST", "/v1/retry", in, &res); err != nil {
				return back(r, "/errors"), fail(err)
			}
			return back(r, "/errors"), flash{Msg: fmt.Sprintf("Retried %d blocked record(s); rule files were reloaded first. The list updates as they apply.", len(res.Retried))}
		},
	}
	maps.Copy(m, s.networkActions()) // netactions.go
	return m
}

func (s *Server) pause(pause bool) action {
	verb, done := "resume", "Resumed"
	if pause {
		verb, done = "pause", "Paused"
	}
	return func(ctx context.Context, r *http.Request) (string, flash) {
		p := r.PathValue("peer")
		if err := s.node.Do(ctx, "POST", "/v1/peers/"+esc(p)+"/"+verb, nil, nil); err != nil {
			return back(r, "/peers"), fail(err)
		}
		return back(r, "/peers"), flash{Msg: done + " " + r.PostFormValue("label") + "."}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, id string, ss *session) {
	if !csrfOK(r, ss) {
		s.denied(w, http.StatusForbidden, "This action did not come from a console page.")
		return
	}
	s.auth.logout(id)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.tls, SameSite: http.SameSiteLaxMode})
	s.denied(w, http.StatusOK, "Logged out. Run `issuemesh console url` for a new login link.")
}

// link helpers for templates.
func issuePath(key string) string { return "/issues/" + url.PathEscape(key) }
