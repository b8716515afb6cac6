// Package trackerhealth keeps the health of a node's tracker: every call
// the node (and its engine, at the trigger and apply steps) makes to the
// tracker goes through a Tracker, which records how the tracker answers and
// stops calling it after a permanent refusal.
package trackerhealth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
)

// Tracker health: every call the node makes to its tracker goes through a
// Tracker, which keeps the last successful poll and push and the
// current error with its class (adapters.Classify). A permanent error
// (refused credentials, a missing permission) stops every call from
// reaching the tracker: they fail at once with that error, which wraps
// adapters.ErrUnavailable so that queued events wait instead of blocking
// their twins. The stop holds until the config watcher sees config.yaml or
// the key file change (resume), so a node with a wrong key does not hammer
// the tracker. A rate-limited tracker that said when to come back gets no
// call before then.

// callKind is what a tracker call is, for the health it updates.
type callKind int

const (
	callRead callKind = iota // Get, FindByTwin, OpenAttachment
	callPoll                 // Changes
	callPush                 // Create, Update, AddAttachment
)

// Tracker is the node's tracker adapter with its health kept.
type Tracker struct {
	typ    string
	log    *slog.Logger
	reopen func(config.Tracker) (adapters.Tracker, error) // nil: the adapter cannot be reopened with new credentials
	onStop func()                                         // called (without the lock) when a call stops the tracker

	mu      sync.Mutex
	inner   adapters.Tracker
	h       TrackerHealth
	stopped error // the permanent error that stops every call; nil: calls go through
}

// TrackerHealth and TrackerProblem are the health as the admin API shows it.
type (
	TrackerHealth  = api.TrackerHealth
	TrackerProblem = api.TrackerProblem
)

// healthAttachments is a Tracker whose adapter keeps files.
type healthAttachments struct{ *Tracker }

// Options are the optional parts of a Tracker.
type Options struct {
	// Reopen opens the adapter again with the credential files named in
	// a reloaded config (Resume); nil: it cannot be reopened.
	Reopen func(config.Tracker) (adapters.Tracker, error)
	// OnStop is called (without the lock) when a call stops the tracker.
	OnStop func()
}

// New wraps inner, a tracker of type typ, with its health kept.
func New(typ string, inner adapters.Tracker, log *slog.Logger, o Options) *Tracker {
	return &Tracker{typ: typ, inner: inner, log: log, reopen: o.Reopen, onStop: o.OnStop, h: TrackerHealth{Type: typ, State: "unknown"}}
}

// AsTracker is the wrapper as the node uses it: with Attachments when
// the adapter has them.
func (t *Tracker) AsTracker() adapters.Tracker {
	if _, ok := t.inner.(adapters.Attachments); ok {
		return healthAttachments{t}
	}
	return t
}

// begin returns the adapter to call, or the error that stops calls.
func (t *Tracker) begin() (adapters.Tracker, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped != nil {
		return nil, t.stopped
	}
	if e := t.h.Error; e != nil && e.Class == adapters.ClassRateLimited && time.Now().Before(e.RetryAt) {
		return nil, &adapters.TrackerError{Class: adapters.ClassRateLimited, Status: e.Status, RetryAt: e.RetryAt,
			Err: fmt.Errorf("the %s tracker asked to wait until %s before the next request: %w", t.typ, e.RetryAt.Format(time.RFC3339), adapters.ErrUnavailable)}
	}
	return t.inner, nil
}

