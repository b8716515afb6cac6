// Package replica defines the tracker-neutral messages that issuemesh nodes
// exchange (Replica, Event, Ack), their msgpack wire codec with hard limits,
// the hybrid logical clocks that order field edits, and the merge function
// that makes every node converge on the same field values.
//
// Wire: a frame is a uvarint length and one msgpack message (WriteFrame,
// ReadFrame). Messages are maps keyed by the structs' msgpack tags, exactly
// as github.com/vmihailenco/msgpack/v5 writes them; the codec in this package
// writes and reads that layout by hand, after a non-recursive pre-scan that
// enforces the hard limits (MaxStringLen, MaxListLen, MaxDepth, ...).
//
// Merge: every string field is a last-writer-wins register ordered by Clock.
// A list field (labels) is a last-writer-wins element set: each element
// carries the clock of its last add or remove (Value.E), so concurrent adds
// and removes of different elements on different nodes all survive.
// Comments are united by ID, each last-writer-wins. See Merge.
//
// Fields (fields.go): besides the five well-known strings and lists, an
// issue's people (assignee, reporter, watchers as identities), type, due and
// start dates, custom fields by name with typed values, and relations to
// other twins (a set of Relation elements) all travel as Values, so they
// merge like the rest. Comments and files are deleted by tombstone. Merge
// also finds conflicts: edits of one field that were concurrent (Conflict).
//
// The package is pure: no I/O beyond the io.Reader/io.Writer handed to the
// frame functions, no goroutines, no package-level mutable state.
package replica

// Version is the major wire version of every message. A message whose major
// version differs is refused with ErrVersion; unknown fields are ignored.
const Version = 1

// Well-known field names of a Replica. Rules may add others (custom fields);
// every field is merged the same way, last writer wins by Clock.
const (
	FieldSummary     = "summary"
	FieldDescription = "description"
	FieldStatus      = "status"
	FieldPriority    = "priority"
	FieldLabels      = "labels"
)

// Clock is a hybrid logical clock reading: wall time in milliseconds since the
// Unix epoch, a logical counter for events in the same millisecond, and the
// peer ID of the writer as the final tie-breaker. Clocks are totally ordered.
type Clock struct {
	Wall    int64  `msgpack:"w"`
	Logical uint32 `msgpack:"l"`
	Peer    string `msgpack:"p"`
}

// Value is one field of a replica: a string (S) or a list of strings (L), and
// the clock of the edit that set it. A field that is absent from
// Replica.Fields was not shared by the sender's rules and must be left alone
// by the receiver.
//
// A list field may also carry its elements as a set (E): every element ever
// added, present or removed (a tombstone), with the clock of its last add or
// remove. When E is not empty, L is derived from it: the present elements,
// sorted; Merge joins E element by element. Rules see L only. E holds at
// most MaxListLen elements, tombstones included.
//
// T says what the value holds (Kind: text, number, date, option, options,
// user, users; empty is text or a plain list). A user-valued field holds its
// people as identities in U, not in S or L. See fields.go for the
// well-known fields and the typed helpers.
//
// Base and Lost serve conflict detection (see Conflict): Base is the clock
// of the value the writer replaced, as it knew it when it made this edit (zero
// where unknown), and Lost is the greatest value concurrent with this one
// that lost to it in Merge. Neither is part of the value: two values that
// differ only there are the same value.
type Value struct {
	S     string          `msgpack:"s,omitempty"`
	L     []string        `msgpack:"l,omitempty"`
	E     map[string]Elem `msgpack:"e,omitempty"`
	Clock Clock           `msgpack:"c"`
	T     Kind            `msgpack:"t,omitempty"`
	U     []User          `msgpack:"u,omitempty"`
	Base  Clock           `msgpack:"b,omitempty"`
	Lost  *Side           `msgpack:"x,omitempty"`
}

// Elem is one element of a list field's set: the clock of its last add or
// remove, and whether that was a remove (a tombstone).
type Elem struct {
	Del   bool  `msgpack:"d,omitempty"`
	Clock Clock `msgpack:"c"`
}

