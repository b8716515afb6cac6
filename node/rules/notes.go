package rules

// Notes: what the sync keeps visible on an issue about a value that could
// not land as it is (a person the user map does not know, a relation whose
// other issue is not synced). Where the tracker keeps any issue.extra key
// (Options.NotesInExtra: the local tracker, adapters.ExtraNotes) a note is
// the extra field KEY ("assignee at PEER") and follows the value: it
// changes with it and is removed when the value lands. Other trackers take
// only the extra keys their adapter knows, so there a note is an internal
// comment "KEY: VALUE", written once per value (its SyncID is NoteID(KEY,
// VALUE), which the tracker's adapter keeps, so a later sync finds it and
// writes no second one) and never removed: it stays as the record of what
// the partner had. Internal comments do not leave by the default outgoing
// rules, so a note is not sent back to the partner.

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/issuemesh/issuemesh/adapters"
)

// NoteAuthor is the author of the comments that hold notes.
const NoteAuthor = "issuemesh"

// NoteID is the SyncID of the comment that holds the note key: value.
func NoteID(key, value string) string {
	h := sha256.Sum256([]byte(key + "\n" + value))
	return "note/" + hex.EncodeToString(h[:8])
}

// NoteText is the body of the comment that holds the note key: value.
func NoteText(key, value string) string { return key + ": " + value }

// note leaves the note key: value on the issue (cur, as it is now) through
// p; value "" removes a note kept in extra.
func (s *Set) note(cur adapters.Issue, p *adapters.Patch, key, value string) {
	if s.notesInExtra {
		if cur.Extra[key] == value { // an absent key reads as "": nothing to remove
			return
		}
		if p.Extra == nil {
			p.Extra = map[string]string{}
		}
		p.Extra[key] = value
		return
	}
	if value == "" {
		return
	}
	id := NoteID(key, value)
	has := func(c adapters.Comment) bool { return c.SyncID == id }
	if slices.ContainsFunc(cur.Comments, has) || slices.ContainsFunc(p.AddComments, has) {
		return
	}
	p.AddComments = append(p.AddComments, adapters.Comment{SyncID: id, Author: NoteAuthor, Body: NoteText(key, value), Internal: true})
}

// applyNotes leaves the notes of an incoming rule's note() calls on the
// issue to create or through the patch.
func (s *Set) applyNotes(cur *adapters.Issue, res *Result, notes [][2]string) {
	if len(notes) == 0 || res.Skip {
		return
	}
	if res.Create != nil {
		var p adapters.Patch
		for _, n := range notes {
			s.note(adapters.Issue{}, &p, n[0], n[1])
		}
		for k, v := range p.Extra {
			if v == "" {
				continue
			}
			if res.Create.Extra == nil {
				res.Create.Extra = map[string]string{}
			}
			res.Create.Extra[k] = v
		}
		res.Create.Comments = append(res.Create.Comments, p.AddComments...)
		return
	}
	if cur == nil {
		return
	}
	for _, n := range notes {
		s.note(*cur, &res.Patch, n[0], n[1])
	}
}
