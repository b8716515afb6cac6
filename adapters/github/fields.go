package github

import (
	"context"
	"slices"
	"strings"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/forge"
)

// The fields of issue 16 on GitHub. Assignee is the first assignee, as a
// login (the rules map people through the connection's user_map; a person
// without a login here is left unassigned, never an error that blocks the
// twin); Extra["assignees"] keeps all of them. Reporter is the issue's
// author, read only (an issue made by sync is authored by the token's user
// or the app). Relations are GitHub's sub-issues: "parent" (the issue's
// parent) and "child" (each sub-issue), read from parent_issue_url and the
// sub-issue list and written through the sub-issue endpoints. Comment
// deletions (Patch.DeleteComments) delete the comments. The rest GitHub's
// REST API lacks: Lacks says what and why.

var _ adapters.Lacking = (*Tracker)(nil)

// Lacks lists what GitHub's REST API has no place for.
func (t *Tracker) Lacks() map[adapters.Feature]string {
	return map[adapters.Feature]string{
		adapters.FeatReporter:     "the author of an issue created by sync is the token's user (or the app): the partner's reporter is not set, it shows in the first line the rules write",
		adapters.FeatWatchers:     "GitHub's API cannot subscribe other people to an issue",
		adapters.FeatType:         "issue types exist only for organisations and are not in the REST issue API this adapter uses; use labels (type_map to a label in the rules)",
		adapters.FeatDue:          "GitHub issues have no due date (a milestone has one: extra.milestone)",
		adapters.FeatStart:        "GitHub issues have no start date",
		adapters.FeatCustomFields: "GitHub issues have no custom fields in the REST API (Projects fields are not synced)",
		adapters.FeatRelations:    "GitHub has no blocks/relates/duplicates links in the REST issue API: such relations land as references in the text (#N), read back as extra.references; parent and sub-issues do sync",
		adapters.FeatFileDelete:   "GitHub's API has no files to delete (attachments are links in the text)",
	}
}

// fillFields sets Assignee, Reporter and the parent relation from GitHub's
// issue (no extra request: the listing carries them).
func fillFields(is *adapters.Issue, w *gh.Issue) {
	if len(w.Assignees) > 0 {
		logins := make([]string, 0, len(w.Assignees))
		for _, a := range w.Assignees {
			logins = append(logins, a.GetLogin())
		}
		slices.Sort(logins)
		is.Assignee = &adapters.User{Login: logins[0]}
	} else if a := w.GetAssignee(); a != nil {
		is.Assignee = &adapters.User{Login: a.GetLogin()}
	}
	if u := w.GetUser(); u.GetLogin() != "" {
		is.Reporter = &adapters.User{Login: u.GetLogin(), Name: u.GetName()}
	}
	if p := keyOfURL(w.GetParentIssueURL()); p != "" {
		is.Relations = append(is.Relations, adapters.Relation{Kind: adapters.RelParent, Key: p})
	}
}

// childRelations adds the sub-issues (Extra["sub_issues"]) as relations.
func childRelations(is *adapters.Issue) {
	for _, k := range splitList(is.Extra["sub_issues"]) {
		is.Relations = append(is.Relations, adapters.Relation{Kind: adapters.RelChild, Key: k})
	}
}

// assigneeLogins is the assignee list that Assignee u asks for; ok is
// false when u names nobody GitHub knows (no login): left as it is.
func (t *Tracker) assigneeLogins(u *adapters.User) ([]string, bool) {
	if u.IsZero() {
		return []string{}, true
	}
	if u.Login == "" {
		t.log.Warn("assignee has no GitHub login (add them to the connection's user_map): left unassigned", "assignee", u.Label())
		return nil, false
	}
	return []string{u.Login}, true
}

// createFields adds the assignee to a new issue's request and returns the
// parent a new issue is to get from its relations (nil: none).
func (t *Tracker) createFields(in adapters.Issue, req *gh.CreateIssueRequest) (*parentRef, error) {
	if in.Assignee != nil && len(req.Assignees) == 0 {
		if ls, ok := t.assigneeLogins(in.Assignee); ok && len(ls) > 0 {
			req.Assignees = ls
		}
	}
	for _, rel := range in.Relations {
		if rel.Kind == adapters.RelParent {
			pr, pn, err := t.number(rel.Key)
			if err != nil {
				return nil, rejected("relation parent: %v", err)
			}
			return &parentRef{pr, pn}, nil
		}
	}
	return nil, nil
}

