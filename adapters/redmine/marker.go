package redmine

import (
	"regexp"
	"strconv"
	"strings"
)

// Markers out of sight.
//
// Redmine's web pages and HTML mail hide an HTML comment, but its
// plain-text mail prints a note as written (issue_edit.text.erb prints
// the journal's notes), so a marker at the end of a note reaches everyone
// notified. Where the issue custom field MarkerField exists (long text,
// visible to no role given to anyone: Redmine shows it to administrators
// only), the adapter sets it to the note's marker ("[issuemesh:comment
// ID]") in the same PUT as the note. The journal then records the change
// as one of its details, and Redmine shows a journal's details only as
// Journal#visible_details(user) allows: in its pages, its mail (each
// recipient's own) and its API. The note's text carries only the author
// line and what the person wrote. Reading puts the marker back at the end
// of the note for textmark.Split, so notes written either way are read
// the same. Without the field (or with a key that is not an
// administrator's, which cannot see it) the marker stays the note's last
// line, as before; `tracker check` warns about it.
//
// A file's markers (its global ID and digest, see attach.go) are kept the
// same way: set in the PUT that attaches it, a detail of the journal whose
// other detail is the file, so its description keeps only its author.
//
// A private note with field changes is split by Redmine into a journal
// with the changes, saved first, and the private note without them; the
// marker of such a note is the detail of the journal just before it.

var markerRE = regexp.MustCompile(`\[issuemesh:[^\]]*\]`)

// fieldMarker is the marker lines kept in MarkerField by the journal's
// details, one per paragraph as textmark.Add writes them, or "".
func fieldMarker(j journal, cf int) string {
	if cf == 0 {
		return ""
	}
	name := strconv.Itoa(cf)
	for _, d := range j.Details {
		if d.Property == "cf" && d.Name == name && d.NewValue != nil {
			return strings.Join(markerRE.FindAllString(*d.NewValue, -1), "\n\n")
		}
	}
	return ""
}

// fieldMarkers maps each journal whose note is marked in MarkerField to
// its marker lines.
func fieldMarkers(js []journal, nc *nameCache) map[int]string {
	out := map[int]string{}
	if nc == nil || nc.markerCF == 0 {
		return out
	}
	pending := "" // the marker of a journal Redmine split from a private note
	var pendingUser int
	for _, j := range js {
		m := fieldMarker(j, nc.markerCF)
		hasNotes := j.Notes != nil && *j.Notes != ""
		user := 0
		if j.User != nil {
			user = j.User.ID
		}
		switch {
		case m != "" && !hasNotes:
			pending, pendingUser = m, user
			continue
		case m != "":
			out[j.ID] = m
		case pending != "" && hasNotes && j.PrivateNotes && user == pendingUser:
			out[j.ID] = pending
		}
		pending = ""
	}
	return out
}

// withFieldMarkers returns the journals with the markers kept in
// MarkerField put back at the end of their notes.
func withFieldMarkers(js []journal, nc *nameCache) []journal {
	marks := fieldMarkers(js, nc)
	if len(marks) == 0 {
		return js
	}
	out := make([]journal, len(js))
	for i, j := range js {
		if m, ok := marks[j.ID]; ok && j.Notes != nil {
			notes := *j.Notes + "\n\n" + m
			j.Notes = &notes
		}
		out[i] = j
	}
	return out
}

// fieldMarked reports, by journal, whether its marker is kept in
// MarkerField (an edit of its note then writes no marker in the text).
func fieldMarked(js []journal, nc *nameCache) map[int]bool {
	out := map[int]bool{}
	for id := range fieldMarkers(js, nc) {
		out[id] = true
	}
	return out
}

// cfsOf returns the custom fields already in a PUT's fields.
func cfsOf(f fields) []map[string]any {
	cfs, _ := f["custom_fields"].([]map[string]any)
	return cfs
}

// fileFieldMarkers maps each file (by attachment number) attached by a
// journal that also set MarkerField to the markers it set.
func fileFieldMarkers(js []journal, nc *nameCache) map[int]string {
	out := map[int]string{}
	if nc == nil || nc.markerCF == 0 {
		return out
	}
	for _, j := range js {
		m := fieldMarker(j, nc.markerCF)
		if m == "" {
			continue
		}
		for _, d := range j.Details {
			if d.Property == "attachment" {
				if id, err := strconv.Atoi(d.Name); err == nil {
					out[id] = strings.ReplaceAll(m, "\n\n", " ")
				}
			}
		}
	}
	return out
}
