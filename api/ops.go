package api

import (
	"net/http"
)

// The operator's hand on sync: the queue, blocked twins and their retry,
// sync, unsync and link by hand, and rules test.

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	q, err := s.b.Queue(r.Context())
	answer(w, 200, nonNil(q), err)
}

func (s *Server) errors(w http.ResponseWriter, r *http.Request) {
	bs, err := s.b.Errors(r.Context())
	answer(w, 200, nonNil(bs), err)
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[RetryInput](w, r)
	if !ok {
		return
	}
	res, err := s.b.Retry(r.Context(), in)
	res.Retried = nonNil(res.Retried)
	answer(w, 200, res, err)
}

func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[SyncInput](w, r)
	if !ok {
		return
	}
	res, err := s.b.Sync(r.Context(), in)
	answer(w, 200, res, err)
}

// unsync stops syncing a twin with a peer and answers with the issue.
func (s *Server) unsync(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[UnsyncInput](w, r)
	if !ok {
		return
	}
	if err := s.b.Unsync(r.Context(), in); err != nil {
		writeErr(w, err)
		return
	}
	s.writeIssue(w, r, in.Key)
}

// link links an issue with one at the peer and answers with the issue.
func (s *Server) link(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[LinkInput](w, r)
	if !ok {
		return
	}
	if err := s.b.Link(r.Context(), in); err != nil {
		writeErr(w, err)
		return
	}
	s.writeIssue(w, r, in.Key)
}

func (s *Server) rulesTest(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[RulesTestInput](w, r)
	if !ok {
		return
	}
	res, err := s.b.TestRules(r.Context(), in)
	answer(w, 200, res, err)
}