// Comment is a comment as it travels between nodes. ID is global: the node
// where the comment was written mints it as "<peer ID>/<tracker comment ID>",
// every other node keeps it. Edits are last writer wins by Clock. A deleted
// comment stays as a tombstone (Deleted, with the clock of the deletion), so
// that the deletion reaches every node and a late copy of the comment does
// not bring it back; what a receiver makes of it is its rules' choice.
type Comment struct {
	ID       string `msgpack:"id"`
	Author   string `msgpack:"a,omitempty"`
	Body     string `msgpack:"b"`
	Created  int64  `msgpack:"t,omitempty"` // Unix milliseconds
	Internal bool   `msgpack:"i,omitempty"`
	Clock    Clock  `msgpack:"c"`
	Deleted  bool   `msgpack:"d,omitempty"`
}

// Replica is what outgoing rules extract from an issue: only the fields this
// side chooses to share, each with its clock, and the shared comments and
// files.
type Replica struct {
	Fields      map[string]Value `msgpack:"f,omitempty"`
	Comments    []Comment        `msgpack:"m,omitempty"`
	Attachments []Attachment     `msgpack:"at,omitempty"` // metadata only, see Attachment
}

// Event is one sync event: a replica of a twin, sent from its origin to one
// destination peer (Seq is then per destination) or to a network (Seq is then
// per author).
type Event struct {
	V         int    `msgpack:"v"`
	ID        string `msgpack:"id"`             // unique event ID, minted by the origin
	Twin      string `msgpack:"twin"`           // twin ID, minted by the node that first shared the issue
	Origin    string `msgpack:"o"`              // peer ID of the node that wrote the event
	Seq       uint64 `msgpack:"seq"`            // sequence per destination (or per author in a network)
	SourceKey string `msgpack:"key,omitempty"`  // the key in the origin's tracker
	Sent      int64  `msgpack:"sent,omitempty"` // Unix nanoseconds when appended, for latency figures
	// Changed is when the tracker says the issue changed (its updated
	// time, Unix nanoseconds; 0: not known), for the change-to-ack figure.
	Changed int64   `msgpack:"ch,omitempty"`
	Replica Replica `msgpack:"r"`
	// Op is what the event asks of the destination besides merging its
	// replica: "" (nothing), OpUnsync (stop syncing this twin, keeping
	// both issues) or OpLink (link the destination's existing issue
	// LinkKey to this twin, then merge).
	Op      string `msgpack:"op,omitempty"`
	LinkKey string `msgpack:"lk,omitempty"`
	// Net is the network ID of an event published to a network (empty for
	// an event to one peer).
	Net string `msgpack:"net,omitempty"`
	// Member, MemberName and MemberAddrs describe the member an OpMember
	// event is about: its peer ID, its name and the multiaddrs it is
	// reachable at. The event's replica holds the field MemberState with
	// MemberJoined or MemberLeft, clocked, so that the newest statement
	// about a member wins on every node.
	Member      string   `msgpack:"mb,omitempty"`
	MemberName  string   `msgpack:"mn,omitempty"`
	MemberAddrs []string `msgpack:"ma,omitempty"`
}

// Event operations.
const (
	OpUnsync = "unsync"
	OpLink   = "link"
	// OpMember is a network membership event: Member joined or left the
	// network Net (see Event.Member).
	OpMember = "member"
)

// Membership of a network member, in the MemberState field of an OpMember
// event's replica.
const (
	MemberState  = "member"
	MemberJoined = "joined"
	MemberLeft   = "left"
)

// Result is what the destination did with an event.
type Result uint8

const (
	ResultApplied Result = 1 // created or updated in the destination's tracker
	ResultSkipped Result = 2 // the destination's rules chose not to apply it
	ResultFailed  Result = 3 // it could not be applied; Error says why
)

// Ack is the destination's answer to one event.
type Ack struct {
	Seq      uint64 `msgpack:"seq"`
	EventID  string `msgpack:"id"`
	Twin     string `msgpack:"twin"`
	Result   Result `msgpack:"res"`
	LocalKey string `msgpack:"key,omitempty"` // the twin's key in the destination's tracker
	Error    string `msgpack:"err,omitempty"`
}

// Acks is the frame of the ack protocol: the answers to one or more events.
type Acks struct {
	V     int   `msgpack:"v"`
	Items []Ack `msgpack:"a"`
}
