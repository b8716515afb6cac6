package redmine

import "github.com/issuemesh/issuemesh/adapters"

// Lacks declares what of the fields of issue 16 Redmine cannot hold: the
// contract suite skips it with this reason, `tracker check` reports it and
// the rules leave it out.
func (t *Tracker) Lacks() map[adapters.Feature]string {
	return map[adapters.Feature]string{
		adapters.FeatReporter: "Redmine's API cannot set an issue's author: the reporter is read (author), not written",
	}
}
