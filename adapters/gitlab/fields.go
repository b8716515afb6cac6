package gitlab

// The fields of issue 16 on GitLab (the replica's typed model).
//
//   - Assignee is the first of the issue's assignees (by username) as a
//     login with the display name; Extra["assignees"] keeps all of them.
//     Writing an assignee the issue already has keeps the others; another
//     replaces them. A person GitLab does not know (no such username) is
//     left as it is, with a warning: never an error that blocks the twin
//     (the rules map people through the connection's user_map).
//   - Reporter is the issue's author, read only.
//   - Type is GitLab's issue_type: issue, incident, test_case or task
//     (another is left as it is, with a warning: map it in type_map).
//   - Due is the due date (YYYY-MM-DD; "" removes it).
//   - Fields holds GitLab's two fixed fields: "milestone" (text: the
//     milestone's title, which must exist in the project) and "weight"
//     (number; Premium tier). A milestone the project lacks, and another
//     field name, are left out with a warning.
//   - Relations are issue links (https://docs.gitlab.com/api/issue_links/):
//     relates_to is "relates", blocks "blocks", is_blocked_by "blocked-by"
//     (blocks and is_blocked_by need Premium). GitLab has no duplicates
//     link: such a relation is left out with a warning.
//   - An issue's epic (Premium) is read into Extra["epic"] ("&IID title"),
//     not written: an epic is a group's object, not an issue of the project.
//   - Comment deletes delete the notes.
//
// What GitLab lacks, Lacks says.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/issuemesh/issuemesh/adapters"
)

var _ adapters.Lacking = (*Tracker)(nil)

// The fixed fields GitLab has.
const (
	FieldMilestone = "milestone"
	FieldWeight    = "weight"
	fieldEpic      = "epic"
)

// IssueTypes are the values of Type.
var IssueTypes = []string{"issue", "incident", "test_case", "task"}

// Lacks lists what GitLab's REST API has no place for.
func (t *Tracker) Lacks() map[adapters.Feature]string {
	return map[adapters.Feature]string{
		adapters.FeatReporter:   "the author of an issue created by sync is the token's user: the partner's reporter is read (author), not written",
		adapters.FeatWatchers:   "GitLab's API subscribes only the token's own user to an issue",
		adapters.FeatStart:      "GitLab issues have no start date (a milestone has one)",
		adapters.FeatParent:     "an issue's epic is a group object, not an issue of the project (read into extra.epic, not written), and the REST issue API has no parent issue",
		adapters.FeatFileDelete: "a file is an upload linked from a note; GitLab deletes uploads only for Maintainers, and the link would stay",
	}
}

// fillFields sets the typed fields of is from GitLab's issue w.
func fillFields(is *adapters.Issue, w *gl.Issue) {
	var as []*gl.IssueAssignee
	for _, a := range w.Assignees {
		if a != nil && a.Username != "" {
			as = append(as, a)
		}
	}
	slices.SortFunc(as, func(a, b *gl.IssueAssignee) int { return strings.Compare(a.Username, b.Username) })
	if len(as) > 0 {
		is.Assignee = &adapters.User{Login: as[0].Username, Name: as[0].Name}
	}
	if a := w.Author; a != nil && a.Username != "" {
		is.Reporter = &adapters.User{Login: a.Username, Name: a.Name}
	}
	if w.IssueType != nil {
		is.Type = *w.IssueType
	}
	if w.DueDate != nil && !time.Time(*w.DueDate).IsZero() {
		is.Due = time.Time(*w.DueDate).Format(time.DateOnly)
	}
	fields := map[string]adapters.FieldValue{}
	if w.Milestone != nil && w.Milestone.Title != "" {
		fields[FieldMilestone] = adapters.FieldValue{Text: w.Milestone.Title}
	}
	if w.Weight != 0 {
		fields[FieldWeight] = adapters.FieldValue{Kind: adapters.KindNumber, Text: strconv.FormatInt(w.Weight, 10)}
	}
	if len(fields) > 0 {
		is.Fields = fields
	}
	if w.Epic != nil && w.Epic.IID != 0 {
		if is.Extra == nil {
			is.Extra = map[string]string{}
		}
		is.Extra[fieldEpic] = strings.TrimSpace(fmt.Sprintf("&%d %s", w.Epic.IID, w.Epic.Title))
	}
}

