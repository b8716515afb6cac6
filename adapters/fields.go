package adapters

import "slices"

// The fields of an issue beyond summary, description, status, priority and
// labels, in normalised form. An adapter fills what its tracker has and
// declares what it lacks (Lacking); the rules turn them into replica fields
// (replica/fields.go) and back.

// User is a person as a tracker knows them. Trackers fill what they have:
// Redmine a login and a name, RT an email and a name, the local tracker
// whatever was typed. At least one part is set.
type User struct {
	Email string `json:"email,omitempty"`
	Login string `json:"login,omitempty"`
	Name  string `json:"name,omitempty"` // display name
}

// IsZero reports whether u names nobody.
func (u User) IsZero() bool { return u == User{} }

// Label is how u is shown: the name, else the login, else the email.
func (u User) Label() string {
	switch {
	case u.Name != "":
		return u.Name
	case u.Login != "":
		return u.Login
	}
	return u.Email
}

// Matches reports whether u and o are the same person: an equal email, or
// an equal login (display names are not identities).
func (u User) Matches(o User) bool {
	return (u.Email != "" && u.Email == o.Email) || (u.Login != "" && u.Login == o.Login)
}

// Field kinds of custom fields (the same words as replica.Kind).
const (
	KindText    = ""
	KindNumber  = "number"
	KindDate    = "date"
	KindOption  = "option"
	KindOptions = "options"
	KindUser    = "user"
)

// FieldValue is the value of a tracker's custom field, typed by Kind: Text
// for text, number (decimal), date (YYYY-MM-DD) and option; Options for
// options; User for user. The zero value of a kind clears the field.
type FieldValue struct {
	Kind    string   `json:"kind,omitempty"`
	Text    string   `json:"text,omitempty"`
	Options []string `json:"options,omitempty"`
	User    *User    `json:"user,omitempty"`
}

// IsZero reports whether the value is empty (the field is unset).
func (v FieldValue) IsZero() bool {
	return v.Text == "" && len(v.Options) == 0 && (v.User == nil || v.User.IsZero())
}

// Equal reports whether two values are the same (a nil and an empty
// Options are equal).
func (v FieldValue) Equal(o FieldValue) bool {
	if v.Kind != o.Kind || v.Text != o.Text || !slices.Equal(v.Options, o.Options) {
		return false
	}
	a, b := v.User, o.User
	if a == nil || a.IsZero() {
		return b == nil || b.IsZero()
	}
	return b != nil && *a == *b
}

// Relation kinds (the same words as replica.RelationKind).
const (
	RelBlocks       = "blocks"
	RelBlockedBy    = "blocked-by"
	RelRelates      = "relates"
	RelDuplicates   = "duplicates"
	RelDuplicatedBy = "duplicated-by"
	RelParent       = "parent" // Key is this parent
	RelChild        = "child"  // Key is a child of this issue
)

// Relation is a link of an issue to another issue of the same tracker,
// named by its key. Summary is informative (filled where the tracker gives
// it); a relation to an issue of another system, which the tracker cannot
// hold as a relation, lands as a visible reference instead (see the rules).
type Relation struct {
	Kind    string `json:"kind"`
	Key     string `json:"key"`
	Summary string `json:"summary,omitempty"`
}

// Feature names what an adapter may lack (Lacking).
type Feature string

// The features of the fields above.
const (
	FeatAssignee      Feature = "assignee"
	FeatReporter      Feature = "reporter"
	FeatWatchers      Feature = "watchers"
	FeatType          Feature = "type"
	FeatDue           Feature = "due"
	FeatStart         Feature = "start"
	FeatCustomFields  Feature = "custom_fields"
	FeatTypedFields   Feature = "typed_fields" // custom fields of kinds other than text
	FeatRelations     Feature = "relations"
	FeatParent        Feature = "parent"
	FeatCommentEdit   Feature = "comment_edit"
	FeatCommentDelete Feature = "comment_delete"
	FeatFileDelete    Feature = "file_delete"
)

// Lacking is implemented by an adapter whose tracker lacks some features:
// it returns each one with the reason, for `tracker check`, the contract
// suite (which skips them with the reason) and the rules (which leave them
// out, reported once, never an error that blocks a twin). An adapter that
// does not implement it has every feature.
type Lacking interface {
	Lacks() map[Feature]string
}

// LacksOf returns what t lacks, nil when it lacks nothing.
func LacksOf(t any) map[Feature]string {
	if l, ok := t.(Lacking); ok {
		return l.Lacks()
	}
	return nil
}