// end records a call's outcome.
func (t *Tracker) end(kind callKind, err error) {
	class, te := adapters.Classify(err)
	now := time.Now().UTC()
	// A patch refused because the issue changed since it was read
	// (adapters.ErrChanged) was answered: the tracker is fine.
	answered := err == nil || class == adapters.ClassRejected || (class == adapters.ClassNotFound && kind != callPoll) || errors.Is(err, adapters.ErrChanged)
	if class == "" && err != nil {
		return // the caller gave up
	}
	t.mu.Lock()
	h := &t.h
	if answered {
		h.LastOK = now
		if err == nil {
			switch kind {
			case callPoll:
				h.LastPoll = now
			case callPush:
				h.LastPush = now
			}
		}
		if h.Error != nil {
			h.Error.Resolved = now
			h.LastError, h.Error = h.Error, nil
			t.log.Info("the tracker answers again", "tracker", t.typ, "after", h.LastError.Class, "since", h.LastError.Since)
		}
		h.State = "ok"
		t.mu.Unlock()
		return
	}
	p := h.Error
	if p == nil || p.Class != class {
		p = &TrackerProblem{Class: class, Permanent: class.Permanent(), Since: now}
		h.Error = p
		t.log.Warn("the tracker fails", "tracker", t.typ, "class", class, "permanent", p.Permanent, "err", err)
	}
	p.Message, p.Last = err.Error(), now
	p.Count++
	p.Status, p.RetryAt = 0, time.Time{}
	if te != nil {
		p.Status, p.RetryAt = te.Status, te.RetryAt
	}
	h.State = "failing"
	stop := p.Permanent && t.stopped == nil
	if stop {
		h.State = "stopped"
		t.stopped = fmt.Errorf("the node has stopped asking the %s tracker since %s, which it refused with: %w; fix the key file or config.yaml and the node resumes by itself", t.typ, p.Since.Format(time.RFC3339), err)
		t.log.Error("the tracker refused the node's credentials or permission: no more requests until config.yaml or the key file changes", "tracker", t.typ, "class", class, "err", err)
	}
	onStop := t.onStop
	t.mu.Unlock()
	if stop && onStop != nil {
		onStop()
	}
}

// Resume lets calls through again after the config or key file changed,
// with the adapter reopened (new credentials) when it can be. It reports
// whether the tracker had been stopped.
func (t *Tracker) Resume(tc config.Tracker) (bool, error) {
	t.mu.Lock()
	was := t.stopped != nil
	reopen := t.reopen
	t.mu.Unlock()
	var fresh adapters.Tracker
	if reopen != nil {
		var err error
		if fresh, err = reopen(tc); err != nil {
			return was, err
		}
	}
	t.mu.Lock()
	var old adapters.Tracker
	if fresh != nil {
		old, t.inner = t.inner, fresh
	}
	t.stopped = nil
	if t.h.State == "stopped" {
		t.h.State = "failing"
	}
	t.mu.Unlock()
	if old != nil {
		_ = old.Close() // calls under way finish on it; a REST client's Close only drops idle connections
	}
	return was, nil
}

// Health is the tracker's health now.
func (t *Tracker) Health() TrackerHealth {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.h
	if h.Error != nil {
		e := *h.Error
		h.Error = &e
	}
	if h.LastError != nil {
		e := *h.LastError
		h.LastError = &e
	}
	return h
}

func (t *Tracker) Get(ctx context.Context, key string) (adapters.Issue, error) {
	in, err := t.begin()
	if err != nil {
		return adapters.Issue{}, err
	}
	is, err := in.Get(ctx, key)
	t.end(callRead, err)
	return is, err
}

func (t *Tracker) Create(ctx context.Context, is adapters.Issue) (adapters.Issue, error) {
	in, err := t.begin()
	if err != nil {
		return adapters.Issue{}, err
	}
	out, err := in.Create(ctx, is)
	t.end(callPush, err)
	return out, err
}

func (t *Tracker) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	in, err := t.begin()
	if err != nil {
		return adapters.Issue{}, err
	}
	out, err := in.Update(ctx, key, p)
	t.end(callPush, err)
	return out, err
}

func (t *Tracker) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	in, err := t.begin()
	if err != nil {
		return adapters.Issue{}, err
	}
	is, err := in.FindByTwin(ctx, twin)
	t.end(callRead, err)
	return is, err
}

func (t *Tracker) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	in, err := t.begin()
	if err != nil {
		return nil, since, err
	}
	is, next, err := in.Changes(ctx, since, limit)
	t.end(callPoll, err)
	return is, next, err
}

func (t *Tracker) Close() error {
	t.mu.Lock()
	in := t.inner
	t.mu.Unlock()
	return in.Close()
}

func (t healthAttachments) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	in, err := t.begin()
	if err != nil {
		return nil, err
	}
	rc, err := in.(adapters.Attachments).OpenAttachment(ctx, key, id)
	t.end(callRead, err)
	return rc, err
}

func (t healthAttachments) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	in, err := t.begin()
	if err != nil {
		return adapters.Attachment{}, err
	}
	out, err := in.(adapters.Attachments).AddAttachment(ctx, key, a, r)
	t.end(callPush, err)
	return out, err
}

// Stopped reports whether calls to the tracker are stopped by a permanent
// error (or held back by a rate limit); false for a nil t.
func (t *Tracker) Stopped() bool {
	if t == nil {
		return false
	}
	_, err := t.begin()
	return err != nil
}

// Adapter is the tracker adapter behind the health wrapper.
func (t *Tracker) Adapter() adapters.Tracker {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inner
}
