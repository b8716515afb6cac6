package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters"
)

// The fields of issue 16 on Gitea (and Forgejo), as the GitHub adapter
// maps them. Assignee is the first assignee by login (the rules map people
// through the connection's user_map; a person without a login here is
// left unassigned, never an error that blocks the twin), and
// Extra["assignees"] keeps all of them. Reporter is the issue's poster,
// read only (an issue made by sync is posted by the token's user). Due is
// Gitea's due date (its deadline), as YYYY-MM-DD. Relations are Gitea's
// issue dependencies within the repository: "blocks" (GET .../blocks, the
// issues this one blocks) and "blocked-by" (GET .../dependencies), written
// through the same endpoints; Gitea has no relates, duplicates or
// sub-issues, so those are not kept (logged once). Comment deletions
// delete the comments. The rest Gitea lacks: Lacks says what and why.

var _ adapters.Lacking = (*Tracker)(nil)

// Lacks lists what Gitea's issues have no place for (or what this adapter
// does not map).
func (t *Tracker) Lacks() map[adapters.Feature]string {
	return map[adapters.Feature]string{
		adapters.FeatReporter:     "the poster of an issue created by sync is the token's user: the partner's reporter is not set, it shows in the first line the rules write",
		adapters.FeatWatchers:     "Gitea's issue subscriptions are not mapped by this adapter",
		adapters.FeatType:         "Gitea issues have no type; use labels (type_map to a label in the rules)",
		adapters.FeatStart:        "Gitea issues have no start date",
		adapters.FeatCustomFields: "Gitea issues have no custom fields",
		adapters.FeatParent:       "Gitea has no sub-issues (only dependencies: blocks and blocked-by)",
		adapters.FeatFileDelete:   "this adapter does not delete Gitea's attachments (a file removed at the partner stays here)",
	}
}

// fillFields sets Assignee, Reporter and Due from Gitea's issue (no extra
// request: the listing carries them).
func fillFields(is *adapters.Issue, w *sdk.Issue) {
	var logins []string
	for _, a := range w.Assignees {
		if a != nil && a.UserName != "" {
			logins = append(logins, a.UserName)
		}
	}
	if len(logins) > 0 {
		slices.Sort(logins)
		is.Assignee = &adapters.User{Login: logins[0]}
	}
	if p := w.Poster; p != nil && p.UserName != "" {
		is.Reporter = &adapters.User{Login: p.UserName, Name: p.FullName}
	}
	if w.Deadline != nil && !w.Deadline.IsZero() {
		is.Due = w.Deadline.UTC().Format(time.DateOnly)
	}
}

// assigneeLogins is the assignee list that Assignee u asks for; ok is
// false when u names nobody Gitea knows (no login): left as it is.
func (t *Tracker) assigneeLogins(u *adapters.User) ([]string, bool) {
	if u.IsZero() {
		return []string{}, true
	}
	if u.Login == "" {
		t.log.Warn("assignee has no Gitea login (add them to the connection's user_map): left unassigned", "assignee", u.Label())
		return nil, false
	}
	return []string{u.Login}, true
}

// createFields adds the assignee and the due date to a new issue's request.
func (t *Tracker) createFields(in adapters.Issue, req *sdk.CreateIssueOption) error {
	if in.Assignee != nil && len(req.Assignees) == 0 {
		if ls, ok := t.assigneeLogins(in.Assignee); ok && len(ls) > 0 {
			req.Assignees = ls
		}
	}
	if in.Due != "" {
		d, err := dueDate(in.Due)
		if err != nil {
			return err
		}
		req.Deadline = d
	}
	return nil
}

// updateFields applies Assignee and Due to the PATCH request; it reports
// whether the request changed.
func (t *Tracker) updateFields(w *sdk.Issue, cur adapters.Issue, p adapters.Patch, req *sdk.EditIssueOption) (bool, error) {
	changed := false
	if p.Assignee != nil && req.Assignees == nil {
		if ls, ok := t.assigneeLogins(p.Assignee); ok {
			var now []string
			for _, a := range w.Assignees {
				now = append(now, a.UserName)
			}
			if !(len(ls) == 1 && slices.Contains(now, ls[0])) && !(len(ls) == 0 && len(now) == 0) {
				req.Assignees, changed = ls, true
			}
		}
	}
	if p.Due != nil && *p.Due != cur.Due {
		if *p.Due == "" {
			req.RemoveDeadline, req.Deadline = new(true), nil
			return true, nil
		}
		d, err := dueDate(*p.Due)
		if err != nil {
			return false, err
		}
		req.Deadline, changed = d, true
	}
	return changed, nil
}

// Dependency endpoints: "blocks" lists and writes the issues this one
// blocks, "dependencies" those that block it.
var depEndpoint = map[string]string{adapters.RelBlocks: "blocks", adapters.RelBlockedBy: "dependencies"}

