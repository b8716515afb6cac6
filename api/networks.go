package api

import "net/http"

// Networks: list, create, invite into, leave.

func (s *Server) networks(w http.ResponseWriter, r *http.Request) {
	infos, err := s.b.Networks(r.Context())
	answer(w, 200, nonNil(infos), err)
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[NetworkInput](w, r)
	if !ok {
		return
	}
	info, err := s.b.CreateNetwork(r.Context(), in.Name)
	answer(w, 201, info, err)
}

func (s *Server) networkInvite(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[NetworkInput](w, r)
	if !ok {
		return
	}
	ttl, err := inviteTTL(in.TTL)
	if err != nil {
		writeErr(w, err)
		return
	}
	res, err := s.b.InviteNetwork(r.Context(), r.PathValue("name"), in.Member, ttl)
	answer(w, 200, res, err)
}

func (s *Server) networkLeave(w http.ResponseWriter, r *http.Request) {
	info, err := s.b.LeaveNetwork(r.Context(), r.PathValue("name"))
	answer(w, 200, info, err)
}
