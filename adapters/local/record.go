package local

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/adapters"
)

// Database layout. Every key starts with a one-letter namespace and a slash;
// numbers are 8-byte big-endian so that Badger's key order is numeric order.
const (
	issuePrefix = "i/" // i/<issue number> -> msgpack record
	revPrefix   = "r/" // r/<revision>     -> issue number (only the issue's latest revision)
	twinPrefix  = "t/" // t/<twin marker>  -> issue number

	metaFormat  = "m/format"     // storage format version, decimal
	metaPrefix  = "m/prefix"     // the key prefix the DB was created with
	metaNextNum = "m/next-issue" // next issue number, 8-byte big-endian
	metaNextRev = "m/next-rev"   // next revision, 8-byte big-endian
)

// formatVersion is the storage format written by this package. A database
// with another version is refused rather than misread.
const formatVersion = "1"

// Limits that keep one issue within what a single Badger transaction and the
// value log take comfortably.
const (
	maxRecordSize = 4 << 20 // encoded issue, with all its comments
	maxTwinLen    = 512     // the twin marker is part of an index key
)

// Defaults applied by Create (and by a Patch that sets the field to "").
const (
	DefaultStatus   = "Open"
	DefaultPriority = "Normal"
)

// record is an issue as stored. It is decoupled from adapters.Issue so that
// the storage format changes only on purpose: short msgpack field names,
// the revision that last changed the issue (to maintain the rev index), and
// comment IDs as numbers.
type record struct {
	Num         uint64            `msgpack:"n"`
	Rev         uint64            `msgpack:"r"`
	Summary     string            `msgpack:"s"`
	Description string            `msgpack:"d,omitempty"`
	Status      string            `msgpack:"st,omitempty"`
	Priority    string            `msgpack:"p,omitempty"`
	Labels      []string          `msgpack:"l,omitempty"`
	Extra       map[string]string `msgpack:"x,omitempty"`
	Comments    []comment         `msgpack:"c,omitempty"`
	Attachments []attachment      `msgpack:"a,omitempty"`
	Created     time.Time         `msgpack:"ct"`
	Updated     time.Time         `msgpack:"ut"`
	TwinID      string            `msgpack:"t,omitempty"`
	// NextComment and NextFile are the next comment and file IDs once one
	// was deleted (0 before: the last one's ID + 1), so that no ID is
	// ever given twice.
	NextComment uint64 `msgpack:"nc,omitempty"`
	NextFile    uint64 `msgpack:"nf,omitempty"`
	fields      `msgpack:",inline"`
}

