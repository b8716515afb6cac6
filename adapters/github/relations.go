package github

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
)

// Sub-issues: GitHub keeps a parent per issue (parent_issue_url in every
// issue it answers, so the feed's data carries it) and lists a parent's
// sub-issues on their own endpoint, read only when the issue's
// sub_issues_summary says it has some. The parent is written on the
// parent's side: POST .../issues/PARENT/sub_issues with the child's ID
// (not its number), DELETE .../issues/PARENT/sub_issue to remove it.

type parentRef struct {
	r repoRef
	n int
}

// addSubIssues sets Extra["sub_issues"] from GitHub's list.
func (t *Tracker) addSubIssues(ctx context.Context, r repoRef, w *gh.Issue, is *adapters.Issue) error {
	if w.GetSubIssuesSummary().GetTotal() == 0 {
		return nil
	}
	var keys []string
	opts := &gh.ListOptions{PerPage: 100}
	for {
		subs, resp, err := t.c.SubIssue.ListByIssue(ctx, r.owner, r.name, int64(w.GetNumber()), opts)
		if err != nil {
			return classify("list the sub-issues of "+r.key(w.GetNumber()), resp, err)
		}
		for _, s := range subs {
			if k := keyOfURL((*gh.Issue)(s).GetURL()); k != "" {
				keys = append(keys, k)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		if is.Extra == nil {
			is.Extra = map[string]string{}
		}
		is.Extra["sub_issues"] = strings.Join(keys, ",")
		childRelations(is)
	}
	return nil
}

// setParent makes child (in r) a sub-issue of p, replacing a parent it has.
func (t *Tracker) setParent(ctx context.Context, r repoRef, child *gh.Issue, p parentRef) error {
	if strings.EqualFold(p.r.String(), r.String()) && p.n == child.GetNumber() {
		return rejected("field parent: %s cannot be its own parent", r.key(p.n))
	}
	_, resp, err := t.c.SubIssue.Add(ctx, p.r.owner, p.r.name, int64(p.n), gh.SubIssueRequest{SubIssueID: child.GetID(), ReplaceParent: new(true)})
	if err != nil {
		return classify(fmt.Sprintf("make %s a sub-issue of %s", r.key(child.GetNumber()), p.r.key(p.n)), resp, err)
	}
	return nil
}

// updateParent moves child from parent cur to want ("" for none).
func (t *Tracker) updateParent(ctx context.Context, r repoRef, child *gh.Issue, cur, want string) error {
	if want != "" {
		pr, pn, err := t.number(want)
		if err != nil {
			return rejected("field parent: %v", err)
		}
		want = pr.key(pn)
		if strings.EqualFold(want, cur) {
			return nil
		}
		return t.setParent(ctx, r, child, parentRef{pr, pn})
	}
	if cur == "" {
		return nil
	}
	pr, pn, ok := repoOfURL(child.GetParentIssueURL())
	if !ok {
		return nil
	}
	_, resp, err := t.c.SubIssue.Remove(ctx, pr.owner, pr.name, int64(pn), gh.SubIssueRequest{SubIssueID: child.GetID()})
	if err != nil {
		return classify(fmt.Sprintf("remove %s from the sub-issues of %s", r.key(child.GetNumber()), cur), resp, err)
	}
	return nil
}

// DeleteComment deletes comment id (its native ID, or "sync:" and its
// sync ID) of the issue. A comment already gone is not an error. The
// engine calls it when the rules sync deletions as deletions.
func (t *Tracker) DeleteComment(ctx context.Context, key, id string) error {
	r, n, err := t.number(key)
	if err != nil {
		return err
	}
	cs, err := t.comments(ctx, r, n)
	if err != nil {
		return err
	}
	sync, bySync := strings.CutPrefix(id, "sync:")
	for _, c := range cs {
		cc := commentOf(c)
		if (bySync && cc.SyncID == sync) || (!bySync && cc.ID == id) {
			resp, err := t.c.Issues.DeleteComment(ctx, r.owner, r.name, c.GetID())
			if err != nil {
				if err := classify(fmt.Sprintf("delete comment %s of %s", cc.ID, r.key(n)), resp, err); !isNotFound(err) {
					return err
				}
			}
			return nil
		}
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, adapters.ErrNotFound) }
