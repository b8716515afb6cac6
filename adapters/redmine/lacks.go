package redmine

import "github.com/issuemesh/issuemesh/adapters"

// Lacks declares what of the fields of issue 16 Redmine cannot hold: the
// contract suite skips it with this reason, `tracker check` reports it and
// the rules leave it out. What a patch sets of it is not written (Update
// ignores it), and neither is a custom field or a person Redmine does not
// know (a warning, once): never an error that blocks a twin.
func (t *Tracker) Lacks() map[adapters.Feature]string {
	return map[adapters.Feature]string{
		adapters.FeatReporter: "Redmine's API cannot set an issue's author: the reporter is read (author), not written",
	}
}