// relations reads the issue's dependencies both ways.
func (t *Tracker) relations(ctx context.Context, n int64) ([]adapters.Relation, error) {
	var out []adapters.Relation
	for _, kind := range []string{adapters.RelBlocks, adapters.RelBlockedBy} {
		for page := 1; ; page++ {
			lo := sdk.ListOptions{Page: page, PageSize: pageSize}
			var (
				ws   []*sdk.Issue
				resp *sdk.Response
				err  error
			)
			if kind == adapters.RelBlocks {
				ws, resp, err = t.api(ctx).ListIssueBlocks(t.owner, t.repo, n, sdk.ListIssueBlocksOptions{ListOptions: lo})
			} else {
				ws, resp, err = t.api(ctx).ListIssueDependencies(t.owner, t.repo, n, sdk.ListIssueDependenciesOptions{ListOptions: lo})
			}
			if err != nil {
				return nil, classify(ctx, fmt.Sprintf("list the %s of %s", depEndpoint[kind], t.key(n)), resp, err)
			}
			for _, w := range ws {
				if w.Repository != nil && w.Repository.FullName != "" && !strings.EqualFold(w.Repository.FullName, t.Repo()) {
					continue // another repository's issue: not a key of this tracker
				}
				out = append(out, adapters.Relation{Kind: kind, Key: t.key(w.Index), Summary: w.Title})
			}
			if len(ws) < pageSize || resp.NextPage == 0 {
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b adapters.Relation) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

func hasRelation(rels []adapters.Relation, r adapters.Relation) bool {
	return slices.ContainsFunc(rels, func(o adapters.Relation) bool { return o.Kind == r.Kind && o.Key == r.Key })
}

// applyRelations adds and removes dependencies; cur are the issue's
// relations before. It reports whether anything changed.
func (t *Tracker) applyRelations(ctx context.Context, n int64, cur []adapters.Relation, p adapters.Patch) (bool, error) {
	changed := false
	for _, set := range []struct {
		rels   []adapters.Relation
		method string
	}{{p.RemoveRelations, http.MethodDelete}, {p.AddRelations, http.MethodPost}} {
		for _, rel := range set.rels {
			ep, ok := depEndpoint[rel.Kind]
			if !ok {
				t.warnOnce("relation "+rel.Kind, "Gitea has no "+rel.Kind+" relation (it has dependencies: blocks and blocked-by): not kept")
				continue
			}
			other, err := t.number(rel.Key)
			if err != nil {
				return changed, rejected("relation %s: %v", rel.Kind, err)
			}
			rel.Key = t.key(other)
			if hasRelation(cur, rel) == (set.method == http.MethodPost) {
				continue // added already, or not there to remove
			}
			if other == n {
				return changed, rejected("relation %s: %s cannot depend on itself", rel.Kind, t.key(n))
			}
			if err := t.dependency(ctx, set.method, n, ep, other); err != nil {
				return changed, err
			}
			changed = true
		}
	}
	return changed, nil
}

// dependency POSTs or DELETEs one dependency of issue n. The SDK's
// IssueMeta has no owner and repository, which Gitea reads as another
// repository's issue, so this request is made here.
func (t *Tracker) dependency(ctx context.Context, method string, n int64, endpoint string, other int64) error {
	op := fmt.Sprintf("%s %s %s of %s", map[string]string{http.MethodPost: "add", http.MethodDelete: "remove"}[method], t.key(other), endpoint, t.key(n))
	body, _ := json.Marshal(map[string]any{"owner": t.owner, "repo": t.repo, "index": other})
	u := fmt.Sprintf("%s/api/v1/repos/%s/%s/issues/%d/%s", t.base, url.PathEscape(t.owner), url.PathEscape(t.repo), n, endpoint)
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return rejected("%s: %v", op, err)
	}
	req.Header.Set("Authorization", "token "+t.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := t.hc.Do(req)
	if err != nil {
		return errs.Classify(ctx, op, nil, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return errs.Classify(ctx, op, resp, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg))))
	}
	return nil
}

// deleteComments deletes the comments a patch names (one already gone is
// no error).
func (t *Tracker) deleteComments(ctx context.Context, n int64, cs []*sdk.Comment, ids []string) ([]*sdk.Comment, error) {
	for _, id := range ids {
		cid, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			continue // not a comment of Gitea's: nothing to delete
		}
		resp, err := t.api(ctx).DeleteIssueComment(t.owner, t.repo, cid)
		if err := classify(ctx, fmt.Sprintf("delete comment %d of %s", cid, t.key(n)), resp, err); err != nil && !isNotFound(err) {
			return cs, err
		}
		cs = slices.DeleteFunc(cs, func(c *sdk.Comment) bool { return c.ID == cid })
	}
	return cs, nil
}

// warnOnce logs msg the first time what is seen.
func (t *Tracker) warnOnce(what, msg string) {
	t.mu.Lock()
	seen := t.warned[what]
	if t.warned == nil {
		t.warned = map[string]bool{}
	}
	t.warned[what] = true
	t.mu.Unlock()
	if !seen {
		t.log.Warn(msg)
	}
}

func isNotFound(err error) bool { return errors.Is(err, adapters.ErrNotFound) }
