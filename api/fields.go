package api

// The admin API of the issue fields beyond the core ones (issue 16): people,
// type, dates and custom fields on create and edit, relations, comment edits
// and deletes, file removal, and the relations of `issue show` with the
// twins of the related issues.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// IssueFields is the part of IssueInput for the fields of issue 16; nil
// fields are left alone on edit.
type IssueFields struct {
	// Assignee and Reporter name a person: an email (has an @), else a
	// login; "" unassigns.
	Assignee *string `json:"assignee,omitempty"`
	Reporter *string `json:"reporter,omitempty"`
	Type     *string `json:"type,omitempty"`
	Due      *string `json:"due,omitempty"`   // YYYY-MM-DD, "" clears
	Start    *string `json:"start,omitempty"` // YYYY-MM-DD, "" clears
	// Fields sets custom fields: "NAME=VALUE" or "NAME:KIND=VALUE" (KIND
	// text, number, date, option, options, user; options are separated by
	// commas); "NAME=" clears. Without a kind the field keeps the kind it
	// has, else it is text.
	Fields []string `json:"fields,omitempty"`
}

// RelatedView is one relation of an issue as `issue show` gives it: the
// related issue's key and summary, and its twin ID and twins where it is
// synced.
type RelatedView struct {
	Kind    string    `json:"kind"`
	Key     string    `json:"key"`
	Summary string    `json:"summary,omitempty"`
	Twin    string    `json:"twin,omitempty"`
	Twins   []TwinRef `json:"twins,omitempty"`
}

// RelateInput is the body of issue relate.
type RelateInput struct {
	Other string `json:"other"`
	Kind  string `json:"kind"`
}

// CommentEdit is the body of a comment edit.
type CommentEdit struct {
	Body string `json:"body"`
}

// ParseUser reads a person as typed on the command line: an email when it
// has an @, else a login. "Name <email>" gives both.
func ParseUser(s string) adapters.User {
	s = strings.TrimSpace(s)
	if name, rest, ok := strings.Cut(s, "<"); ok && strings.HasSuffix(rest, ">") {
		u := ParseUser(strings.TrimSuffix(rest, ">"))
		u.Name = strings.TrimSpace(name)
		return u
	}
	if strings.Contains(s, "@") {
		return adapters.User{Email: s}
	}
	return adapters.User{Login: s}
}

// toIssue sets the fields of in on a new issue.
func (in IssueFields) toIssue(is *adapters.Issue) error {
	var p adapters.Patch
	if err := in.toPatch(&p, adapters.Issue{}); err != nil {
		return err
	}
	is.Assignee, is.Reporter, is.Fields = p.Assignee, p.Reporter, p.Fields
	if is.Assignee != nil && is.Assignee.IsZero() {
		is.Assignee = nil
	}
	if is.Reporter != nil && is.Reporter.IsZero() {
		is.Reporter = nil
	}
	for _, d := range []struct {
		dst *string
		v   *string
	}{{&is.Type, p.Type}, {&is.Due, p.Due}, {&is.Start, p.Start}} {
		if d.v != nil {
			*d.dst = *d.v
		}
	}
	return nil
}

// toPatch sets the fields of in on p; cur is the issue as it is (for the
// kinds of its custom fields).
func (in IssueFields) toPatch(p *adapters.Patch, cur adapters.Issue) error {
	user := func(s *string) *adapters.User {
		if s == nil {
			return nil
		}
		u := ParseUser(*s)
		return &u
	}
	p.Assignee, p.Reporter = user(in.Assignee), user(in.Reporter)
	p.Type = in.Type
	for _, d := range []struct {
		name string
		v    *string
		dst  **string
	}{{"--due", in.Due, &p.Due}, {"--start", in.Start, &p.Start}} {
		if d.v == nil {
			continue
		}
		if err := replica.ParseDate(*d.v); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadRequest, d.name, err)
		}
		*d.dst = d.v
	}
	for _, f := range in.Fields {
		name, v, err := parseFieldArg(f, cur)
		if err != nil {
			return err
		}
		if p.Fields == nil {
			p.Fields = map[string]adapters.FieldValue{}
		}
		p.Fields[name] = v
	}
	return nil
}

