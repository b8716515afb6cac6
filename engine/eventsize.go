package engine

import (
	"fmt"

	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/replica"
)

// CheckEventSize refuses, before anything is stamped or logged, an
// outgoing replica that the codec or the peer would refuse for its size: a
// value over replica.MaxStringLen, a list over replica.MaxListLen, too many
// fields, or an event (out together with what the link agreed, which the
// event carries too) over the frame limit. The error names the field and
// the limit, for `issuemesh errors`; share blocks only that twin with it.
func CheckEventSize(key string, out replica.Replica, agreed *replica.Replica) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("issue %s cannot be shared: "+format, append([]any{key}, args...)...)
	}
	if len(out.Fields) > replica.MaxFields {
		return refuse("it has %d fields; the limit for one event is %d", len(out.Fields), replica.MaxFields)
	}
	total := 0
	for name, v := range out.Fields {
		size := len(v.S)
		if size > replica.MaxStringLen {
			return refuse("field %s is %s; the limit for one value in an event is %s", name, humanBytes(size), humanBytes(replica.MaxStringLen))
		}
		if len(v.L) > replica.MaxListLen {
			return refuse("field %s has %d values; the limit for one event is %d", name, len(v.L), replica.MaxListLen)
		}
		for _, e := range v.L {
			if len(e) > replica.MaxStringLen {
				return refuse("a value of field %s is %s; the limit for one value in an event is %s", name, humanBytes(len(e)), humanBytes(replica.MaxStringLen))
			}
			size += len(e)
		}
		total += size
	}
	if len(out.Comments) > replica.MaxListLen {
		return refuse("it has %d comments; the limit for one event is %d", len(out.Comments), replica.MaxListLen)
	}
	for _, c := range out.Comments {
		if len(c.Body) > replica.MaxStringLen {
			return refuse("comment %s is %s; the limit for one value in an event is %s", c.ID, humanBytes(len(c.Body)), humanBytes(replica.MaxStringLen))
		}
		total += len(c.Body) + len(c.Author)
	}
	if len(out.Attachments) > replica.MaxListLen {
		return refuse("it has %d files; the limit for one event is %d", len(out.Attachments), replica.MaxListLen)
	}
	if agreed != nil {
		// What the peer sent and the link agreed travels in the event too.
		for name, v := range agreed.Fields {
			if _, ok := out.Fields[name]; ok {
				continue
			}
			total += len(v.S)
			for _, e := range v.L {
				total += len(e)
			}
		}
		if extra := commentBytes(agreed.Comments) - commentBytes(out.Comments); extra > 0 {
			total += extra
		}
	}
	// Keys, clocks and IDs: a generous allowance per frame.
	if limit := replica.DefaultMaxFrame - 64<<10; total > limit {
		return refuse("the event would be %s; the limit for one event is %s", humanBytes(total), humanBytes(replica.DefaultMaxFrame))
	}
	return nil
}

func commentBytes(cs []replica.Comment) int {
	n := 0
	for _, c := range cs {
		n += len(c.Body) + len(c.Author)
	}
	return n
}

// humanBytes writes a size as people read it: 1.5 MB, 1 MiB, 300 bytes.
func humanBytes(n int) string { return rules.SizeText(int64(n)) }
