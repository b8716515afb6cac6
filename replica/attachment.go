package replica

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/issuemesh/issuemesh/internal/msgp"
)

// Attachment is a file of an issue as it travels between nodes: its
// metadata only. The bytes never ride in events; the receiving node fetches
// them from the sender over the attach protocol and checks them against
// Size and Digest.
//
// ID is global, like a comment's: the node where the file was attached mints
// it as "<peer ID>/<tracker attachment ID>", every other node keeps it. The
// metadata of a file never changes; Clock orders the (equal) copies so that
// Merge is a join, the greater clock winning. A file removed from its issue
// stays as a tombstone: Deleted, with the clock of the removal.
type Attachment struct {
	ID          string `msgpack:"id"`
	Filename    string `msgpack:"n"`
	ContentType string `msgpack:"ty,omitempty"`
	Size        int64  `msgpack:"sz"`
	Digest      string `msgpack:"d"` // SHA-256 of the bytes, lowercase hex
	Author      string `msgpack:"a,omitempty"`
	Created     int64  `msgpack:"t,omitempty"` // Unix milliseconds
	Clock       Clock  `msgpack:"c"`
	Deleted     bool   `msgpack:"x,omitempty"`
}

// Limits of attachments, checked with the other limits of a replica.
const (
	MaxAttachments  = 1000 // files in one replica
	MaxFilenameLen  = 255  // bytes in a file name
	MaxAttachChunk  = 1 << 20
	digestHexLength = 64
)

// Attachment returns the file with the given ID and whether there is one.
// Should r hold the ID twice, the version Merge would keep is returned.
func (r Replica) Attachment(id string) (Attachment, bool) {
	var (
		found Attachment
		ok    bool
	)
	for _, a := range r.Attachments {
		if a.ID == id && (!ok || attachmentWins(a, found)) {
			found, ok = a, true
		}
	}
	return found, ok
}

// SameFile reports whether a and b describe the same file, ignoring clocks.
func SameFile(a, b Attachment) bool {
	a.Clock, b.Clock = Clock{}, Clock{}
	return a == b
}

// attachmentWins reports whether a replaces cur (same ID): a greater clock,
// or on equal clocks a greater content, so that all nodes agree.
func attachmentWins(a, cur Attachment) bool {
	if r := a.Clock.Compare(cur.Clock); r != 0 {
		return r > 0
	}
	return cmp.Or(
		cmp.Compare(a.Filename, cur.Filename),
		cmp.Compare(a.ContentType, cur.ContentType),
		cmp.Compare(a.Size, cur.Size),
		cmp.Compare(a.Digest, cur.Digest),
		cmp.Compare(a.Author, cur.Author),
		cmp.Compare(a.Created, cur.Created),
		cmpBool(a.Deleted, cur.Deleted),
	) > 0
}

