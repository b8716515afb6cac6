package store

import (
	"time"
	"unicode/utf8"
)

// Change is one field (or "comment:ID") that an event changed, with its
// value before and after as a history record keeps it. Texts longer than
// ChangeMax characters are cut, and Truncated says so: the history is for
// reading, the sync log keeps the full values elsewhere.
type Change struct {
	Field     string `msgpack:"f" json:"field"`
	Old       string `msgpack:"o,omitempty" json:"old"`
	New       string `msgpack:"n,omitempty" json:"new"`
	Truncated bool   `msgpack:"t,omitempty" json:"truncated,omitempty"`
}

// ChangeMax is how many characters of an old or new value a history record
// keeps.
const ChangeMax = 200

// NewChange is the change of field from old to new, each cut to ChangeMax
// characters.
func NewChange(field, old, new string) Change {
	c := Change{Field: field}
	var cutOld, cutNew bool
	c.Old, cutOld = cut(old)
	c.New, cutNew = cut(new)
	c.Truncated = cutOld || cutNew
	return c
}

func cut(s string) (string, bool) {
	if utf8.RuneCountInString(s) <= ChangeMax {
		return s, false
	}
	n := 0
	for i := range s {
		if n == ChangeMax {
			return s[:i] + "…", true
		}
		n++
	}
	return s, false
}

// ChangeToAck is how long from the tracker's change (the queued record's
// Changed) to the peer's ack (the ack record's Time); false when either is
// unknown.
func ChangeToAck(queued, ack Record) (time.Duration, bool) {
	if queued.Changed.IsZero() || ack.Time.IsZero() {
		return 0, false
	}
	return ack.Time.Sub(queued.Changed), true
}
