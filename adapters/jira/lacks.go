package jira

import "github.com/issuemesh/issuemesh/adapters"

// Lacks declares what of the fields of issue 16 this adapter does not
// hold: the contract suite skips it with this reason, `tracker check`
// reports it and the rules leave it out. What a patch sets of it is not
// written (Update ignores it): never an error that blocks a twin.
func (t *Tracker) Lacks() map[adapters.Feature]string {
	return map[adapters.Feature]string{
		adapters.FeatWatchers: "Jira lists an issue's watchers only through a request of its own per issue (GET /issue/{key}/watchers), which would add one request to every read; watchers are not synced",
		adapters.FeatStart:    "Jira has no system start date; a project's \"Start date\" custom field (a date picker) syncs as a custom field by its name",
	}
}
