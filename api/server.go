package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/store"
)

// ErrBadRequest marks an error that is the caller's mistake (a malformed
// body, an unknown flag combination, a name that is not valid); the answer
// is 400 with the error's message.
var ErrBadRequest = errors.New("bad request")

// maxBody bounds a request body.
const maxBody = 8 << 20

// Server is the admin API over a Backend.
type Server struct {
	b   Backend
	mux *http.ServeMux
}

// NewServer returns the admin API answering from b.
func NewServer(b Backend) *Server {
	s := &Server{b: b, mux: http.NewServeMux()}
	for _, rt := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		// the node
		{"GET /v1/id", s.id},
		{"GET /v1/status", s.status},
		{"GET /v1/tracker", s.tracker},
		{"POST /v1/backup", s.backup},
		// issues (issues.go)
		{"GET /v1/issues", s.issues},
		{"POST /v1/issues", s.issueCreate},
		{"GET /v1/issues/{key}", s.issue},
		{"PATCH /v1/issues/{key}", s.issueEdit},
		{"POST /v1/issues/{key}/comments", s.issueComment},
		{"POST /v1/issues/{key}/attachments", s.issueAttach},
		{"GET /v1/history/{key}", s.history},
		// peers and invitations (peers.go)
		{"GET /v1/peers", s.peers},
		{"POST /v1/peers", s.peerAdd},
		{"DELETE /v1/peers/{peer}", s.peerRemove},
		{"POST /v1/peers/{peer}/pause", s.pause(true)},
		{"POST /v1/peers/{peer}/resume", s.pause(false)},
		{"POST /v1/invites", s.invite},
		{"GET /v1/invites", s.invites},
		{"POST /v1/accept", s.accept},
		// sync by hand, the queue, blocked twins, rules (ops.go)
		{"GET /v1/queue", s.queue},
		{"GET /v1/errors", s.errors},
		{"POST /v1/retry", s.retry},
		{"POST /v1/sync", s.sync},
		{"POST /v1/unsync", s.unsync},
		{"POST /v1/link", s.link},
		{"POST /v1/rules/test", s.rulesTest},
		// networks (networks.go)
		{"GET /v1/networks", s.networks},
		{"POST /v1/networks", s.networkCreate},
		{"POST /v1/networks/{name}/invites", s.networkInvite},
		{"POST /v1/networks/{name}/leave", s.networkLeave},
	} {
		s.mux.HandleFunc(rt.pattern, rt.h)
	}
	s.registerFields() // fields.go
	s.mux.Handle("GET /metrics", b.Metrics())
	return s
}

// ServeHTTP answers one request of the admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) id(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.b.ID()) }

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.Status(r.Context())
	answer(w, 200, st, err)
}

func (s *Server) tracker(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.b.TrackerHealth())
}

func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[BackupInput](w, r)
	if !ok {
		return
	}
	info, err := s.b.Backup(r.Context(), in.Dir)
	answer(w, 200, info, err)
}

// answer writes v with code, or err when it is not nil.
func answer[T any](w http.ResponseWriter, code int, v T, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, code, v)
}

// readBody decodes the request's JSON body; when it cannot, it answers 400
// and reports false.
func readBody[T any](w http.ResponseWriter, r *http.Request) (T, bool) {
	var in T
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeErr(w, fmt.Errorf("%w: request body: %v", ErrBadRequest, err))
		return in, false
	}
	return in, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), apiError{err.Error()})
}

// statusOf is the HTTP status that answers err.
func statusOf(err error) int {
	switch {
	case errors.Is(err, adapters.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, adapters.ErrRejected), errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, adapters.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// nonNil is s, or an empty slice for nil, so that lists answer [] and not
// null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
