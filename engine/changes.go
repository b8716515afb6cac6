package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// changeNote is what a queued record tells of its change beyond the names
// of what changed: old and new values, and when the tracker changed the
// issue (zero when not a tracker change the trigger saw).
type changeNote struct {
	changes []store.Change
	changed time.Time
}

// ValueChanges lists, for the history, the old and new value of each name
// of names (a field, "comment:ID" or "attachment:ID") between old and new.
// Values are cut to store.ChangeMax characters.
func ValueChanges(old, new replica.Replica, names []string) []store.Change {
	var out []store.Change
	for _, n := range names {
		out = append(out, store.NewChange(n, partText(old, n), partText(new, n)))
	}
	return out
}

// partText is a part of a replica as a person reads it: a field's text, a
// list's elements, a comment's body, a file's name and size; "" if absent.
func partText(r replica.Replica, name string) string {
	if id, ok := strings.CutPrefix(name, "comment:"); ok {
		c, _ := r.Comment(id)
		return c.Body
	}
	if id, ok := strings.CutPrefix(name, "attachment:"); ok {
		a, ok := r.Attachment(id)
		if !ok {
			return ""
		}
		return fmt.Sprintf("%s (%d bytes)", a.Filename, a.Size)
	}
	v, ok := r.Fields[name]
	if !ok {
		return ""
	}
	if len(v.L) > 0 {
		return strings.Join(v.L, ", ")
	}
	return v.S
}

// AgreedText is a replica's fields as a person reads them (field -> text,
// each cut to store.ChangeMax characters), for showing what both sides of
// a link last agreed on.
func AgreedText(r replica.Replica) map[string]string {
	if len(r.Fields) == 0 {
		return nil
	}
	out := make(map[string]string, len(r.Fields))
	for name := range r.Fields {
		c := store.NewChange(name, "", partText(r, name))
		out[name] = c.New
	}
	return out
}
