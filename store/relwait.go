package store

import (
	"fmt"
	"strings"
)

// ---- relations waiting for their other issue ----
//
// A relation received for a twin whose other issue is not here yet (it
// has not arrived, or it is not synced at all) waits until that issue
// lands, under two keys:
//
//	rw/<name>\x00<twin>\x00<kind>   the wait, found by what will name the other issue
//	rwt/<twin>\x00<kind>\x00<name>  the same wait, found by the twin that has it
//
// The name is the engine's (a twin ID or a peer's key, with a prefix that
// says which); the store only keeps it. A name may hold '/', never NUL.

// RelationWait is one relation of Twin's issue, of Kind, to the issue that
// Name will name once it lands here.
type RelationWait struct {
	Name string
	Twin string
	Kind string
}

func (w RelationWait) key() string { return "rw/" + w.Name + "\x00" + w.Twin + "\x00" + w.Kind }

func (w RelationWait) twinKey() string {
	return "rwt/" + w.Twin + "\x00" + w.Kind + "\x00" + w.Name
}

func (w RelationWait) check() error {
	if w.Name == "" || w.Twin == "" || w.Kind == "" || strings.ContainsRune(w.Name+w.Twin+w.Kind, 0) {
		return fmt.Errorf("relation wait %q of twin %q (%s): name, twin and kind are required, without NUL", w.Name, w.Twin, w.Kind)
	}
	return nil
}

// SetRelationWaits replaces the waits of twin with waits (each with Twin
// equal to twin); none removes them all.
func (t *Tx) SetRelationWaits(twin string, waits []RelationWait) error {
	keep := map[RelationWait]bool{}
	for _, w := range waits {
		if w.Twin != twin {
			return fmt.Errorf("relation wait of twin %q stored for twin %q", w.Twin, twin)
		}
		if err := w.check(); err != nil {
			return err
		}
		keep[w] = true
	}
	old, err := t.RelationWaitsOf(twin)
	if err != nil {
		return err
	}
	for _, w := range old {
		if !keep[w] {
			t.DeleteRelationWait(w)
		}
		delete(keep, w)
	}
	for _, w := range waits {
		if keep[w] {
			t.set(w.key(), nil)
			t.set(w.twinKey(), nil)
			delete(keep, w)
		}
	}
	return nil
}

// DeleteRelationWait removes one wait.
func (t *Tx) DeleteRelationWait(w RelationWait) {
	t.del(w.key())
	t.del(w.twinKey())
}

// RelationWaitsOf lists the waits of twin's issue (as committed).
func (t *Tx) RelationWaitsOf(twin string) ([]RelationWait, error) {
	var out []RelationWait
	err := t.scan("rwt/"+twin+"\x00", true, func(key string, _ []byte) (bool, error) {
		parts := strings.SplitN(strings.TrimPrefix(key, "rwt/"), "\x00", 3)
		if len(parts) != 3 {
			return false, fmt.Errorf("relation wait key %q: want rwt/<twin>\\x00<kind>\\x00<name>", key)
		}
		out = append(out, RelationWait{Twin: parts[0], Kind: parts[1], Name: parts[2]})
		return true, nil
	})
	return out, err
}

// RelationWaitsFor lists the waits for the issue named name (as committed).
func (t *Tx) RelationWaitsFor(name string) ([]RelationWait, error) {
	var out []RelationWait
	err := t.scan("rw/"+name+"\x00", true, func(key string, _ []byte) (bool, error) {
		w, err := parseWait(key)
		if err == nil {
			out = append(out, w)
		}
		return err == nil, err
	})
	return out, err
}

// RelationWaits calls fn for every wait (as committed).
func (t *Tx) RelationWaits(fn func(RelationWait) error) error {
	return t.scan("rw/", true, func(key string, _ []byte) (bool, error) {
		w, err := parseWait(key)
		if err != nil {
			return false, err
		}
		return true, fn(w)
	})
}

func parseWait(key string) (RelationWait, error) {
	parts := strings.Split(strings.TrimPrefix(key, "rw/"), "\x00")
	if len(parts) != 3 {
		return RelationWait{}, fmt.Errorf("relation wait key %q: want rw/<name>\\x00<twin>\\x00<kind>", key)
	}
	return RelationWait{Name: parts[0], Twin: parts[1], Kind: parts[2]}, nil
}