type comment struct {
	ID       uint64    `msgpack:"id"`
	SyncID   string    `msgpack:"sid,omitempty"`
	Author   string    `msgpack:"a,omitempty"`
	Body     string    `msgpack:"b"`
	Created  time.Time `msgpack:"ct"`
	Updated  time.Time `msgpack:"ut"`
	Internal bool      `msgpack:"in,omitempty"`
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func issueKey(num uint64) []byte { return binary.BigEndian.AppendUint64([]byte(issuePrefix), num) }
func revKey(rev uint64) []byte   { return binary.BigEndian.AppendUint64([]byte(revPrefix), rev) }
func twinKey(twin string) []byte { return append([]byte(twinPrefix), twin...) }

func readU64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("want an 8-byte number, found %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func encodeRecord(r *record) ([]byte, error) {
	return msgpack.Marshal(r)
}

func decodeRecord(b []byte) (*record, error) {
	var r record
	if err := msgpack.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	// msgpack decodes times in the local zone; the tracker speaks UTC.
	r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
	for i := range r.Comments {
		c := &r.Comments[i]
		c.Created, c.Updated = c.Created.UTC(), c.Updated.UTC()
	}
	for i := range r.Attachments {
		r.Attachments[i].Created = r.Attachments[i].Created.UTC()
	}
	return &r, nil
}

// issue converts the record to the normalised form. The result shares no
// memory with r.
func (r *record) issue(prefix string) adapters.Issue {
	is := adapters.Issue{
		Key:         formatKey(prefix, r.Num),
		Summary:     r.Summary,
		Description: r.Description,
		Status:      r.Status,
		Priority:    r.Priority,
		Labels:      slices.Clone(r.Labels),
		Created:     r.Created,
		Updated:     r.Updated,
		TwinID:      r.TwinID,
		Rev:         strconv.FormatUint(r.Rev, 10),
	}
	r.setFields(&is, prefix)
	if len(r.Extra) > 0 {
		is.Extra = make(map[string]string, len(r.Extra))
		for k, v := range r.Extra {
			is.Extra[k] = v
		}
	}
	if len(r.Comments) > 0 {
		is.Comments = make([]adapters.Comment, len(r.Comments))
		for i, c := range r.Comments {
			is.Comments[i] = adapters.Comment{
				ID:       strconv.FormatUint(c.ID, 10),
				SyncID:   c.SyncID,
				Author:   c.Author,
				Body:     c.Body,
				Created:  c.Created,
				Updated:  c.Updated,
				Internal: c.Internal,
			}
		}
	}
	if len(r.Attachments) > 0 {
		is.Attachments = make([]adapters.Attachment, len(r.Attachments))
		for i, a := range r.Attachments {
			is.Attachments[i] = a.meta()
		}
	}
	return is
}

func formatKey(prefix string, num uint64) string {
	return prefix + "-" + strconv.FormatUint(num, 10)
}

// parseKey returns the issue number of a key such as LOCAL-7. The prefix is
// matched case-insensitively (people type keys); the number must be canonical.
func parseKey(prefix, key string) (uint64, error) {
	head := prefix + "-"
	if len(key) > len(head) && strings.EqualFold(key[:len(head)], head) {
		n := key[len(head):]
		num, err := strconv.ParseUint(n, 10, 64)
		if err == nil && num > 0 && strconv.FormatUint(num, 10) == n {
			return num, nil
		}
	}
	return 0, fmt.Errorf("local tracker has no issue %q (local keys look like %s-<number>): %w", key, prefix, adapters.ErrNotFound)
}

func rejectf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), adapters.ErrRejected)
}

