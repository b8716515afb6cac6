package replica

import "fmt"

// Hard limits of the codec. A message that breaks one is refused with an
// error wrapping ErrMalformed, on decode and on encode alike, so that a node
// learns at once that its peers would refuse what it is about to send.
const (
	MaxStringLen = 1 << 20 // bytes in one string or binary value
	MaxListLen   = 10000   // elements in one array, or entries in one map
	MaxFields    = 256     // fields in one Replica
	MaxIDLen     = 256     // bytes in an ID (event, twin, peer) or a field name
	MaxDepth     = 16      // nesting of arrays and maps; the top-level map is depth 1
	// MaxMemberAddrs bounds the addresses in a membership event.
	MaxMemberAddrs = 32
	// MaxUsers bounds the people in one value (watchers, a multi-user
	// custom field). A person decodes to a struct of three strings, so the
	// bound keeps what a frame of empty identities can make the decoder
	// allocate small (MaxFields x 2 x MaxUsers x 48 bytes, about 2.4 MB).
	MaxUsers = 100
)

// MarshalEvent encodes e as one msgpack message. It sets nothing implicitly:
// the caller sets e.V = Version. An event that UnmarshalEvent would refuse
// (wrong version, missing IDs, a limit broken) is refused here too. Map keys
// are written in order, so equal events encode to equal bytes.
func MarshalEvent(e *Event) ([]byte, error) {
	if err := validateEvent(e); err != nil {
		return nil, err
	}
	return appendEvent(make([]byte, 0, eventSizeHint(e)), e), nil
}

