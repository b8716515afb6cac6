// Package feed turns a tracker's "issues updated since T" listing, with
// timestamps of one-second resolution, into a change feed that loses
// nothing: the Changes of the Redmine and Request Tracker adapters.
//
// # The problem
//
// Such trackers stamp an issue's last update to the second, and a query
// "updated >= T" is all they offer. Asking "> T" after seeing an issue at T
// loses a second change made in the same second; asking ">= T" returns the
// issues seen at T again and again. And a change stamped T may commit a
// moment after a query at T+0.9 s ran.
//
// # The cursor
//
// A cursor is a second T and the keys of the issues already returned with
// that very stamp (T in Unix seconds; an empty cursor means from the
// start). Changes asks the tracker for the issues updated at or after T,
// oldest first, skips the ones listed for T, and returns the rest. The next
// cursor's second is the newest stamp returned, but never later than the
// tracker's clock (its Date header) minus Settle: only a second that is
// over by Settle is "settled", that is, no change with its stamp can still
// appear. Issues changed after that are therefore returned again by the
// next call (duplicates are allowed by the Tracker contract and cost the
// engine one comparison), and a second change within the same second is
// never lost, because the second it happened in was not yet settled when
// its first change was reported.
//
// A call that stops at its limit must still let the caller move on, even
// when more than limit issues are unsettled. So the cursor also lists, as
// key@stamp, the unsettled issues returned since the last call that reached
// the end of the listing (a "round"); they are skipped while the round
// lasts. The call that reaches the end drops the list, so the next round
// reports every unsettled issue again, in its latest state: a change made
// in the same second as one already reported in this round is reported in
// the next.
//
// Written out: "T:key,key,...;key@stamp,key@stamp,..." (parts empty when
// there is nothing to list).
package feed

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// DefaultSettle is how long after a second the tracker's commits stamped
// with it are assumed to be visible.
const DefaultSettle = 5 * time.Second

// Item is one issue in a listing: its key and last-update stamp.
type Item struct {
	Key     string
	Updated time.Time
}

// Page lists up to limit issues updated at or after since (the zero time:
// every issue), sorted by update stamp then key, skipping the first offset.
// It returns the tracker's clock at the time of the answer (the zero time
// when unknown).
type Page[T any] func(ctx context.Context, since time.Time, offset, limit int) (items []T, now time.Time, err error)

// Cursor is a decoded cursor.
type Cursor struct {
	T    int64            // Unix seconds; 0: from the start
	Seen map[string]bool  // keys returned with stamp T
	Skip map[string]int64 // unsettled issues returned in this round: key -> stamp
}

// Parse decodes a cursor made by Next ("" is the start).
func Parse(c adapters.Cursor) (Cursor, error) {
	out := Cursor{Seen: map[string]bool{}, Skip: map[string]int64{}}
	if c == "" {
		return out, nil
	}
	bad := fmt.Errorf("change cursor %q is not valid: want SECONDS:KEY,...;KEY@SECONDS,... as returned by Changes, or empty to start from the beginning", c)
	ts, rest, _ := strings.Cut(string(c), ":")
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || t < 0 {
		return out, bad
	}
	out.T = t
	keys, skips, _ := strings.Cut(rest, ";")
	if keys != "" {
		for k := range strings.SplitSeq(keys, ",") {
			out.Seen[k] = true
		}
	}
	if skips != "" {
		for ks := range strings.SplitSeq(skips, ",") {
			k, st, ok := strings.Cut(ks, "@")
			sec, err := strconv.ParseInt(st, 10, 64)
			if !ok || err != nil {
				return out, bad
			}
			out.Skip[k] = sec
		}
	}
	return out, nil
}

// String encodes the cursor.
func (c Cursor) String() adapters.Cursor {
	if c.T == 0 && len(c.Seen) == 0 && len(c.Skip) == 0 {
		return ""
	}
	keys := make([]string, 0, len(c.Seen))
	for k := range c.Seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	skips := make([]string, 0, len(c.Skip))
	for k, sec := range c.Skip {
		skips = append(skips, k+"@"+strconv.FormatInt(sec, 10))
	}
	slices.Sort(skips)
	out := strconv.FormatInt(c.T, 10) + ":" + strings.Join(keys, ",")
	if len(skips) > 0 {
		out += ";" + strings.Join(skips, ",")
	}
	return adapters.Cursor(out)
}

// Options tune Changes.
type Options struct {
	// Settle: see the package documentation (default DefaultSettle).
	Settle time.Duration
	// PageSize is the page size asked of the tracker (default 100).
	PageSize int
	// Now is the local clock, used when the tracker sends no Date.
	Now func() time.Time
}

// Changes returns up to limit items changed after since, oldest first, and
// the next cursor. key and updated read an item of type T.
func Changes[T any](ctx context.Context, since adapters.Cursor, limit int, opts Options, page Page[T], key func(T) string, updated func(T) time.Time) ([]T, adapters.Cursor, error) {
	cur, err := Parse(since)
	if err != nil {
		return nil, since, err
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if limit <= 0 {
		limit = 1000
	}
	var (
		out      []T
		returned = map[string]bool{}
		serverAt time.Time
		from     = cur.T
		offset   = 0
	)
	for len(out) < limit {
		var sinceT time.Time
		if from > 0 {
			sinceT = time.Unix(from, 0).UTC()
		}
		items, now, err := page(ctx, sinceT, offset, opts.PageSize)
		if err != nil {
			return nil, since, err
		}
		if serverAt.IsZero() {
			serverAt = now
			if serverAt.IsZero() {
				serverAt = opts.Now()
			}
		}
		for _, it := range items {
			k, sec := key(it), updated(it).Unix()
			if sec < cur.T || (sec == cur.T && cur.Seen[k]) || returned[k] {
				continue
			}
			if st, ok := cur.Skip[k]; ok && st == sec {
				continue
			}
			returned[k] = true
			out = append(out, it)
			if len(out) == limit {
				break
			}
		}
		if len(items) < opts.PageSize || len(out) == limit {
			break
		}
		if last := updated(items[len(items)-1]).Unix(); last > from {
			from, offset = last, 0
		} else {
			offset += len(items)
		}
	}
	roundEnds := len(out) < limit
	if len(out) == 0 {
		cur.Skip = nil
		return nil, cur.String(), nil
	}
	settled := serverAt.Add(-opts.Settle).Unix()
	newest := updated(out[len(out)-1]).Unix()
	for _, it := range out {
		newest = max(newest, updated(it).Unix())
	}
	next := Cursor{T: max(cur.T, min(newest, settled)), Seen: map[string]bool{}, Skip: map[string]int64{}}
	if next.T == cur.T {
		next.Seen = cur.Seen
	}
	for k, sec := range cur.Skip {
		switch {
		case sec == next.T:
			next.Seen[k] = true
		case sec > next.T && !roundEnds:
			next.Skip[k] = sec
		}
	}
	for _, it := range out {
		k, sec := key(it), updated(it).Unix()
		switch {
		case sec == next.T:
			next.Seen[k] = true
		case sec > next.T && !roundEnds:
			next.Skip[k] = sec
		}
	}
	return out, next.String(), nil
}
