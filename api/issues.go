package api

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// Issues: list, show, create, edit, comment, attach a file, and the
// history of one issue. Every answer about an issue is the issue with its
// twins (IssueView).

func (s *Server) issues(w http.ResponseWriter, r *http.Request) {
	var all []adapters.Issue
	if err := s.b.EachIssue(r.Context(), func(page []adapters.Issue) error { all = append(all, page...); return nil }); err != nil {
		writeErr(w, err)
		return
	}
	sort.Slice(all, func(i, j int) bool { return keyLess(all[i].Key, all[j].Key) })
	out := make([]IssueView, 0, len(all))
	for _, is := range all {
		v, err := s.view(r, is)
		if err != nil {
			writeErr(w, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, 200, out)
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request) {
	s.writeIssue(w, r, r.PathValue("key"))
}

func (s *Server) issueCreate(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[IssueInput](w, r)
	if !ok {
		return
	}
	var is adapters.Issue
	if in.Summary != nil {
		is.Summary = *in.Summary
	}
	if in.Description != nil {
		is.Description = *in.Description
	}
	if in.Status != nil {
		is.Status = *in.Status
	}
	if in.Priority != nil {
		is.Priority = *in.Priority
	}
	if in.Labels != nil {
		is.Labels = *in.Labels
	}
	if err := in.IssueFields.toIssue(&is); err != nil {
		writeErr(w, err)
		return
	}
	created, err := s.b.Tracker().Create(r.Context(), is)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.writeView(w, r, 201, created)
}

func (s *Server) issueEdit(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[IssueInput](w, r)
	if !ok {
		return
	}
	p := adapters.Patch{Summary: in.Summary, Description: in.Description, Status: in.Status, Priority: in.Priority, Labels: in.Labels}
	var cur adapters.Issue
	if len(in.Fields) > 0 { // the kinds of the custom fields it has
		var err error
		if cur, err = s.b.Tracker().Get(r.Context(), r.PathValue("key")); err != nil {
			writeErr(w, err)
			return
		}
	}
	if err := in.IssueFields.toPatch(&p, cur); err != nil {
		writeErr(w, err)
		return
	}
	s.patchIssue(w, r, p)
}

func (s *Server) issueComment(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[CommentInput](w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(in.Body) == "" {
		writeErr(w, fmt.Errorf("%w: the comment body is empty", ErrBadRequest))
		return
	}
	s.patchIssue(w, r, adapters.Patch{AddComments: []adapters.Comment{{Author: in.Author, Body: in.Body, Internal: in.Internal, Created: time.Now().UTC()}}})
}

// patchIssue applies p to the issue of the request's key (an empty patch
// changes nothing) and answers with the issue.
func (s *Server) patchIssue(w http.ResponseWriter, r *http.Request, p adapters.Patch) {
	key := r.PathValue("key")
	if p.Empty() {
		s.writeIssue(w, r, key)
		return
	}
	is, err := s.b.Tracker().Update(r.Context(), key, p)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.writeView(w, r, 200, is)
}

// issueAttach attaches a file of this machine to an issue.
func (s *Server) issueAttach(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[AttachInput](w, r)
	if !ok {
		return
	}
	at, ok := s.b.Tracker().(adapters.Attachments)
	if !ok {
		writeErr(w, fmt.Errorf("%w: this node's tracker keeps no files", ErrBadRequest))
		return
	}
	if !filepath.IsAbs(in.Path) {
		writeErr(w, fmt.Errorf("%w: the file's path %q is not absolute", ErrBadRequest, in.Path))
		return
	}
	f, err := os.Open(in.Path)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %w", ErrBadRequest, err))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeErr(w, fmt.Errorf("%w: %s is not a regular file", ErrBadRequest, in.Path))
		return
	}
	name := in.Filename
	if name == "" {
		name = filepath.Base(in.Path)
	}
	ct := in.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(filepath.Ext(name))
	}
	if ct == "" {
		head := make([]byte, 512)
		k, _ := io.ReadFull(f, head)
		ct = http.DetectContentType(head[:k])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			writeErr(w, err)
			return
		}
	}
	key := r.PathValue("key")
	a := adapters.Attachment{Filename: name, ContentType: ct, Size: st.Size(), Author: in.Author, Created: time.Now().UTC()}
	if _, err := at.AddAttachment(r.Context(), key, a, f); err != nil {
		writeErr(w, err)
		return
	}
	s.writeIssue(w, r, key)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	v, err := s.b.History(r.Context(), r.PathValue("key"))
	v.Records = nonNil(v.Records)
	answer(w, 200, v, err)
}

// writeIssue answers with the issue of that key as the tracker has it now.
func (s *Server) writeIssue(w http.ResponseWriter, r *http.Request, key string) {
	is, err := s.b.Tracker().Get(r.Context(), key)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.writeView(w, r, 200, is)
}

// writeView answers with an issue and its twins.
func (s *Server) writeView(w http.ResponseWriter, r *http.Request, code int, is adapters.Issue) {
	v, err := s.view(r, is)
	answer(w, code, v, err)
}

// view adds the twins to an issue, ordered by network, then peer.
func (s *Server) view(r *http.Request, is adapters.Issue) (IssueView, error) {
	twin, refs, err := s.b.Twins(r.Context(), is.Key)
	v := IssueView{Issue: is, Twin: twin, Twins: nonNil(refs), Related: s.related(r, is)}
	sort.Slice(v.Twins, func(i, j int) bool {
		a, b := v.Twins[i], v.Twins[j]
		return a.Network+"/"+a.Peer < b.Network+"/"+b.Peer
	})
	return v, err
}

// keyLess orders PREFIX-N keys by number.
func keyLess(a, b string) bool {
	pa, na := splitKey(a)
	pb, nb := splitKey(b)
	if pa != pb {
		return pa < pb
	}
	if na != nb {
		return na < nb
	}
	return a < b
}

func splitKey(k string) (string, int) {
	i := strings.LastIndexByte(k, '-')
	if i < 0 {
		return k, 0
	}
	n := 0
	for _, c := range k[i+1:] {
		if c < '0' || c > '9' {
			return k, 0
		}
		n = n*10 + int(c-'0')
	}
	return k[:i], n
}
