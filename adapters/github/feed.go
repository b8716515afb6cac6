package github

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
	"github.com/issuemesh/issuemesh/adapters/internal/forge"
	"github.com/issuemesh/issuemesh/adapters/internal/textmark"
)

// FindByTwin scans the repositories' issues, newest first, for the marker.
func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	if textmark.Valid(twin) != nil {
		return adapters.Issue{}, notFound("no issue carries twin %q", twin)
	}
	for _, r := range t.repos {
		opts := &gh.IssueListByRepoOptions{State: "all", Sort: "created", Direction: "desc", ListOptions: gh.ListOptions{PerPage: 100}}
		for {
			ws, resp, err := t.c.Issues.ListByRepo(ctx, r.owner, r.name, opts)
			if err != nil {
				return adapters.Issue{}, classify("list issues to find twin "+twin, resp, err)
			}
			for _, w := range ws {
				if (w.IsPullRequest() && !t.pulls) || !strings.Contains(w.GetBody(), twin) {
					continue
				}
				if _, marks := textmark.Split(w.GetBody()); marks[textmark.Twin] == twin {
					return t.Get(ctx, r.key(w.GetNumber()))
				}
			}
			if resp.NextPage == 0 {
				break
			}
			opts.ListOptions.Page = resp.NextPage
		}
	}
	return adapters.Issue{}, notFound("no issue of %s carries twin %q", strings.Join(t.Repos(), ", "), twin)
}

func dateOf(resp *gh.Response) time.Time {
	if resp == nil {
		return time.Time{}
	}
	return forge.DateOf(resp.Response)
}

// cursors reads the feed's cursor: one repository's "ISSUES|COMMENTS"
// as it always was, or, for several, a JSON object of them by
// repository (a repository added later starts from the beginning).
func (t *Tracker) cursors(c adapters.Cursor) map[string]string {
	out := map[string]string{}
	if strings.HasPrefix(string(c), "{") {
		if json.Unmarshal([]byte(c), &out) == nil {
			return out
		}
		return map[string]string{}
	}
	out[strings.ToLower(t.Repo())] = string(c)
	return out
}

// Changes: see the package documentation. With several repositories,
// each gets an equal part of limit and its own cursor.
func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	if limit <= 0 {
		limit = 1000
	}
	if len(t.repos) == 1 {
		return t.repoChanges(ctx, t.repos[0], since, limit)
	}
	curs := t.cursors(since)
	each := max(1, limit/len(t.repos))
	var out []adapters.Issue
	for _, r := range t.repos {
		k := strings.ToLower(r.String())
		is, next, err := t.repoChanges(ctx, r, adapters.Cursor(curs[k]), each)
		if err != nil {
			return nil, since, err
		}
		out = append(out, is...)
		if next != "" {
			curs[k] = string(next)
		}
	}
	b, _ := json.Marshal(curs)
	return out, adapters.Cursor(b), nil
}

// repoChanges is one repository's feed: its issues, then its comments.
func (t *Tracker) repoChanges(ctx context.Context, r repoRef, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	ic, cc, _ := strings.Cut(string(since), "|")
	fo := feed.Options{Settle: t.settle, PageSize: 100}
	issuePage := func(ctx context.Context, from time.Time, offset, size int) ([]*gh.Issue, time.Time, error) {
		opts := &gh.IssueListByRepoOptions{State: "all", Sort: "updated", Direction: "asc", ListOptions: gh.ListOptions{PerPage: size, Page: offset/size + 1}}
		if !from.IsZero() {
			opts.Since = from
		}
		ws, resp, err := t.c.Issues.ListByRepo(ctx, r.owner, r.name, opts)
		if err != nil {
			return nil, time.Time{}, classify("list changed issues of "+r.String(), resp, err)
		}
		return ws, dateOf(resp), nil
	}
	ws, nextI, err := feed.Changes(ctx, adapters.Cursor(ic), limit, fo, issuePage,
		func(w *gh.Issue) string { return strconv.Itoa(w.GetNumber()) },
		func(w *gh.Issue) time.Time { return w.GetUpdatedAt().Time })
	if err != nil {
		return nil, since, err
	}
	var out []adapters.Issue
	got := map[int]bool{}
	for _, w := range ws {
		if w.IsPullRequest() && !t.pulls {
			continue
		}
		got[w.GetNumber()] = true
		t.sweep.note(r.key(w.GetNumber()), w.GetComments())
		out = append(out, t.issue(r, w, nil))
	}
	nextC := adapters.Cursor(cc)
	if len(ws) < limit {
		commentPage := func(ctx context.Context, from time.Time, offset, size int) ([]*gh.IssueComment, time.Time, error) {
			opts := &gh.IssueListCommentsOptions{Sort: new("updated"), Direction: new("asc"), ListOptions: gh.ListOptions{PerPage: size, Page: offset/size + 1}}
			if !from.IsZero() {
				opts.Since = &from
			}
			cs, resp, err := t.c.Issues.ListComments(ctx, r.owner, r.name, 0, opts)
			if err != nil {
				return nil, time.Time{}, classify("list changed comments of "+r.String(), resp, err)
			}
			return cs, dateOf(resp), nil
		}
		cs, nc, err := feed.Changes(ctx, adapters.Cursor(cc), limit-len(ws), fo, commentPage,
			func(c *gh.IssueComment) string { return strconv.FormatInt(c.GetID(), 10) },
			func(c *gh.IssueComment) time.Time { return c.GetUpdatedAt().Time })
		if err != nil {
			return nil, since, err
		}
		for _, c := range cs {
			u := c.GetIssueURL()
			n, err := strconv.Atoi(u[strings.LastIndexByte(u, '/')+1:])
			if err != nil || got[n] {
				continue
			}
			got[n] = true
			w, err := t.getWire(ctx, r, n)
			if errors.Is(err, adapters.ErrNotFound) {
				continue // a pull request's comment, or a deleted issue
			}
			if err != nil {
				return nil, since, err
			}
			out = append(out, t.issue(r, w, nil))
		}
		nextC = nc
		more, err := t.touched(ctx, r, got)
		if err != nil {
			return nil, since, err
		}
		out = append(out, more...)
		if more, err = t.sweepComments(ctx, r, got); err != nil { // sweep.go
			return nil, since, err
		}
		out = append(out, more...)
	}
	next := adapters.Cursor(string(nextI) + "|" + string(nextC))
	if next == "|" {
		next = ""
	}
	return out, next, nil
}

// touched reads the issues of r that webhook deliveries named since the
// last feed and that the feed did not return (got): a deleted comment
// changes nothing the feed lists. A deleted issue or a pull request is
// left out.
func (t *Tracker) touched(ctx context.Context, r repoRef, got map[int]bool) ([]adapters.Issue, error) {
	ns := t.hook.Touched(r.String())
	var out []adapters.Issue
	for _, n := range ns {
		if got[int(n)] {
			continue
		}
		got[int(n)] = true
		w, err := t.getWire(ctx, r, int(n))
		if errors.Is(err, adapters.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if w.IsPullRequest() && !t.pulls {
			continue
		}
		out = append(out, t.issue(r, w, nil))
	}
	t.hook.Read(r.String(), ns)
	return out, nil
}
