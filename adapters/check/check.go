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

// Values are the names a tracker accepts, which the maps of config.yaml
// are checked against. A nil list means the tracker takes any value there.
type Values struct {
	Statuses   []string `json:"statuses,omitempty"`
	Priorities []string `json:"priorities,omitempty"`
	// PriorityNumbers says numbers (0 to 100) are priorities too (RT).
	PriorityNumbers bool `json:"priority_numbers,omitempty"`
	// Fields are the custom fields rules may set through Issue.Extra.
	Fields []string `json:"fields,omitempty"`
	// CustomFields are the names of the custom fields the tracker has (kept
	// in adapters.Issue.Fields), which field_map keys are checked against;
	// nil: not checked (the tracker takes any name, as the local one does).
	CustomFields []string `json:"custom_fields,omitempty"`
}

// Vocabulary is implemented by adapters that can list their tracker's
// values.
type Vocabulary interface {
	// Values asks the tracker for its statuses, priorities and fields.
	Values(ctx context.Context) (Values, error)
}
