package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/api"
)

// networkActions are the peers page's network actions: create a network,
// invite into one, leave one (accepting a network's code is /accept, as for
// a peer's).
func (s *Server) networkActions() map[string]action {
	return map[string]action{
		"/networks/create": func(ctx context.Context, r *http.Request) (string, flash) {
			name := strings.TrimSpace(r.PostFormValue("name"))
			if name == "" {
				return "/peers", flash{Err: true, Msg: "Name the network first."}
			}
			var res api.NetworkInfo
			if err := s.node.Do(ctx, "POST", "/v1/networks", api.NetworkInput{Name: name}, &res); err != nil {
				return "/peers", fail(err)
			}
			return "/peers", flash{Msg: fmt.Sprintf("Created network %s. Invite members from its row below.", cmpOr(res.Name, name))}
		},
		"/networks/invite": func(ctx context.Context, r *http.Request) (string, flash) {
			name := strings.TrimSpace(r.PostFormValue("network"))
			if name == "" {
				return "/peers", flash{Err: true, Msg: "Choose the network first."}
			}
			in := api.NetworkInput{Member: strings.TrimSpace(r.PostFormValue("member")), TTL: strings.TrimSpace(r.PostFormValue("ttl"))}
			var res api.InviteResult
			if err := s.node.Do(ctx, "POST", "/v1/networks/"+esc(name)+"/invites", in, &res); err != nil {
				return "/peers", fail(err)
			}
			return "/peers", flash{Msg: fmt.Sprintf("Invitation into network %s for %s, valid until %s. Give this code to the new member; they accept it on their console or with issuemesh accept:", cmpOr(res.Network, name), cmpOr(res.Name, "a new member"), res.Expires.Local().Format(time.DateTime)), Code: res.Code}
		},
		"/networks/leave": func(ctx context.Context, r *http.Request) (string, flash) {
			name := strings.TrimSpace(r.PostFormValue("network"))
			if name == "" {
				return "/peers", flash{Err: true, Msg: "Choose the network first."}
			}
			if err := s.node.Do(ctx, "POST", "/v1/networks/"+esc(name)+"/leave", nil, nil); err != nil {
				return "/peers", fail(err)
			}
			return "/peers", flash{Msg: fmt.Sprintf("Left network %s: this node stops syncing with its members; the issues stay.", name)}
		},
	}
}

// acceptedMsg says what accepting a code did: the API answers a peer's
// code with the peer and a network's with the join (api.JoinResult).
func acceptedMsg(res map[string]any) string {
	str := func(k string) string { s, _ := res[k].(string); return s }
	if nw := str("network"); nw != "" {
		members, _ := res["members"].(float64)
		return fmt.Sprintf("Joined network %s (%d members) through %s.", nw, int(members), str("id"))
	}
	return fmt.Sprintf("Paired with %s (%s).", cmpOr(str("name"), "the inviter"), str("id"))
}

// networkForms is the network list the peers page's network forms offer
// (rendered once with the page, outside its live part, so that typing is
// not undone).
func (s *Server) networkForms(ctx context.Context, _ *http.Request) (any, error) {
	var nets []network
	if err := s.node.Do(ctx, "GET", "/v1/networks", nil, &nets); err != nil {
		return nil, err
	}
	return nets, nil
}