// typedFields is what the typed fields of a create or patch ask of GitLab,
// merged into the Extra fields' setField.
type typedFields struct {
	assignee *adapters.User
	typ      *string
	due      *string
	fields   map[string]adapters.FieldValue
}

// resolveTyped adds the typed fields to f; cur is the issue as it is (nil:
// a create).
func (t *Tracker) resolveTyped(ctx context.Context, in typedFields, cur *gl.Issue, f *setField) error {
	if u := in.assignee; u != nil {
		ids, ok, err := t.assigneeIDs(ctx, *u, cur)
		if err != nil {
			return err
		}
		if ok {
			f.assignees = &ids
		}
	}
	if in.typ != nil && *in.typ != "" {
		if !slices.Contains(IssueTypes, *in.typ) {
			t.log.Warn("not a GitLab issue type (map it in the connection's type_map): left as it is", "type", *in.typ, "valid", strings.Join(IssueTypes, ", "))
		} else if cur == nil || cur.IssueType == nil || *cur.IssueType != *in.typ {
			f.issueType = in.typ
		}
	}
	if in.due != nil {
		if *in.due == "" {
			f.noDue = cur == nil || cur.DueDate != nil
		} else {
			d, err := dueDate(*in.due)
			if err != nil {
				return err
			}
			f.due = d
		}
	}
	for name, v := range in.fields {
		switch name {
		case FieldMilestone:
			title := strings.TrimSpace(v.Text)
			if v.Kind == adapters.KindOptions && len(v.Options) > 0 {
				title = v.Options[0]
			}
			if title == "" {
				f.noMile = cur == nil || cur.Milestone != nil
				continue
			}
			if cur != nil && cur.Milestone != nil && cur.Milestone.Title == title {
				continue
			}
			id, err := t.milestone(ctx, title)
			if errors.Is(err, adapters.ErrRejected) {
				t.log.Warn("the project has no such milestone: left as it is", "milestone", title, "err", err)
				continue
			}
			if err != nil {
				return err
			}
			f.milestone = &id
		case FieldWeight:
			if v.IsZero() {
				f.noWeight = cur == nil || cur.Weight != 0
				continue
			}
			w, err := weight(v.Text)
			if err != nil {
				return err
			}
			f.weight = &w
		default:
			t.log.Warn("GitLab issues have no such field (only milestone and weight): left out", "field", name)
		}
	}
	return nil
}

// assigneeIDs is the assignee list that asks for u: none for a zero u; the
// current list when u is already assigned; else u alone. ok is false when
// GitLab does not know u (left as it is).
func (t *Tracker) assigneeIDs(ctx context.Context, u adapters.User, cur *gl.Issue) ([]int64, bool, error) {
	if u.IsZero() {
		return []int64{}, cur == nil || len(cur.Assignees) > 0, nil
	}
	if cur != nil {
		for _, a := range cur.Assignees {
			if a != nil && u.Login != "" && a.Username == u.Login {
				return nil, false, nil // assigned already
			}
		}
	}
	if u.Login == "" {
		t.log.Warn("assignee has no GitLab username (add them to the connection's user_map): left as it is", "assignee", u.Label())
		return nil, false, nil
	}
	us, resp, err := t.c.Users.ListUsers(&gl.ListUsersOptions{Username: new(u.Login)}, gl.WithContext(ctx))
	if err != nil {
		return nil, false, classify(ctx, "look up user "+u.Login, resp, err)
	}
	if len(us) == 0 {
		t.log.Warn("assignee is not a GitLab user (map people in the connection's user_map): left as it is", "assignee", u.Login)
		return nil, false, nil
	}
	return []int64{us[0].ID}, true, nil
}

