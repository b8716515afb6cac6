package store

import (
	"fmt"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// Held conflicts (issue 16): a conflict on a field whose connection's
// policy is "hold" waits for a person. Key hc/<twin>/<field>, so that
// `issuemesh status` lists them without reading every twin. Written by the
// engine when it records such a conflict, removed when it is settled.

// HeldConflict is a held conflict's index entry.
type HeldConflict struct {
	Twin     string `msgpack:"-"`
	Field    string `msgpack:"-"`
	Link     string `msgpack:"l"`
	Conflict string `msgpack:"c"` // its ID (replica.Conflict.ID)
}

func heldKey(twin, field string) string { return "hc/" + twin + "/" + field }

// PutHeld records a held conflict.
func (t *Tx) PutHeld(h HeldConflict) error { return t.setMsg(heldKey(h.Twin, h.Field), h) }

// DeleteHeld removes the held conflict of a twin's field, if any.
func (t *Tx) DeleteHeld(twin, field string) { t.del(heldKey(twin, field)) }

// HeldAll lists the held conflicts, by twin and field.
func (t *Tx) HeldAll() ([]HeldConflict, error) {
	var out []HeldConflict
	err := t.scan("hc/", false, func(key string, val []byte) (bool, error) {
		var h HeldConflict
		if err := msgpack.Unmarshal(val, &h); err != nil {
			return false, fmt.Errorf("decode %s: %w", key, err)
		}
		rest := strings.TrimPrefix(key, "hc/")
		twin, field, _ := strings.Cut(rest, "/")
		h.Twin, h.Field = twin, field
		out = append(out, h)
		return true, nil
	})
	return out, err
}