// parseFieldArg reads one "NAME[:KIND]=VALUE".
func parseFieldArg(arg string, cur adapters.Issue) (string, adapters.FieldValue, error) {
	lhs, val, ok := strings.Cut(arg, "=")
	if !ok || strings.TrimSpace(lhs) == "" {
		return "", adapters.FieldValue{}, fmt.Errorf("%w: --field %q: want NAME=VALUE (or NAME:KIND=VALUE)", ErrBadRequest, arg)
	}
	name, kind, typed := strings.Cut(lhs, ":")
	if kind == "text" {
		kind = adapters.KindText
	}
	if !typed {
		kind = cur.Fields[name].Kind
	}
	v := adapters.FieldValue{Kind: kind}
	switch kind {
	case adapters.KindText, adapters.KindOption:
		v.Text = val
	case adapters.KindNumber, adapters.KindDate:
		v.Text = strings.TrimSpace(val)
	case adapters.KindOptions:
		for o := range strings.SplitSeq(val, ",") {
			if o = strings.TrimSpace(o); o != "" {
				v.Options = append(v.Options, o)
			}
		}
	case adapters.KindUser:
		if val != "" {
			u := ParseUser(val)
			v.User = &u
		}
	default:
		return "", adapters.FieldValue{}, fmt.Errorf("%w: --field %q: kind %q is not one of text, number, date, option, options, user", ErrBadRequest, arg, kind)
	}
	return name, v, nil
}

func (s *Server) registerFields() {
	s.mux.HandleFunc("POST /v1/issues/{key}/relations", s.relate)
	s.mux.HandleFunc("DELETE /v1/issues/{key}/relations/{other}", s.unrelate)
	s.mux.HandleFunc("PATCH /v1/issues/{key}/comments/{id}", s.commentEdit)
	s.mux.HandleFunc("DELETE /v1/issues/{key}/comments/{id}", s.commentDelete)
	s.mux.HandleFunc("DELETE /v1/issues/{key}/attachments/{name}", s.detach)
	s.mux.HandleFunc("GET /v1/conflicts", s.conflicts)
	s.mux.HandleFunc("POST /v1/conflicts/resolve", s.resolve)
}

// ConflictView is one conflict of concurrent edits: the twin, the field,
// the value kept everywhere (Winner) and the one that lost, with who made
// each edit and when. Open: the twin's state still holds it (no later edit
// settled the field).
type ConflictView struct {
	ID       string       `json:"id"`
	Key      string       `json:"key"`
	Twin     string       `json:"twin"`
	Field    string       `json:"field"`
	Time     time.Time    `json:"time"` // when this node recorded it
	Open     bool         `json:"open"`
	Link     string       `json:"link"` // the peer (or network link) whose event showed it
	LinkName string       `json:"link_name,omitempty"`
	Winner   ConflictSide `json:"winner"`
	Loser    ConflictSide `json:"loser"`
	// Policy is the connection's conflict policy for the field (newest,
	// ours, theirs, hold); Held: open under hold, so each side keeps its
	// value until issuemesh resolve.
	Policy string `json:"policy,omitempty"`
	Held   bool   `json:"held,omitempty"`
	// Settled is how the conflict was settled, once it is.
	Settled *ConflictSettled `json:"settled,omitempty"`
}

// ConflictSettled is the edit that settled a conflict: the value kept,
// where and when it was set, and how: "resolve" (issuemesh resolve here),
// "ours" or "theirs" (a conflict policy here), "edit" (an edit of the
// field, or a resolution made at the peer).
type ConflictSettled struct {
	ConflictSide
	How string `json:"how"`
}

// ResolveInput is the body of POST /v1/conflicts/resolve.
type ResolveInput struct {
	Key   string `json:"key"`
	Field string `json:"field"`
	// Keep is "ours", "theirs" or the value to keep.
	Keep string `json:"keep"`
}

// ResolveResult is what a resolve did.
type ResolveResult struct {
	Key      string       `json:"key"`
	Field    string       `json:"field"`
	Link     string       `json:"link"`
	LinkName string       `json:"link_name,omitempty"`
	Kept     ConflictSide `json:"kept"`
	Conflict string       `json:"conflict"` // its ID
}

// ConflictSide is one value of a conflict and the edit that set it.
type ConflictSide struct {
	Value    string    `json:"value"`
	Peer     string    `json:"peer"` // the node where the edit was made
	PeerName string    `json:"peer_name,omitempty"`
	Time     time.Time `json:"time"`
}

func (s *Server) conflicts(w http.ResponseWriter, r *http.Request) {
	cs, err := s.b.Conflicts(r.Context())
	answer(w, 200, nonNil(cs), err)
}

