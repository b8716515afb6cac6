package adapters

// ExtraNotes is implemented by an adapter whose tracker keeps any key of
// Issue.Extra as a field of its own (the local tracker), so that a note the
// sync leaves on an issue, such as the name of a person the connection's
// user map does not know ("assignee at PEER") or a reference to an issue
// that is not synced ("relations at PEER"), can be kept there. Other
// trackers take only the Extra keys their adapter documents and refuse
// others (ErrRejected); the rules leave such a note as an internal comment
// instead, written once per value (see node/rules). An adapter that does
// not implement it keeps no notes in Extra.
type ExtraNotes interface {
	KeepsExtraNotes() bool
}

// KeepsExtraNotes reports whether t keeps notes in Issue.Extra.
func KeepsExtraNotes(t any) bool {
	n, ok := t.(ExtraNotes)
	return ok && n.KeepsExtraNotes()
}
