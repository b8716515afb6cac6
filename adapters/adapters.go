// Package adapters defines what issuemesh needs from an issue tracker: the
// normalised Issue, the Patch that updates one, and the Tracker interface that
// each adapter package (local, redmine, ...) implements.
package adapters

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors that adapters wrap so that the sync engine can tell what to do.
var (
	// ErrNotFound: the tracker has no issue with that key or twin marker.
	ErrNotFound = errors.New("issue not found")
	// ErrUnavailable: the tracker cannot be reached or failed on its side
	// (down, timeout, 5xx, 429). The operation is retried with backoff.
	ErrUnavailable = errors.New("tracker unavailable")
	// ErrRejected: the tracker refused the data (validation, unknown status,
	// 4xx). Retrying the same data fails again: the twin is blocked until an
	// operator retries it.
	ErrRejected = errors.New("tracker rejected the change")
	// ErrChanged: the patch said which revision of the issue it was
	// computed from (Patch.IfRev), and the issue has changed since. Read
	// it again and compute the patch anew.
	ErrChanged = errors.New("the issue changed since it was read")
)

// Comment is a comment in the tracker.
type Comment struct {
	ID       string    `json:"id"`                // tracker-native comment ID
	SyncID   string    `json:"sync_id,omitempty"` // global ID when the comment came by sync; empty for comments written here
	Author   string    `json:"author,omitempty"`
	Body     string    `json:"body"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Internal bool      `json:"internal,omitempty"`
}

// Attachment is a file attached to an issue: its metadata only. The bytes
// are read and written through the Attachments interface.
type Attachment struct {
	ID          string    `json:"id"`                // tracker-native attachment ID
	SyncID      string    `json:"sync_id,omitempty"` // global ID when the file came by sync; empty for files attached here
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type,omitempty"`
	Size        int64     `json:"size"`
	Digest      string    `json:"digest"` // SHA-256 of the content, lowercase hex
	Author      string    `json:"author,omitempty"`
	Created     time.Time `json:"created"`
}