func (s *Server) resolve(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[ResolveInput](w, r)
	if !ok {
		return
	}
	if in.Key == "" || in.Field == "" || in.Keep == "" {
		writeErr(w, fmt.Errorf("%w: resolve needs a key, a field and what to keep (ours, theirs or a value)", ErrBadRequest))
		return
	}
	res, err := s.b.Resolve(r.Context(), in)
	answer(w, 200, res, err)
}

func (s *Server) relate(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[RelateInput](w, r)
	if !ok {
		return
	}
	k, err := replica.ParseRelationKind(in.Kind)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %w", ErrBadRequest, err))
		return
	}
	s.patchIssue(w, r, adapters.Patch{AddRelations: []adapters.Relation{{Kind: string(k), Key: in.Other}}})
}

func (s *Server) unrelate(w http.ResponseWriter, r *http.Request) {
	is, err := s.b.Tracker().Get(r.Context(), r.PathValue("key"))
	if err != nil {
		writeErr(w, err)
		return
	}
	other := r.PathValue("other")
	var p adapters.Patch
	for _, rel := range is.Relations {
		if strings.EqualFold(rel.Key, other) {
			p.RemoveRelations = append(p.RemoveRelations, rel)
		}
	}
	if len(p.RemoveRelations) == 0 {
		writeErr(w, fmt.Errorf("%w: %s is not related to %s", ErrBadRequest, is.Key, other))
		return
	}
	s.patchIssue(w, r, p)
}

func (s *Server) commentEdit(w http.ResponseWriter, r *http.Request) {
	in, ok := readBody[CommentEdit](w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(in.Body) == "" {
		writeErr(w, fmt.Errorf("%w: the comment body is empty (to remove the comment, use --delete)", ErrBadRequest))
		return
	}
	is, err := s.b.Tracker().Get(r.Context(), r.PathValue("key"))
	if err != nil {
		writeErr(w, err)
		return
	}
	id := r.PathValue("id")
	i := slices.IndexFunc(is.Comments, func(c adapters.Comment) bool { return c.ID == id })
	if i < 0 {
		writeErr(w, fmt.Errorf("%w: %s has no comment %s (issue show lists the comment IDs)", ErrBadRequest, is.Key, id))
		return
	}
	c := is.Comments[i]
	c.Body = in.Body
	s.patchIssue(w, r, adapters.Patch{EditComments: []adapters.Comment{c}})
}

func (s *Server) commentDelete(w http.ResponseWriter, r *http.Request) {
	is, err := s.b.Tracker().Get(r.Context(), r.PathValue("key"))
	if err != nil {
		writeErr(w, err)
		return
	}
	id := r.PathValue("id")
	if !slices.ContainsFunc(is.Comments, func(c adapters.Comment) bool { return c.ID == id }) {
		writeErr(w, fmt.Errorf("%w: %s has no comment %s (issue show lists the comment IDs)", ErrBadRequest, is.Key, id))
		return
	}
	s.patchIssue(w, r, adapters.Patch{DeleteComments: []string{id}})
}

func (s *Server) detach(w http.ResponseWriter, r *http.Request) {
	is, err := s.b.Tracker().Get(r.Context(), r.PathValue("key"))
	if err != nil {
		writeErr(w, err)
		return
	}
	name := r.PathValue("name")
	var p adapters.Patch
	for _, a := range is.Attachments {
		if a.Filename == name || a.ID == name {
			p.DeleteAttachments = append(p.DeleteAttachments, a.ID)
		}
	}
	if len(p.DeleteAttachments) == 0 {
		writeErr(w, fmt.Errorf("%w: %s has no file %q", ErrBadRequest, is.Key, name))
		return
	}
	s.patchIssue(w, r, p)
}

// related lists is's relations with the twins of the related issues.
func (s *Server) related(r *http.Request, is adapters.Issue) []RelatedView {
	var out []RelatedView
	for _, rel := range is.Relations {
		rv := RelatedView{Kind: rel.Kind, Key: rel.Key, Summary: rel.Summary}
		if twin, refs, err := s.b.Twins(r.Context(), rel.Key); err == nil {
			rv.Twin, rv.Twins = twin, refs
		}
		out = append(out, rv)
	}
	return out
}

// Resolve settles an open conflict: in.Keep is "ours", "theirs" or the
// value to keep (POST /v1/conflicts/resolve).
func (c *Client) Resolve(ctx context.Context, in ResolveInput) (ResolveResult, error) {
	var out ResolveResult
	err := c.Do(ctx, "POST", "/v1/conflicts/resolve", in, &out)
	return out, err
}
