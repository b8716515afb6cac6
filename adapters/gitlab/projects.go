package gitlab

// Several projects on one connection (Options.Projects): Open gives a
// Multi, one Tracker per project behind one set of keys. Keys carry their
// project ("group/name#IID"), so Get, Update and the files go to the
// issue's project; Create goes to the first project (Options.Project);
// FindByTwin asks each project in turn; Changes reads each project's feed
// with a cursor per project (the cursor is a JSON object of them, a
// share of the limit each). One webhook listener takes the deliveries of
// every project. Related issues link within a project only (a relation to
// another project's issue is left out, with a warning).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
)

// Multi is several GitLab projects seen as one adapters.Tracker.
type Multi struct {
	subs []*Tracker // subs[0] is the primary project
}

var (
	_ adapters.Tracker     = (*Multi)(nil)
	_ adapters.Attachments = (*Multi)(nil)
	_ adapters.Lacking     = (*Multi)(nil)
	_ check.Checker        = (*Multi)(nil)
	_ check.Vocabulary     = (*Multi)(nil)
)

// Open returns the adapter of opts.Project and opts.Projects: a *Tracker
// for one project, a *Multi for several.
func Open(opts Options) (adapters.Tracker, error) {
	all := []string{opts.Project}
	for _, p := range opts.Projects {
		p = strings.Trim(strings.TrimSpace(p), "/")
		if !slices.ContainsFunc(all, func(q string) bool { return strings.EqualFold(strings.Trim(q, "/ "), p) }) {
			all = append(all, p)
		}
	}
	if len(all) == 1 {
		return New(opts)
	}
	m := &Multi{}
	for i, p := range all {
		o := opts
		o.Project, o.Projects = p, nil
		if i == 0 {
			o.hookProjects = strings.Join(all, ",")
		} else {
			o.WebhookListen = ""
		}
		t, err := New(o)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("tracker.projects[%d]: %w", i, err)
		}
		m.subs = append(m.subs, t)
	}
	return m, nil
}

// pick is the project tracker of key (no project: the primary).
func (m *Multi) pick(key string) (*Tracker, error) {
	i := strings.LastIndexByte(key, '#')
	if i <= 0 {
		return m.subs[0], nil
	}
	p := strings.TrimSpace(key[:i])
	for _, t := range m.subs {
		if strings.EqualFold(t.project, p) {
			return t, nil
		}
	}
	return nil, notFound("issue %q is not in the connection's projects (%s)", key, m.projects())
}

func (m *Multi) projects() string {
	var ps []string
	for _, t := range m.subs {
		ps = append(ps, t.project)
	}
	return strings.Join(ps, ", ")
}

// Get reads the issue from its project.
func (m *Multi) Get(ctx context.Context, key string) (adapters.Issue, error) {
	t, err := m.pick(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	return t.Get(ctx, key)
}

// Create creates the issue in the first project.
func (m *Multi) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	return m.subs[0].Create(ctx, in)
}

// Update changes the issue in its project.
func (m *Multi) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	t, err := m.pick(key)
	if err != nil {
		return adapters.Issue{}, err
	}
	return t.Update(ctx, key, p)
}

// FindByTwin asks each project in turn.
func (m *Multi) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	for _, t := range m.subs {
		is, err := t.FindByTwin(ctx, twin)
		if err == nil || !isNotFound(err) {
			return is, err
		}
	}
	return adapters.Issue{}, notFound("no issue of %s carries twin %q", m.projects(), twin)
}

func isNotFound(err error) bool { return errors.Is(err, adapters.ErrNotFound) }

// Changes reads each project's feed from its own cursor.
func (m *Multi) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	if limit <= 0 {
		limit = 1000
	}
	curs := map[string]string{}
	if since != "" {
		if err := json.Unmarshal([]byte(since), &curs); err != nil {
			// A cursor of the single-project adapter: the first project's.
			curs = map[string]string{strings.ToLower(m.subs[0].project): string(since)}
		}
	}
	each := max(1, limit/len(m.subs))
	var out []adapters.Issue
	for _, t := range m.subs {
		room := min(each, limit-len(out))
		if room <= 0 {
			break // the others' cursors stay: read next time
		}
		k := strings.ToLower(t.project)
		is, next, err := t.Changes(ctx, adapters.Cursor(curs[k]), room)
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

// OpenAttachment reads a file of an issue of its project.
func (m *Multi) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	t, err := m.pick(key)
	if err != nil {
		return nil, err
	}
	return t.OpenAttachment(ctx, key, id)
}

// AddAttachment adds a file to an issue of its project.
func (m *Multi) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	t, err := m.pick(key)
	if err != nil {
		return adapters.Attachment{}, err
	}
	return t.AddAttachment(ctx, key, a, r)
}

// OnChange registers the doorbell on the one webhook listener.
func (m *Multi) OnChange(fn func()) { m.subs[0].OnChange(fn) }

// WebhookAddr is the listener's address ("" when none runs).
func (m *Multi) WebhookAddr() string { return m.subs[0].WebhookAddr() }

// Lacks is GitLab's (the same for every project).
func (m *Multi) Lacks() map[adapters.Feature]string { return m.subs[0].Lacks() }

// Values are GitLab's (the same for every project).
func (m *Multi) Values(ctx context.Context) (check.Values, error) { return m.subs[0].Values(ctx) }

// Check checks each project, its findings named by the project.
func (m *Multi) Check(ctx context.Context) []check.Result {
	var out []check.Result
	for _, t := range m.subs {
		for _, r := range t.Check(ctx) {
			r.Name = t.project + ": " + r.Name
			out = append(out, r)
		}
	}
	return out
}

// Close closes every project's tracker.
func (m *Multi) Close() error {
	for _, t := range m.subs {
		t.Close()
	}
	return nil
}
