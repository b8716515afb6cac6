package jira

// Status changes through workflow transitions.
//
// Jira sets a status only by a transition, and lists only the transitions
// available from an issue's current status
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-get).
// moveTo walks: at each step it lists the transitions, remembers them
// (status -> statuses one transition away, shared across issues), and takes
// the direct transition to the target when there is one, else the first
// step of the shortest known path, else a transition to a status not yet
// explored and not already visited on this walk. The walk ends after
// maxSteps transitions or when nothing new is reachable, with an error
// naming the statuses it could reach. The target is first checked against
// the project's statuses, so a status that does not exist moves nothing.

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

const maxSteps = 6

type transition struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	To   named  `json:"to"`
}

func (t *Tracker) transitions(ctx context.Context, key string) ([]transition, error) {
	var out struct {
		Transitions []transition `json:"transitions"`
	}
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/issue/" + url.PathEscape(key) + "/transitions"}, &out); err != nil {
		return nil, fmt.Errorf("jira: list the transitions of %s: %w", key, err)
	}
	return out.Transitions, nil
}

func (t *Tracker) status(ctx context.Context, key string) (string, error) {
	var w wireIssue
	if _, err := t.c.Do(ctx, rest.Request{Method: "GET", Path: t.api + "/issue/" + url.PathEscape(key), Query: url.Values{"fields": {"status"}}}, &w); err != nil {
		return "", fmt.Errorf("jira: read the status of %s: %w", key, err)
	}
	if w.Fields.Status == nil {
		return "", nil
	}
	return w.Fields.Status.Name, nil
}

// path is the shortest known sequence of statuses from -> to (excluding
// from), or nil.
func (t *Tracker) path(from, to string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s == to {
			var p []string
			for ; s != from; s = prev[s] {
				p = append([]string{s}, p...)
			}
			return p
		}
		var next []string
		for n := range t.graph[s] {
			next = append(next, n)
		}
		slices.Sort(next)
		for _, n := range next {
			if _, ok := prev[n]; !ok {
				prev[n] = s
				queue = append(queue, n)
			}
		}
	}
	return nil
}

func (t *Tracker) learn(from string, ts []transition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[string]bool{}
	for _, tr := range ts {
		if tr.To.Name != from {
			m[tr.To.Name] = true
		}
	}
	t.graph[from] = m
}

func (t *Tracker) explored(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.graph[s]
	return ok
}

// moveTo takes the issue to status target through transitions.
func (t *Tracker) moveTo(ctx context.Context, key, target string) error {
	cur, err := t.status(ctx, key)
	if err != nil {
		return err
	}
	visited := map[string]bool{cur: true}
	reached := []string{cur}
	for step := 0; cur != target; step++ {
		if step >= maxSteps {
			return fmt.Errorf("jira: %s: no path of at most %d transitions reaches status %q (went through %s): %w", key, maxSteps, target, strings.Join(reached, " -> "), adapters.ErrRejected)
		}
		ts, err := t.transitions(ctx, key)
		if err != nil {
			return err
		}
		t.learn(cur, ts)
		pick := func(status string) *transition {
			for i := range ts {
				if ts[i].To.Name == status {
					return &ts[i]
				}
			}
			return nil
		}
		var tr *transition
		if tr = pick(target); tr == nil {
			if p := t.path(cur, target); p != nil {
				tr = pick(p[0])
			}
		}
		if tr == nil {
			for i := range ts {
				if n := ts[i].To.Name; !visited[n] && !t.explored(n) {
					tr = &ts[i]
					break
				}
			}
		}
		if tr == nil {
			var can []string
			for _, x := range ts {
				can = append(can, fmt.Sprintf("%q to %q", x.Name, x.To.Name))
			}
			return fmt.Errorf("jira: %s is in status %q and no workflow transition leads to %q from there or from a status reachable from it (transitions available now: %s); check the project's workflow: %w",
				key, cur, target, strings.Join(can, ", "), adapters.ErrRejected)
		}
		// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-post
		if _, err := t.c.Do(ctx, rest.Request{Method: "POST", Path: t.api + "/issue/" + url.PathEscape(key) + "/transitions",
			Body: map[string]any{"transition": map[string]string{"id": tr.ID}}}, nil); err != nil {
			return fmt.Errorf("jira: %s: transition %q (to %q): %w", key, tr.Name, tr.To.Name, err)
		}
		t.log.Debug("jira: transition", "key", key, "from", cur, "to", tr.To.Name, "target", target)
		cur = tr.To.Name
		visited[cur] = true
		reached = append(reached, cur)
	}
	return nil
}
