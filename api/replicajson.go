package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/replica"
)

// The replica as people read and write it: what `rules test --to` prints
// and `rules test --from PEER --replica FILE` reads, one shape for both.
//
//	{
//	  "fields": {
//	    "summary": {"value": "Printer on fire", "clock": "2026-12-03T18:50:21.123Z+0@12D3KooW..."},
//	    "labels":  {"value": ["api", "db"]},
//	    "team":    {"value": "ops"}
//	  },
//	  "comments": [{"id": "12D3KooW.../7", "author": "Alice", "body": "Seen.", "created": "2026-12-03T18:50:21.123Z"}],
//	  "attachments": [{"id": "12D3KooW.../f1", "filename": "log.txt", "size": 12, "digest": "<sha256 hex>"}]
//	}
//
// Field names are the names rules use (replica.summary, replica["team"]);
// a value is a string or a list of strings. Clocks read as
// TIME+LOGICAL@PEER (TIME in UTC, RFC 3339 with milliseconds; "+LOGICAL"
// and "@PEER" may be left out); a clock left out reads as the moment of
// the test by the peer tested, a fresh edit, so the value wins the merge.
// A list field may carry "elements": {"api": {"clock": ..., "removed":
// false}}, its set with tombstones. Times are RFC 3339. An unknown key is
// refused, named with where it is.

// ReplicaJSON is a replica in the shape above.
type ReplicaJSON struct {
	Fields      map[string]FieldJSON `json:"fields,omitempty"`
	Comments    []CommentJSON        `json:"comments,omitempty"`
	Attachments []AttachmentJSON     `json:"attachments,omitempty"`
}

// FieldJSON is one field: Value is a string or a list of strings; Kind
// says what it holds (replica.Kind: number, date, option, options, user,
// users; empty for text), and a people field holds Users instead.
type FieldJSON struct {
	Value    any                 `json:"value"`
	Clock    string              `json:"clock,omitempty"`
	Elements map[string]ElemJSON `json:"elements,omitempty"`
	Kind     string              `json:"kind,omitempty"`
	Users    []replica.User      `json:"users,omitempty"`
}

// ElemJSON is one element of a list field's set.
type ElemJSON struct {
	Removed bool   `json:"removed,omitempty"`
	Clock   string `json:"clock,omitempty"`
}

// CommentJSON is a shared comment.
type CommentJSON struct {
	ID       string `json:"id"`
	Author   string `json:"author,omitempty"`
	Body     string `json:"body"`
	Created  string `json:"created,omitempty"`
	Internal bool   `json:"internal,omitempty"`
	Clock    string `json:"clock,omitempty"`
	Deleted  bool   `json:"deleted,omitempty"` // deleted where it was written
}

// AttachmentJSON is a shared file's metadata.
type AttachmentJSON struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size"`
	Digest      string `json:"digest"`
	Author      string `json:"author,omitempty"`
	Created     string `json:"created,omitempty"`
	Clock       string `json:"clock,omitempty"`
}

const jsonMillis = "2006-01-02T15:04:05.000Z"

// ReplicaToJSON is r in the shape people read.
func ReplicaToJSON(r replica.Replica) *ReplicaJSON {
	out := &ReplicaJSON{}
	clock := func(c replica.Clock) string {
		if c.IsZero() {
			return ""
		}
		return c.String()
	}
	millis := func(ms int64) string {
		if ms == 0 {
			return ""
		}
		return time.UnixMilli(ms).UTC().Format(jsonMillis)
	}
	if len(r.Fields) > 0 {
		out.Fields = make(map[string]FieldJSON, len(r.Fields))
	}
	for name, v := range r.Fields {
		f := FieldJSON{Value: v.S, Clock: clock(v.Clock), Kind: string(v.T), Users: v.U}
		if v.L != nil || len(v.E) > 0 || name == replica.FieldLabels {
			f.Value = append([]string{}, v.L...)
		}
		for e, el := range v.E {
			if f.Elements == nil {
				f.Elements = map[string]ElemJSON{}
			}
			f.Elements[e] = ElemJSON{Removed: el.Del, Clock: clock(el.Clock)}
		}
		out.Fields[name] = f
	}
	for _, c := range r.Comments {
		out.Comments = append(out.Comments, CommentJSON{ID: c.ID, Author: c.Author, Body: c.Body, Created: millis(c.Created), Internal: c.Internal, Clock: clock(c.Clock), Deleted: c.Deleted})
	}
	for _, a := range r.Attachments {
		out.Attachments = append(out.Attachments, AttachmentJSON{ID: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, Digest: a.Digest, Author: a.Author, Created: millis(a.Created), Clock: clock(a.Clock)})
	}
	return out
}