// mergeAttachments unites the files of base and in by ID (the greater
// clock wins) into out, sorted by (Created, ID), and returns the IDs whose
// file is new or differs from base's, sorted.
func mergeAttachments(base, in []Attachment) (out []Attachment, changed []string) {
	n := len(base) + len(in)
	if n == 0 {
		return nil, nil
	}
	idx := make(map[string]int, n)
	add := func(a Attachment) {
		if j, ok := idx[a.ID]; ok {
			if attachmentWins(a, out[j]) {
				out[j] = a
			}
			return
		}
		idx[a.ID] = len(out)
		out = append(out, a)
	}
	out = make([]Attachment, 0, n)
	for _, a := range base {
		add(a)
	}
	before := slices.Clone(out)
	for _, a := range in {
		add(a)
	}
	for i, a := range out {
		if i >= len(before) || !SameFile(a, before[i]) {
			changed = append(changed, a.ID)
		}
	}
	slices.Sort(changed)
	slices.SortFunc(out, func(a, b Attachment) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, changed
}

// sameAttachments reports whether a and b hold the same files (by ID,
// ignoring clocks and order).
func sameAttachments(a, b []Attachment) bool {
	ma, mb := attachmentsByID(a), attachmentsByID(b)
	if len(ma) != len(mb) {
		return false
	}
	for id, x := range ma {
		y, ok := mb[id]
		if !ok || !SameFile(x, y) {
			return false
		}
	}
	return true
}

func attachmentsByID(as []Attachment) map[string]Attachment {
	m := make(map[string]Attachment, len(as))
	for _, a := range as {
		if cur, ok := m[a.ID]; !ok || attachmentWins(a, cur) {
			m[a.ID] = a
		}
	}
	return m
}

// validateAttachments checks the limits of a replica's files.
func validateAttachments(as []Attachment) error {
	if len(as) > MaxAttachments {
		return malformed("replica has %d attachments, the limit is %d", len(as), MaxAttachments)
	}
	for i := range as {
		a := &as[i]
		where := func(err error) error {
			return fmt.Errorf("attachment %d of %d (%q): %w", i+1, len(as), a.Filename, err)
		}
		if err := checkID("attachment ID", a.ID); err != nil {
			return where(err)
		}
		if a.Filename == "" {
			return where(malformed("the file name is empty"))
		}
		if len(a.Filename) > MaxFilenameLen {
			return where(malformed("file name of %d bytes exceeds the %d-byte limit", len(a.Filename), MaxFilenameLen))
		}
		if a.Size < 0 {
			return where(malformed("size %d is negative", a.Size))
		}
		if !isDigest(a.Digest) {
			return where(malformed("digest %q is not a SHA-256 in lowercase hex", a.Digest))
		}
		for _, s := range [...]struct{ what, v string }{
			{"content type", a.ContentType}, {"author", a.Author}, {"clock peer ID", a.Clock.Peer},
		} {
			if err := checkString(s.what, s.v); err != nil {
				return where(err)
			}
		}
	}
	return nil
}

func isDigest(d string) bool {
	if len(d) != digestHexLength {
		return false
	}
	for _, c := range d {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ---- codec (the layout msgpack writes for the struct, see wire.go) ----

func appendAttachments(b []byte, as []Attachment) []byte {
	b = msgp.AppendArrayLen(b, len(as))
	for i := range as {
		b = appendAttachment(b, &as[i])
	}
	return b
}

func appendAttachment(b []byte, a *Attachment) []byte {
	n := 5
	if a.ContentType != "" {
		n++
	}
	if a.Author != "" {
		n++
	}
	if a.Created != 0 {
		n++
	}
	if a.Deleted {
		n++
	}
	b = msgp.AppendMapLen(b, n)
	b = msgp.AppendStr(msgp.AppendStr(b, "id"), a.ID)
	b = msgp.AppendStr(msgp.AppendStr(b, "n"), a.Filename)
	if a.ContentType != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "ty"), a.ContentType)
	}
	b = msgp.AppendInt(msgp.AppendStr(b, "sz"), a.Size)
	b = msgp.AppendStr(msgp.AppendStr(b, "d"), a.Digest)
	if a.Author != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "a"), a.Author)
	}
	if a.Created != 0 {
		b = msgp.AppendInt(msgp.AppendStr(b, "t"), a.Created)
	}
	b = appendClock(msgp.AppendStr(b, "c"), &a.Clock)
	if a.Deleted {
		b = append(msgp.AppendStr(b, "x"), 0xc3)
	}
	return b
}

func decodeAttachments(r *reader, rep *Replica) error {
	n, err := r.Container(false)
	if err != nil || n < 0 {
		return err
	}
	if n > MaxAttachments {
		return malformed("%d attachments, the limit is %d", n, MaxAttachments)
	}
	rep.Attachments = make([]Attachment, n)
	for i := range rep.Attachments {
		if err := decodeAttachment(r, &rep.Attachments[i]); err != nil {
			return fmt.Errorf("attachment %d of %d: %w", i+1, n, err)
		}
	}
	return nil
}

func decodeAttachment(r *reader, a *Attachment) error {
	return r.fields("attachment", func(key []byte) (k int, err error) {
		switch string(key) {
		case "id":
			k = 0
			a.ID, err = r.Str()
		case "n":
			k = 1
			a.Filename, err = r.Str()
		case "ty":
			k = 2
			a.ContentType, err = r.Str()
		case "sz":
			k = 3
			a.Size, err = r.int64()
		case "d":
			k = 4
			a.Digest, err = r.Str()
		case "a":
			k = 5
			a.Author, err = r.Str()
		case "t":
			k = 6
			a.Created, err = r.int64()
		case "c":
			k = 7
			err = decodeClock(r, &a.Clock)
		case "x":
			k = 8
			a.Deleted, err = r.Bool()
		default:
			return -1, nil
		}
		return k, err
	})
}

// ---- the attach protocol's messages ----

// AttachRequest asks the peer that shared a file for its bytes: the file
// with ID and Digest of twin Twin, as agreed on their link. The answer is an
// AttachReply, then (when it has no Error) the bytes in frames of at most
// MaxAttachChunk bytes each, then an empty frame.
type AttachRequest struct {
	V      int    `msgpack:"v"`
	Twin   string `msgpack:"twin"`
	ID     string `msgpack:"id"`
	Digest string `msgpack:"d"`
}

// AttachReply answers an AttachRequest: the size of the bytes that follow,
// or why there are none.
type AttachReply struct {
	V     int    `msgpack:"v"`
	Size  int64  `msgpack:"sz"`
	Error string `msgpack:"err,omitempty"`
}

