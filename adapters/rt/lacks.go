package rt

import "github.com/issuemesh/issuemesh/adapters"

// Lacks declares the fields of issue 16 this adapter does not map yet:
// the contract suite skips them with this reason; what a patch sets of
// them is not written to the tracker (Update ignores it).
func (t *Tracker) Lacks() map[adapters.Feature]string {
	const why = "not mapped by this adapter yet"
	m := map[adapters.Feature]string{}
	for _, f := range []adapters.Feature{adapters.FeatAssignee, adapters.FeatReporter, adapters.FeatWatchers, adapters.FeatType,
		adapters.FeatDue, adapters.FeatStart, adapters.FeatCustomFields, adapters.FeatRelations, adapters.FeatParent,
		adapters.FeatCommentDelete, adapters.FeatFileDelete} {
		m[f] = why
	}
	return m
}