// ParseReplicaJSON reads a replica in the shape people write; a clock
// left out is now. Unknown keys are errors naming the key and where it is.
func ParseReplicaJSON(b []byte, now replica.Clock) (replica.Replica, error) {
	var r replica.Replica
	if err := checkKeys(b); err != nil {
		return r, err
	}
	var in ReplicaJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return r, fmt.Errorf("not a replica in JSON: %w", err)
	}
	clock := func(where, s string) (replica.Clock, error) {
		if s == "" {
			return now, nil
		}
		c, err := parseClock(s)
		if err != nil {
			return c, fmt.Errorf("%s: %w", where, err)
		}
		return c, nil
	}
	millis := func(where, s string) (int64, error) {
		if s == "" {
			return 0, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a time like 2026-12-03T18:50:21.123Z", where, s)
		}
		return t.UnixMilli(), nil
	}
	var err error
	for _, name := range slices.Sorted(maps.Keys(in.Fields)) {
		f := in.Fields[name]
		where := "fields." + name
		var v replica.Value
		switch x := f.Value.(type) {
		case string:
			v.S = x
		case []any:
			v.L = []string{}
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return r, fmt.Errorf("%s.value[%d]: a list field holds strings, not %v", where, i, e)
				}
				v.L = append(v.L, s)
			}
		case nil:
			if len(f.Elements) == 0 && len(f.Users) == 0 {
				return r, fmt.Errorf("%s: no value (a string or a list of strings)", where)
			}
		default:
			return r, fmt.Errorf("%s.value: a field holds a string or a list of strings, not %v", where, x)
		}
		if v.Clock, err = clock(where+".clock", f.Clock); err != nil {
			return r, err
		}
		v.T, v.U = replica.Kind(f.Kind), f.Users
		for e, el := range f.Elements {
			if v.E == nil {
				v.E = map[string]replica.Elem{}
			}
			c, err := clock(where+".elements."+e+".clock", el.Clock)
			if err != nil {
				return r, err
			}
			v.E[e] = replica.Elem{Del: el.Removed, Clock: c}
		}
		if len(v.E) > 0 {
			v.L = v.L[:0]
			for _, e := range slices.Sorted(maps.Keys(v.E)) {
				if !v.E[e].Del {
					v.L = append(v.L, e)
				}
			}
		}
		if r.Fields == nil {
			r.Fields = map[string]replica.Value{}
		}
		r.Fields[name] = v
	}
	for i, c := range in.Comments {
		where := fmt.Sprintf("comments[%d]", i)
		if c.ID == "" {
			return r, fmt.Errorf("%s: no id (the comment's global ID, as PEER/N)", where)
		}
		rc := replica.Comment{ID: c.ID, Author: c.Author, Body: c.Body, Internal: c.Internal, Deleted: c.Deleted}
		if rc.Created, err = millis(where+".created", c.Created); err != nil {
			return r, err
		}
		if rc.Clock, err = clock(where+".clock", c.Clock); err != nil {
			return r, err
		}
		r.Comments = append(r.Comments, rc)
	}
	for i, a := range in.Attachments {
		where := fmt.Sprintf("attachments[%d]", i)
		ra := replica.Attachment{ID: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, Digest: a.Digest, Author: a.Author}
		if ra.Created, err = millis(where+".created", a.Created); err != nil {
			return r, err
		}
		if ra.Clock, err = clock(where+".clock", a.Clock); err != nil {
			return r, err
		}
		r.Attachments = append(r.Attachments, ra)
	}
	return r, nil
}

// parseClock reads TIME[+LOGICAL][@PEER], as Clock.String writes it.
func parseClock(s string) (replica.Clock, error) {
	var c replica.Clock
	bad := fmt.Errorf("%q is not a clock like 2026-12-03T18:50:21.123Z+0@12D3KooW... (time in UTC, then +logical counter and @peer ID, both optional)", s)
	rest, peer, _ := strings.Cut(s, "@")
	c.Peer = peer
	tpart := rest
	if i := strings.LastIndexByte(rest, '+'); i > 0 && strings.HasSuffix(rest[:i], "Z") {
		n, err := strconv.ParseUint(rest[i+1:], 10, 32)
		if err != nil {
			return c, bad
		}
		c.Logical, tpart = uint32(n), rest[:i]
	}
	t, err := time.Parse(time.RFC3339Nano, tpart)
	if err != nil {
		return c, bad
	}
	c.Wall = t.UnixMilli()
	return c, nil
}

// The keys each object of the shape may have.
var (
	replicaKeys    = []string{"fields", "comments", "attachments"}
	fieldKeys      = []string{"value", "clock", "elements", "kind", "users"}
	elemKeys       = []string{"removed", "clock"}
	commentKeys    = []string{"id", "author", "body", "created", "internal", "clock", "deleted"}
	attachmentKeys = []string{"id", "filename", "content_type", "size", "digest", "author", "created", "clock"}
)

// checkKeys refuses a key the shape does not have, naming it and where.
func checkKeys(b []byte) error {
	top, err := object(b, "the replica", replicaKeys)
	if err != nil {
		return err
	}
	if raw, ok := top["fields"]; ok {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return fmt.Errorf("fields: an object of field names, not %s", short(raw))
		}
		for name, f := range fields {
			fo, err := object(f, "fields."+name, fieldKeys)
			if err != nil {
				return err
			}
			if raw, ok := fo["elements"]; ok {
				var els map[string]json.RawMessage
				if err := json.Unmarshal(raw, &els); err != nil {
					return fmt.Errorf("fields.%s.elements: an object of elements, not %s", name, short(raw))
				}
				for e, el := range els {
					if _, err := object(el, "fields."+name+".elements."+e, elemKeys); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, list := range []struct {
		key  string
		keys []string
	}{{"comments", commentKeys}, {"attachments", attachmentKeys}} {
		raw, ok := top[list.key]
		if !ok {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("%s: a list, not %s", list.key, short(raw))
		}
		for i, it := range items {
			if _, err := object(it, fmt.Sprintf("%s[%d]", list.key, i), list.keys); err != nil {
				return err
			}
		}
	}
	return nil
}

// object decodes an object and refuses keys not in allowed.
func object(b []byte, where string, allowed []string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		if where == "the replica" {
			return nil, fmt.Errorf("not a replica in JSON: %w", err)
		}
		return nil, fmt.Errorf("%s: an object, not %s", where, short(b))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown key %q in %s (it may have: %s)", k, where, strings.Join(allowed, ", "))
		}
	}
	return m, nil
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}
