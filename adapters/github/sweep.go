package github

import (
	"context"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
)

// Deleted comments. GitHub's feeds cannot show them: deleting a comment
// changes neither the issue's updated_at nor anything that
// issues/comments?since= lists, and GitHub's issue timeline is read one
// issue at a time (a request per issue per poll). What does change is the issue's
// comment count ("comments" in every issue GitHub answers). So the adapter
// remembers the count of each issue it has read, and every
// Options.CommentSweep (default DefaultCommentSweep) the feed lists all
// of a repository's issues, oldest created first so that the pages stay
// the same while nothing changes, and asks each page with If-None-Match:
// an unchanged page answers 304, which GitHub does not count against the
// rate limit. An issue whose count differs from the one remembered is in
// the feed; the engine then reads it and sees the comment gone. The
// sweep costs ceil(issues/100) requests per repository (6 an hour per 100
// issues at the default), free while nothing changes.
//
// With a webhook, a comment's "deleted" delivery names its issue, which
// the next feed reads at once (package forge, Listener.Touched).
//
// What the sweep cannot see: a deletion and an addition on one issue
// between two reads leave the count the same, but the addition is in the
// comments feed, which makes the engine read the issue (and see the
// deletion too). The counts live in memory: after a restart the first
// sweep learns them, so a deletion made while the node was down is seen
// at that issue's next change.

// DefaultCommentSweep is how often the feed compares comment counts.
const DefaultCommentSweep = 10 * time.Minute

// commentSweep is the adapter's memory of comment counts.
type commentSweep struct {
	every time.Duration // <= 0: never

	mu     sync.Mutex
	counts map[string]int       // lowercased issue key -> comments when last read
	last   map[string]time.Time // lowercased repository -> its last sweep
}

func newCommentSweep(every time.Duration) *commentSweep {
	return &commentSweep{every: every, counts: map[string]int{}, last: map[string]time.Time{}}
}

// note remembers the comment count of an issue read from GitHub.
func (s *commentSweep) note(key string, comments int) {
	s.mu.Lock()
	s.counts[strings.ToLower(key)] = comments
	s.mu.Unlock()
}

// changed notes the count and reports whether it differs from the one
// remembered (an issue not seen before has not changed).
func (s *commentSweep) changed(key string, comments int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(key)
	old, ok := s.counts[k]
	s.counts[k] = comments
	return ok && old != comments
}

// due reports whether repo is to be swept now, and marks it swept.
func (s *commentSweep) due(repo string, now time.Time) bool {
	if s.every <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(repo)
	if now.Sub(s.last[k]) < s.every {
		return false
	}
	s.last[k] = now
	return true
}

// sweepComments lists r's issues and returns those (not in got) whose
// comment count changed since the adapter last read them.
func (t *Tracker) sweepComments(ctx context.Context, r repoRef, got map[int]bool) ([]adapters.Issue, error) {
	if !t.sweep.due(r.String(), time.Now()) {
		return nil, nil
	}
	var out []adapters.Issue
	opts := &gh.IssueListByRepoOptions{State: "all", Sort: "created", Direction: "asc", ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		ws, resp, err := t.c.Issues.ListByRepo(ctx, r.owner, r.name, opts)
		if err != nil {
			t.sweep.mu.Lock()
			delete(t.sweep.last, strings.ToLower(r.String())) // again at the next feed
			t.sweep.mu.Unlock()
			return nil, classify("list the issues of "+r.String()+" to compare their comment counts", resp, err)
		}
		for _, w := range ws {
			if (w.IsPullRequest() && !t.pulls) || w.Number == nil {
				continue
			}
			if t.sweep.changed(r.key(w.GetNumber()), w.GetComments()) && !got[w.GetNumber()] {
				got[w.GetNumber()] = true
				out = append(out, t.issue(r, w, nil))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.ListOptions.Page = resp.NextPage
	}
}