// Issue is a tracker's issue in normalised form.
type Issue struct {
	Key         string            `json:"key"`
	Summary     string            `json:"summary"`
	Description string            `json:"description,omitempty"`
	Status      string            `json:"status,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	Labels      []string          `json:"labels,omitempty"`
	Extra       map[string]string `json:"extra,omitempty"` // tracker-specific fields rules may read and set
	Comments    []Comment         `json:"comments,omitempty"`
	Attachments []Attachment      `json:"attachments,omitempty"` // metadata; see Attachments
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	// TwinID is the marker the sync engine sets when it creates an issue, so
	// that a crash between "created" and "linked" is recovered by FindByTwin
	// rather than by a second create.
	TwinID string `json:"twin_id,omitempty"`
	// Rev is the tracker's revision of the issue, which changes with
	// every write, where the adapter knows one (the local tracker); ""
	// otherwise. See Patch.IfRev.
	Rev string `json:"-"`

	// People, type, dates, custom fields and relations (fields.go). An
	// adapter leaves out what its tracker lacks (Lacking).
	Assignee  *User                 `json:"assignee,omitempty"` // nil: unassigned
	Reporter  *User                 `json:"reporter,omitempty"`
	Watchers  []User                `json:"watchers,omitempty"`
	Type      string                `json:"type,omitempty"`      // issue type, tracker or kind
	Due       string                `json:"due,omitempty"`       // YYYY-MM-DD
	Start     string                `json:"start,omitempty"`     // YYYY-MM-DD
	Fields    map[string]FieldValue `json:"fields,omitempty"`    // custom fields by name
	Relations []Relation            `json:"relations,omitempty"` // links to other issues of this tracker
}

// Patch is a change to an existing issue. Nil fields are left as they are.
//
// Every adapter treats an added comment whose SyncID the issue already has
// as an edit of that comment, never as a second comment, so that a re-sent
// add cannot duplicate it.
type Patch struct {
	Summary      *string           `json:"summary,omitempty"`
	Description  *string           `json:"description,omitempty"`
	Status       *string           `json:"status,omitempty"`
	Priority     *string           `json:"priority,omitempty"`
	Labels       *[]string         `json:"labels,omitempty"`
	Extra        map[string]string `json:"extra,omitempty"`         // "" removes a field
	AddComments  []Comment         `json:"add_comments,omitempty"`  // ID is ignored; the tracker assigns one
	EditComments []Comment         `json:"edit_comments,omitempty"` // matched by ID, or by SyncID when ID is empty; Body is replaced
	TwinID       *string           `json:"twin_id,omitempty"`       // set or clear the twin marker

	Assignee *User   `json:"assignee,omitempty"` // a zero User unassigns
	Reporter *User   `json:"reporter,omitempty"`
	Watchers *[]User `json:"watchers,omitempty"`
	Type     *string `json:"type,omitempty"`
	Due      *string `json:"due,omitempty"`   // "" clears
	Start    *string `json:"start,omitempty"` // "" clears
	// Fields sets custom fields by name; a zero value clears one.
	Fields map[string]FieldValue `json:"fields,omitempty"`
	// AddRelations and RemoveRelations change relations (matched by kind
	// and key; adding one the issue has is no change, so is removing one
	// it lacks).
	AddRelations    []Relation `json:"add_relations,omitempty"`
	RemoveRelations []Relation `json:"remove_relations,omitempty"`
	// DeleteComments and DeleteAttachments remove comments and files by
	// their tracker ID (one already gone is no error).
	DeleteComments    []string `json:"delete_comments,omitempty"`
	DeleteAttachments []string `json:"delete_attachments,omitempty"`

	// IfRev, when set, is the revision (Issue.Rev) the patch was computed
	// from: an adapter that knows revisions refuses the patch with
	// ErrChanged if the issue has another one now, so that a change made
	// meanwhile (by a person) is not overwritten by a patch computed
	// without it. Adapters without revisions ignore it. It is a condition,
	// not a change: Empty does not look at it.
	IfRev string `json:"-"`
}

// Empty reports whether the patch changes nothing.
func (p Patch) Empty() bool {
	return p.Summary == nil && p.Description == nil && p.Status == nil && p.Priority == nil &&
		p.Labels == nil && len(p.Extra) == 0 && len(p.AddComments) == 0 && len(p.EditComments) == 0 &&
		p.TwinID == nil && p.Assignee == nil && p.Reporter == nil && p.Watchers == nil &&
		p.Type == nil && p.Due == nil && p.Start == nil && len(p.Fields) == 0 &&
		len(p.AddRelations) == 0 && len(p.RemoveRelations) == 0 &&
		len(p.DeleteComments) == 0 && len(p.DeleteAttachments) == 0
}

// Attachments is what a tracker that keeps files offers besides Tracker.
// The sync engine shares attachments only with trackers that implement it.
//
// Issue.Attachments lists an issue's files (metadata only; Changes may
// leave them out, Get includes them). Adding a file is an effective change
// of the issue: it appears in the change feed.
type Attachments interface {
	// OpenAttachment returns the content of attachment id (its native ID)
	// of the issue with that key, or an error wrapping ErrNotFound. The
	// caller closes it.
	OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error)
	// AddAttachment attaches the content read from r to the issue, with
	// a's Filename, ContentType, SyncID and, where the tracker allows,
	// Author and Created; a.ID is ignored. a.Size and a.Digest, when set,
	// must match the content, or the file is refused (ErrRejected). It
	// returns the attachment as the tracker keeps it. A file whose SyncID
	// the issue already has, or whose digest an attachment of the issue
	// already has, is not added a second time: that attachment is returned.
	AddAttachment(ctx context.Context, key string, a Attachment, r io.Reader) (Attachment, error)
}

// Cursor is an adapter's opaque position in its change feed.
type Cursor string

// Tracker is one issue tracker as the sync engine sees it.
type Tracker interface {
	// Get returns the issue with that key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (Issue, error)
	// Create creates an issue (with its comments) and returns it with its
	// new key. in.TwinID is stored as the twin marker.
	Create(ctx context.Context, in Issue) (Issue, error)
	// Update applies p to the issue and returns the issue after the change.
	Update(ctx context.Context, key string, p Patch) (Issue, error)
	// FindByTwin returns the issue carrying that twin marker, or an error
	// wrapping ErrNotFound.
	FindByTwin(ctx context.Context, twin string) (Issue, error)
	// Changes returns up to limit issues changed after since, oldest first,
	// and the cursor to pass next time. An empty since means from the start.
	// It may return an issue more than once; callers deduplicate.
	Changes(ctx context.Context, since Cursor, limit int) ([]Issue, Cursor, error)
	// Close releases the tracker's resources.
	Close() error
}

// FindFile finds among files the one with that SyncID, or else one with
// that digest: how an adapter recognises a file it attached already (an
// engine retry after a lost answer attaches nothing twice).
func FindFile(files []Attachment, syncID, digest string) (Attachment, bool) {
	if syncID != "" {
		for _, f := range files {
			if f.SyncID == syncID {
				return f, true
			}
		}
	}
	if digest != "" {
		for _, f := range files {
			if f.Digest == digest {
				return f, true
			}
		}
	}
	return Attachment{}, false
}
