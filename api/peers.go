package api

import (
	"fmt"
	"net/http"
	"time"
)

// Peers and invitations: list, add, remove, pause and resume a peer;
// invite, list the open invitations, accept one.

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	ps, err := s.b.Peers(r.Context())
	answer(w, 200, nonNil(ps), err)
}

func (s *Server) peerAdd(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[PeerInput](w, r)
	if !ok {
		return
	}
	p, err := s.b.AddPeer(r.Context(), in.Addr, in.Name)
	answer(w, 200, p, err)
}

func (s *Server) peerRemove(w http.ResponseWriter, r *http.Request) {
	res, err := s.b.RemovePeer(r.Context(), r.PathValue("peer"))
	answer(w, 200, res, err)
}

func (s *Server) pause(pause bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pi, err := s.b.PausePeer(r.Context(), r.PathValue("peer"), pause)
		answer(w, 200, pi, err)
	}
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[InviteInput](w, r)
	if !ok {
		return
	}
	ttl, err := inviteTTL(in.TTL)
	if err != nil {
		writeErr(w, err)
		return
	}
	res, err := s.b.Invite(r.Context(), in.Name, ttl)
	answer(w, 200, res, err)
}

func (s *Server) invites(w http.ResponseWriter, r *http.Request) {
	open, err := s.b.Invites(r.Context())
	answer(w, 200, nonNil(open), err)
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[AcceptInput](w, r)
	if !ok {
		return
	}
	res, err := s.b.Accept(r.Context(), in)
	switch {
	case err != nil:
		writeErr(w, err)
	case res.Join != nil:
		writeJSON(w, 200, res.Join)
	default:
		writeJSON(w, 200, res.Peer)
	}
}

// inviteTTL is an invitation's lifetime as a request gives it ("" for the
// default of 24 hours).
func inviteTTL(s string) (time.Duration, error) {
	if s == "" {
		return 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: ttl %q: %v (e.g. 24h, 30m)", ErrBadRequest, s, err)
	}
	return d, nil
}