// createChildren makes the new issue w the parent of its child relations.
func (t *Tracker) createChildren(ctx context.Context, r repoRef, w *gh.Issue, in adapters.Issue) error {
	for _, rel := range in.Relations {
		if rel.Kind == adapters.RelChild {
			if err := t.adopt(ctx, r, w.GetNumber(), rel.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// adopt makes child (a key) a sub-issue of r#n.
func (t *Tracker) adopt(ctx context.Context, r repoRef, n int, child string) error {
	cr, cn, err := t.number(child)
	if err != nil {
		return rejected("relation child: %v", err)
	}
	cw, err := t.getWire(ctx, cr, cn)
	if err != nil {
		return err
	}
	return t.setParent(ctx, cr, cw, parentRef{r, n})
}

// updateFields applies the assignee to the PATCH request and the relation
// changes (sub-issue calls); it reports whether the request changed and
// whether the issue must be read again.
func (t *Tracker) updateFields(ctx context.Context, r repoRef, w *gh.Issue, cur adapters.Issue, p adapters.Patch, req *gh.UpdateIssueRequest) (changed, reread bool, err error) {
	if p.Assignee != nil {
		if ls, ok := t.assigneeLogins(p.Assignee); ok {
			var now []string
			for _, a := range w.Assignees {
				now = append(now, a.GetLogin())
			}
			if !(len(ls) == 1 && slices.Contains(now, ls[0])) && !(len(ls) == 0 && len(now) == 0) {
				req.Assignees, changed = ls, true
			}
		}
	}
	n := w.GetNumber()
	for _, rel := range p.RemoveRelations {
		switch rel.Kind {
		case adapters.RelParent:
			if strings.EqualFold(cur.Extra["parent"], rel.Key) || keyOfURL(w.GetParentIssueURL()) != "" && sameKey(t, keyOfURL(w.GetParentIssueURL()), rel.Key) {
				if err := t.updateParent(ctx, r, w, keyOfURL(w.GetParentIssueURL()), ""); err != nil {
					return false, false, err
				}
				reread = true
			}
		case adapters.RelChild:
			cr, cn, err := t.number(rel.Key)
			if err != nil {
				continue // not ours: nothing to remove
			}
			cw, err := t.getWire(ctx, cr, cn)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return false, false, err
			}
			if sameKey(t, keyOfURL(cw.GetParentIssueURL()), r.key(n)) {
				if err := t.updateParent(ctx, cr, cw, r.key(n), ""); err != nil {
					return false, false, err
				}
			}
		}
	}
	for _, rel := range p.AddRelations {
		switch rel.Kind {
		case adapters.RelParent:
			if err := t.updateParent(ctx, r, w, keyOfURL(w.GetParentIssueURL()), rel.Key); err != nil {
				return false, false, err
			}
			reread = true
		case adapters.RelChild:
			if err := t.adopt(ctx, r, n, rel.Key); err != nil {
				return false, false, err
			}
		}
	}
	return changed, reread, nil
}

// sameKey reports whether two keys name the same issue.
func sameKey(t *Tracker, a, b string) bool {
	ar, an, err1 := t.number(a)
	br, bn, err2 := t.number(b)
	return err1 == nil && err2 == nil && an == bn && strings.EqualFold(ar.String(), br.String())
}

// deleteComments deletes the comments a patch names.
func (t *Tracker) deleteComments(ctx context.Context, key string, ids []string) error {
	for _, id := range ids {
		if err := t.DeleteComment(ctx, key, id); err != nil {
			return err
		}
	}
	return nil
}

// lackingDetail is what check says of the fields GitHub has no place for.
func (t *Tracker) lackingDetail() string {
	return forge.LackingDetail("GitHub's REST issue API", t.Lacks())
}