// normLabels gives labels set semantics: sorted, without duplicates and
// without empty labels. The result never aliases in.
func normLabels(in []string) []string {
	out := make([]string, 0, len(in))
	for _, l := range in {
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return slices.Clip(out)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// now is the tracker's clock: UTC, millisecond precision, no monotonic part,
// so that stored and returned times compare equal.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// newRecord validates a Create and builds the record, without number,
// revision or twin uniqueness check (those need the database).
func newRecord(in adapters.Issue, at time.Time) (*record, error) {
	if strings.TrimSpace(in.Summary) == "" {
		return nil, rejectf("create: summary is required")
	}
	if len(in.TwinID) > maxTwinLen {
		return nil, rejectf("create: twin marker is %d bytes, over the limit of %d", len(in.TwinID), maxTwinLen)
	}
	r := &record{
		Summary:     in.Summary,
		Description: in.Description,
		Status:      orDefault(in.Status, DefaultStatus),
		Priority:    orDefault(in.Priority, DefaultPriority),
		Labels:      normLabels(in.Labels),
		Created:     at,
		Updated:     at,
		TwinID:      in.TwinID,
	}
	if _, err := r.setExtra(in.Extra, "create"); err != nil {
		return nil, err
	}
	if _, err := r.applyFields("create", createPatch(in), func(string) (uint64, error) {
		return 0, rejectf("create: relations are added by an update, once both issues exist")
	}); err != nil {
		return nil, err
	}
	for _, c := range in.Comments {
		r.addComment(c, at)
	}
	return r, nil
}

// setExtra merges fields into r.Extra; an empty value removes the field.
func (r *record) setExtra(fields map[string]string, what string) (changed bool, err error) {
	for k, v := range fields {
		if k == "" {
			return false, rejectf("%s: an extra field has an empty name", what)
		}
		old, had := r.Extra[k]
		switch {
		case v == "" && had:
			delete(r.Extra, k)
			changed = true
		case v != "" && (!had || old != v):
			if r.Extra == nil {
				r.Extra = make(map[string]string, len(fields))
			}
			r.Extra[k] = v
			changed = true
		}
	}
	if len(r.Extra) == 0 {
		r.Extra = nil
	}
	return changed, nil
}

// addComment appends c with the next comment ID. A comment whose SyncID is
// already on the issue is not added twice: it edits that comment instead, so
// that a retransmitted add is harmless.
func (r *record) addComment(c adapters.Comment, at time.Time) bool {
	if c.SyncID != "" {
		if i := r.commentBySyncID(c.SyncID); i >= 0 {
			return r.editComment(i, c, at)
		}
	}
	id := max(r.NextComment, 1)
	if n := len(r.Comments); n > 0 {
		id = max(id, r.Comments[n-1].ID+1)
	}
	created := c.Created.UTC()
	if c.Created.IsZero() {
		created = at
	}
	updated := c.Updated.UTC()
	if c.Updated.IsZero() {
		updated = created
	}
	r.Comments = append(r.Comments, comment{
		ID:       id,
		SyncID:   c.SyncID,
		Author:   c.Author,
		Body:     c.Body,
		Created:  created,
		Updated:  updated,
		Internal: c.Internal,
	})
	return true
}

func (r *record) commentBySyncID(sid string) int {
	return slices.IndexFunc(r.Comments, func(c comment) bool { return c.SyncID == sid })
}

// editComment replaces the body and internal flag of comment i.
func (r *record) editComment(i int, c adapters.Comment, at time.Time) bool {
	old := &r.Comments[i]
	if old.Body == c.Body && old.Internal == c.Internal {
		return false
	}
	old.Body, old.Internal = c.Body, c.Internal
	old.Updated = c.Updated.UTC()
	if c.Updated.IsZero() {
		old.Updated = at
	}
	return true
}

// applyPatch applies p to r in place and reports whether anything changed in
// effect. It does not touch the twin marker (that needs the index) nor
// Updated/Rev.
func (r *record) applyPatch(key string, p adapters.Patch, at time.Time, relNum func(string) (uint64, error)) (changed bool, err error) {
	what := "update " + key
	set := func(dst *string, v *string) {
		if v != nil && *dst != *v {
			*dst = *v
			changed = true
		}
	}
	if p.Summary != nil && strings.TrimSpace(*p.Summary) == "" {
		return false, rejectf("%s: summary must not be empty", what)
	}
	set(&r.Summary, p.Summary)
	set(&r.Description, p.Description)
	if p.Status != nil {
		set(&r.Status, new(orDefault(*p.Status, DefaultStatus)))
	}
	if p.Priority != nil {
		set(&r.Priority, new(orDefault(*p.Priority, DefaultPriority)))
	}
	if p.Labels != nil {
		if l := normLabels(*p.Labels); !slices.Equal(l, r.Labels) {
			r.Labels = l
			changed = true
		}
	}
	c, err := r.setExtra(p.Extra, what)
	if err != nil {
		return false, err
	}
	changed = changed || c
	// Edits name existing comments, so resolve them before the adds.
	for i, e := range p.EditComments {
		idx := -1
		switch {
		case e.ID != "":
			id, perr := strconv.ParseUint(e.ID, 10, 64)
			if perr == nil {
				idx = slices.IndexFunc(r.Comments, func(c comment) bool { return c.ID == id })
			}
			if idx < 0 {
				return false, rejectf("%s: edit_comments[%d]: the issue has no comment with ID %q", what, i, e.ID)
			}
		case e.SyncID != "":
			if idx = r.commentBySyncID(e.SyncID); idx < 0 {
				return false, rejectf("%s: edit_comments[%d]: the issue has no comment with sync ID %q", what, i, e.SyncID)
			}
		default:
			return false, rejectf("%s: edit_comments[%d] names neither a comment ID nor a sync ID", what, i)
		}
		if r.editComment(idx, e, at) {
			changed = true
		}
	}
	for _, c := range p.AddComments {
		if r.addComment(c, at) {
			changed = true
		}
	}
	c, err = r.applyFields(what, p, relNum)
	if err != nil {
		return false, err
	}
	changed = changed || c
	if p.TwinID != nil && len(*p.TwinID) > maxTwinLen {
		return false, rejectf("%s: twin marker is %d bytes, over the limit of %d", what, len(*p.TwinID), maxTwinLen)
	}
	return changed, nil
}
