package engine

import (
	"github.com/issuemesh/issuemesh/replica"
)

// Share, clears: the outgoing rules leave out a field the issue does not
// hold (no assignee, no due date, a custom field without a value), as
// adapters do. For the fields of issue 16 (people, type, dates, custom
// fields, relations) a field that the link's baseline holds with a value
// and that the rules leave out now was cleared here: the share sends it
// as the empty value of its kind, which lands at the partner as a clear.
// When an incoming change lands a value the issue cannot show (a person
// the user map does not know lands unassigned), the baseline forgets the
// field (rebase), so that what the issue shows is not sent back as a
// clear.

// clearable reports whether a field left out by the rules is cleared.
func clearable(name string) bool {
	switch name {
	case replica.FieldAssignee, replica.FieldReporter, replica.FieldWatchers, replica.FieldType,
		replica.FieldDue, replica.FieldStart, replica.FieldRelations:
		return true
	}
	_, ok := replica.CustomName(name)
	return ok
}

// emptyValue reports whether v holds nothing.
func emptyValue(v replica.Value) bool {
	return v.S == "" && len(v.L) == 0 && len(v.U) == 0 && len(v.E) == 0
}

// withClears returns out with the empty value of each clearable field that
// baseline holds with a value and out leaves out (out itself when there is
// none).
func withClears(out, baseline replica.Replica) replica.Replica {
	cloned := false
	for name, old := range baseline.Fields {
		if _, ok := out.Fields[name]; ok || !clearable(name) || emptyValue(old) {
			continue
		}
		if !cloned {
			out, cloned = out.Clone(), true
		}
		out.Set(name, replica.Value{T: old.T})
	}
	return out
}