// UnmarshalEvent decodes and validates one event. Unknown fields are ignored.
// Errors wrap ErrVersion for a message of another major version and
// ErrMalformed for anything else that is wrong with the bytes.
func UnmarshalEvent(b []byte) (Event, error) {
	var e Event
	if err := precheck(b); err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	r := newReader(b)
	if err := decodeEvent(&r, &e); err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	if err := validateEvent(&e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// MarshalAcks encodes a as one msgpack message, refusing what UnmarshalAcks
// would refuse. The caller sets a.V = Version.
func MarshalAcks(a *Acks) ([]byte, error) {
	if err := validateAcks(a); err != nil {
		return nil, err
	}
	return appendAcks(make([]byte, 0, acksSizeHint(a)), a), nil
}

// UnmarshalAcks decodes and validates one ack frame. Unknown fields are
// ignored. Errors wrap ErrVersion or ErrMalformed as for UnmarshalEvent.
func UnmarshalAcks(b []byte) (Acks, error) {
	var a Acks
	if err := precheck(b); err != nil {
		return Acks{}, fmt.Errorf("acks: %w", err)
	}
	r := newReader(b)
	if err := decodeAcks(&r, &a); err != nil {
		return Acks{}, fmt.Errorf("acks: %w", err)
	}
	if err := validateAcks(&a); err != nil {
		return Acks{}, err
	}
	return a, nil
}

// validateEvent checks what the pre-scan cannot: required fields and the
// limits on IDs, field names and the number of fields. It also checks the
// string and list limits so that MarshalEvent refuses what peers would.
func validateEvent(e *Event) error {
	if err := checkVersion(version{found: true, n: int64(e.V)}); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if err := checkID("event ID", e.ID); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if err := checkID("twin ID", e.Twin); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	if err := checkID("origin peer ID", e.Origin); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	if err := checkString("source key", e.SourceKey); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	if err := validateReplica(&e.Replica); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	if err := checkString("network ID", e.Net); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	if err := checkString("member name", e.MemberName); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	if len(e.MemberAddrs) > MaxMemberAddrs {
		return malformed("event %q: %d member addresses, the limit is %d", e.ID, len(e.MemberAddrs), MaxMemberAddrs)
	}
	for _, a := range e.MemberAddrs {
		if err := checkID("member address", a); err != nil {
			return fmt.Errorf("event %q: %w", e.ID, err)
		}
	}
	switch e.Op {
	case "", OpUnsync:
	case OpLink:
		if err := checkID("link key", e.LinkKey); err != nil {
			return fmt.Errorf("event %q: %w", e.ID, err)
		}
	case OpMember:
		if err := checkID("network ID", e.Net); err != nil {
			return fmt.Errorf("event %q: %w", e.ID, err)
		}
		if err := checkID("member peer ID", e.Member); err != nil {
			return fmt.Errorf("event %q: %w", e.ID, err)
		}
		if st, _ := e.Replica.Str(MemberState); st != MemberJoined && st != MemberLeft {
			return malformed("event %q: membership state %q, want %q or %q", e.ID, st, MemberJoined, MemberLeft)
		}
	default:
		return fmt.Errorf("event %q: operation %q is not one this node knows: %w", e.ID, e.Op, ErrMalformed)
	}
	return nil
}

func validateReplica(r *Replica) error {
	if len(r.Fields) > MaxFields {
		return malformed("replica has %d fields, the limit is %d", len(r.Fields), MaxFields)
	}
	for name, v := range r.Fields {
		if err := checkID("field name", name); err != nil {
			return err
		}
		if err := validateValue(&v); err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
	}
	if err := validateAttachments(r.Attachments); err != nil {
		return err
	}
	if len(r.Comments) > MaxListLen {
		return malformed("replica has %d comments, the limit is %d", len(r.Comments), MaxListLen)
	}
	for i := range r.Comments {
		c := &r.Comments[i]
		if c.ID == "" {
			return malformed("comment %d of %d has no ID", i+1, len(r.Comments))
		}
		for _, s := range [...]struct{ what, v string }{
			{"ID", c.ID}, {"author", c.Author}, {"body", c.Body}, {"clock peer ID", c.Clock.Peer},
		} {
			if err := checkString(s.what, s.v); err != nil {
				return fmt.Errorf("comment %d of %d: %w", i+1, len(r.Comments), err)
			}
		}
	}
	return nil
}

func validateValue(v *Value) error {
	if err := checkString("value", v.S); err != nil {
		return err
	}
	if len(v.L) > MaxListLen {
		return malformed("list of %d entries, the limit is %d", len(v.L), MaxListLen)
	}
	for _, s := range v.L {
		if err := checkString("list entry", s); err != nil {
			return err
		}
	}
	if len(v.E) > MaxListLen {
		return malformed("set of %d elements (tombstones included), the limit is %d", len(v.E), MaxListLen)
	}
	for s, el := range v.E {
		if err := checkString("set element", s); err != nil {
			return err
		}
		if err := checkString("element clock peer ID", el.Clock.Peer); err != nil {
			return err
		}
	}
	if err := checkString("clock peer ID", v.Clock.Peer); err != nil {
		return err
	}
	if err := checkString("base clock peer ID", v.Base.Peer); err != nil {
		return err
	}
	if x := v.Lost; x != nil {
		if err := validateValue(&Value{S: x.S, L: x.L, U: x.U, Clock: x.Clock}); err != nil {
			return fmt.Errorf("lost value: %w", err)
		}
	}
	return validateKind(v)
}

func validateAcks(a *Acks) error {
	if err := checkVersion(version{found: true, n: int64(a.V)}); err != nil {
		return fmt.Errorf("acks: %w", err)
	}
	if len(a.Items) > MaxListLen {
		return malformed("acks: %d items, the limit is %d", len(a.Items), MaxListLen)
	}
	for i := range a.Items {
		it := &a.Items[i]
		if it.Result < ResultApplied || it.Result > ResultFailed {
			return malformed("acks: item %d (event %q) has result %d, want 1 (applied), 2 (skipped) or 3 (failed)",
				i+1, it.EventID, it.Result)
		}
		if it.Twin == "" {
			return malformed("acks: item %d (event %q) has no twin ID", i+1, it.EventID)
		}
		for _, s := range [...]struct{ what, v string }{
			{"event ID", it.EventID}, {"twin ID", it.Twin}, {"local key", it.LocalKey}, {"error", it.Error},
		} {
			if err := checkString(s.what, s.v); err != nil {
				return fmt.Errorf("acks: item %d: %w", i+1, err)
			}
		}
	}
	return nil
}

func checkID(what, s string) error {
	if s == "" {
		return malformed("%s is empty", what)
	}
	if len(s) > MaxIDLen {
		return malformed("%s of %d bytes exceeds the %d-byte limit", what, len(s), MaxIDLen)
	}
	return nil
}

func checkString(what, s string) error {
	if len(s) > MaxStringLen {
		return malformed("%s of %d bytes exceeds the %d-byte limit", what, len(s), MaxStringLen)
	}
	return nil
}