// MarshalAttachRequest encodes q, refusing what UnmarshalAttachRequest
// would refuse. The caller sets q.V = Version.
func MarshalAttachRequest(q *AttachRequest) ([]byte, error) {
	if err := validateAttachRequest(q); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 48+len(q.Twin)+len(q.ID)+len(q.Digest))
	b = msgp.AppendMapLen(b, 4)
	b = msgp.AppendInt(msgp.AppendStr(b, "v"), int64(q.V))
	b = msgp.AppendStr(msgp.AppendStr(b, "twin"), q.Twin)
	b = msgp.AppendStr(msgp.AppendStr(b, "id"), q.ID)
	return msgp.AppendStr(msgp.AppendStr(b, "d"), q.Digest), nil
}

// UnmarshalAttachRequest decodes and validates one request. Errors wrap
// ErrVersion or ErrMalformed as for UnmarshalEvent.
func UnmarshalAttachRequest(b []byte) (AttachRequest, error) {
	var q AttachRequest
	if err := precheck(b); err != nil {
		return AttachRequest{}, fmt.Errorf("attach request: %w", err)
	}
	r := newReader(b)
	err := r.fields("attach request", func(key []byte) (k int, err error) {
		switch string(key) {
		case "v":
			k = 0
			q.V, err = r.version()
		case "twin":
			k = 1
			q.Twin, err = r.Str()
		case "id":
			k = 2
			q.ID, err = r.Str()
		case "d":
			k = 3
			q.Digest, err = r.Str()
		default:
			return -1, nil
		}
		return k, err
	})
	if err != nil {
		return AttachRequest{}, fmt.Errorf("attach request: %w", err)
	}
	if err := validateAttachRequest(&q); err != nil {
		return AttachRequest{}, err
	}
	return q, nil
}

func validateAttachRequest(q *AttachRequest) error {
	if err := checkVersion(version{found: true, n: int64(q.V)}); err != nil {
		return fmt.Errorf("attach request: %w", err)
	}
	if err := checkID("twin ID", q.Twin); err != nil {
		return fmt.Errorf("attach request: %w", err)
	}
	if err := checkID("attachment ID", q.ID); err != nil {
		return fmt.Errorf("attach request: %w", err)
	}
	if !isDigest(q.Digest) {
		return malformed("attach request: digest %q is not a SHA-256 in lowercase hex", q.Digest)
	}
	return nil
}

// MarshalAttachReply encodes a, refusing what UnmarshalAttachReply would
// refuse. The caller sets a.V = Version.
func MarshalAttachReply(a *AttachReply) ([]byte, error) {
	if err := validateAttachReply(a); err != nil {
		return nil, err
	}
	n := 2
	if a.Error != "" {
		n++
	}
	b := make([]byte, 0, 32+len(a.Error))
	b = msgp.AppendMapLen(b, n)
	b = msgp.AppendInt(msgp.AppendStr(b, "v"), int64(a.V))
	b = msgp.AppendInt(msgp.AppendStr(b, "sz"), a.Size)
	if a.Error != "" {
		b = msgp.AppendStr(msgp.AppendStr(b, "err"), a.Error)
	}
	return b, nil
}

// UnmarshalAttachReply decodes and validates one reply. Errors wrap
// ErrVersion or ErrMalformed as for UnmarshalEvent.
func UnmarshalAttachReply(b []byte) (AttachReply, error) {
	var a AttachReply
	if err := precheck(b); err != nil {
		return AttachReply{}, fmt.Errorf("attach reply: %w", err)
	}
	r := newReader(b)
	err := r.fields("attach reply", func(key []byte) (k int, err error) {
		switch string(key) {
		case "v":
			k = 0
			a.V, err = r.version()
		case "sz":
			k = 1
			a.Size, err = r.int64()
		case "err":
			k = 2
			a.Error, err = r.Str()
		default:
			return -1, nil
		}
		return k, err
	})
	if err != nil {
		return AttachReply{}, fmt.Errorf("attach reply: %w", err)
	}
	if err := validateAttachReply(&a); err != nil {
		return AttachReply{}, err
	}
	return a, nil
}

func validateAttachReply(a *AttachReply) error {
	if err := checkVersion(version{found: true, n: int64(a.V)}); err != nil {
		return fmt.Errorf("attach reply: %w", err)
	}
	if a.Size < 0 {
		return malformed("attach reply: size %d is negative", a.Size)
	}
	return checkString("attach reply: error", a.Error)
}

// version reads a message's version as an int.
func (r *reader) version() (int, error) {
	off := r.Offset()
	v, err := r.int64()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, r.Fail(off, "version %d is out of range", v)
	}
	return int(v), nil
}