// ---- relations ----

func relKind(linkType string) (string, bool) {
	switch linkType {
	case "relates_to":
		return adapters.RelRelates, true
	case "blocks":
		return adapters.RelBlocks, true
	case "is_blocked_by":
		return adapters.RelBlockedBy, true
	}
	return "", false
}

func linkType(kind string) (string, bool) {
	switch kind {
	case adapters.RelRelates:
		return "relates_to", true
	case adapters.RelBlocks:
		return "blocks", true
	case adapters.RelBlockedBy:
		return "is_blocked_by", true
	}
	return "", false
}

// link is a relation with the ID GitLab deletes it by.
type link struct {
	rel adapters.Relation
	id  int64
}

// links lists the issue's links to issues of this project.
func (t *Tracker) links(ctx context.Context, w *gl.Issue) ([]link, error) {
	rs, resp, err := t.c.IssueLinks.ListIssueRelations(t.project, w.IID, gl.WithContext(ctx))
	if err != nil {
		return nil, classify(ctx, "list the linked issues of "+t.key(w.IID), resp, err)
	}
	var out []link
	for _, r := range rs {
		kind, ok := relKind(r.LinkType)
		if !ok || r.ProjectID != w.ProjectID {
			continue // another project's issue is not in this tracker
		}
		out = append(out, link{rel: adapters.Relation{Kind: kind, Key: t.key(r.IID), Summary: r.Title}, id: r.IssueLinkID})
	}
	return out, nil
}

func relationsOf(ls []link) []adapters.Relation {
	var out []adapters.Relation
	for _, l := range ls {
		out = append(out, l.rel)
	}
	return out
}

// relate adds and removes links of issue n (cur: its links now).
func (t *Tracker) relate(ctx context.Context, n int64, cur []link, add, remove []adapters.Relation) ([]link, error) {
	has := func(r adapters.Relation) int {
		return slices.IndexFunc(cur, func(l link) bool { return l.rel.Kind == r.Kind && l.rel.Key == r.Key })
	}
	for _, r := range remove {
		i := has(r)
		if i < 0 {
			continue
		}
		if _, resp, err := t.c.IssueLinks.DeleteIssueLink(t.project, n, cur[i].id, gl.WithContext(ctx)); err != nil && (resp == nil || resp.StatusCode != 404) {
			return nil, classify(ctx, fmt.Sprintf("remove the %s link of %s to %s", r.Kind, t.key(n), r.Key), resp, err)
		}
		cur = slices.Delete(cur, i, i+1)
	}
	for _, r := range add {
		lt, ok := linkType(r.Kind)
		if !ok {
			t.log.Warn("GitLab has no such issue link (only relates, blocks, blocked-by): left out", "issue", t.key(n), "relation", r.Kind, "other", r.Key)
			continue
		}
		if has(r) >= 0 {
			continue
		}
		other, err := t.number(r.Key)
		if err != nil { // another project's issue: GitLab could link it, this connection does not
			t.log.Warn("a related issue outside the project is left out", "issue", t.key(n), "relation", r.Kind, "other", r.Key)
			continue
		}
		opt := &gl.CreateIssueLinkOptions{TargetProjectID: new(t.project), TargetIssueIID: new(strconv.FormatInt(other, 10)), LinkType: new(lt)}
		made, resp, err := t.c.IssueLinks.CreateIssueLink(t.project, n, opt, gl.WithContext(ctx))
		if err != nil {
			if resp != nil && resp.StatusCode == 409 { // linked already (the other way round)
				continue
			}
			return nil, classify(ctx, fmt.Sprintf("link %s %s %s", t.key(n), lt, r.Key), resp, err)
		}
		l := link{rel: r}
		if made != nil {
			l.id = made.ID
		}
		cur = append(cur, l)
	}
	return cur, nil
}
