// Package check is the shape of a tracker adapter's self-check, which
// `issuemesh tracker check` prints: one Result per thing verified
// (connectivity, credentials, project, statuses, custom fields, ...).
package check

import "context"

// Result is one verified thing.
type Result struct {
	// Name says what was checked, e.g. "credentials".
	Name string `json:"name"`
	// OK is false when the node cannot work with the tracker as it is.
	OK bool `json:"ok"`
	// Warning marks an OK result that limits what syncs (e.g. no labels
	// field: labels are not kept).
	Warning bool `json:"warning,omitempty"`
	// Detail is what was found, or what is wrong and how to fix it.
	Detail string `json:"detail"`
}

// Checker is implemented by adapters that can check their set-up.
type Checker interface {
	// Check verifies the set-up and reports every finding. It stops early
	// only when a finding makes the rest meaningless (e.g. unreachable).
	Check(ctx context.Context) []Result
}
