package local

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

const wait = 10 * time.Second // deadline for anything a test waits for

func openTest(t testing.TB, dir string, opts Options) *Tracker {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	tr, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tr
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newTest(t testing.TB) *Tracker { return openTest(t, t.TempDir(), Options{}) }

func create(t testing.TB, tr *Tracker, in adapters.Issue) adapters.Issue {
	t.Helper()
	got, err := tr.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("Create(%q): %v", in.Summary, err)
	}
	return got
}

func get(t testing.TB, tr *Tracker, key string) adapters.Issue {
	t.Helper()
	got, err := tr.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return got
}

// cursorNow drains the change feed and returns its end.
func cursorNow(t testing.TB, tr *Tracker) adapters.Cursor {
	t.Helper()
	var c adapters.Cursor
	for {
		got, next, err := tr.Changes(context.Background(), c, 0)
		if err != nil {
			t.Fatalf("Changes: %v", err)
		}
		if len(got) == 0 {
			return c
		}
		c = next
	}
}

func changesSince(t testing.TB, tr *Tracker, c adapters.Cursor) []adapters.Issue {
	t.Helper()
	got, _, err := tr.Changes(context.Background(), c, 0)
	if err != nil {
		t.Fatalf("Changes(%q): %v", c, err)
	}
	return got
}

// withoutTimes zeroes the times so that issues compare by content.
func withoutTimes(is adapters.Issue) adapters.Issue {
	is.Created, is.Updated, is.Rev = time.Time{}, time.Time{}, "" // Rev changes with every write
	is.Comments = slices.Clone(is.Comments)
	for i := range is.Comments {
		is.Comments[i].Created, is.Comments[i].Updated = time.Time{}, time.Time{}
	}
	return is
}

func checkTime(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.IsZero() || tm.Location() != time.UTC || !tm.Equal(tm.Truncate(time.Millisecond)) {
		t.Errorf("%s = %v: want a UTC time with millisecond precision", what, tm)
	}
}

func keys(is []adapters.Issue) []string {
	out := make([]string, len(is))
	for i, x := range is {
		out[i] = x.Key
	}
	return out
}

func seqKeys(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("LOCAL-%d", i))
	}
	return out
}

func TestCreateGet(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))
	tests := []struct {
		name string
		in   adapters.Issue
		want adapters.Issue // times and key not compared
	}{
		{
			name: "defaults",
			in:   adapters.Issue{Summary: "first"},
			want: adapters.Issue{Summary: "first", Status: "Open", Priority: "Normal"},
		},
		{
			name: "every field",
			in: adapters.Issue{
				Key: "OTHER-9", Summary: "full", Description: "desc", Status: "In Progress", Priority: "High",
				Labels: []string{"b", "a", "b", ""},
				Extra:  map[string]string{"team": "core", "gone": ""},
				Comments: []adapters.Comment{
					{ID: "77", SyncID: "g1", Author: "ann", Body: "one", Created: t0},
					{Body: "two", Internal: true},
				},
				TwinID: "twin-create",
			},
			want: adapters.Issue{
				Summary: "full", Description: "desc", Status: "In Progress", Priority: "High",
				Labels: []string{"a", "b"},
				Extra:  map[string]string{"team": "core"},
				Comments: []adapters.Comment{
					{ID: "1", SyncID: "g1", Author: "ann", Body: "one"},
					{ID: "2", Body: "two", Internal: true},
				},
				TwinID: "twin-create",
			},
		},
		{
			name: "only empty labels",
			in:   adapters.Issue{Summary: "x", Labels: []string{"", ""}},
			want: adapters.Issue{Summary: "x", Status: "Open", Priority: "Normal"},
		},
	}
	tr := newTest(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := create(t, tr, tc.in)
			if wantKey := fmt.Sprintf("LOCAL-%d", i+1); got.Key != wantKey {
				t.Errorf("key = %s, want %s", got.Key, wantKey)
			}
			tc.want.Key = got.Key
			if !reflect.DeepEqual(withoutTimes(got), tc.want) {
				t.Errorf("Create returned\n%+v\nwant\n%+v", withoutTimes(got), tc.want)
			}
			checkTime(t, "Created", got.Created)
			if !got.Updated.Equal(got.Created) {
				t.Errorf("Updated %v != Created %v on a new issue", got.Updated, got.Created)
			}
			for _, c := range got.Comments {
				if c.Created.IsZero() || c.Updated.IsZero() || c.Created.Location() != time.UTC {
					t.Errorf("comment %s times: created %v updated %v", c.ID, c.Created, c.Updated)
				}
			}
			if again := get(t, tr, got.Key); !reflect.DeepEqual(again, got) {
				t.Errorf("Get returned\n%+v\nCreate returned\n%+v", again, got)
			}
			// The prefix of a key is matched case-insensitively.
			if again := get(t, tr, strings.ToLower(got.Key)); again.Key != got.Key {
				t.Errorf("Get(lower case) key = %s", again.Key)
			}
		})
	}
	if c := get(t, tr, "LOCAL-2").Comments[0]; !c.Created.Equal(t0) || !c.Updated.Equal(t0) || c.Created.Location() != time.UTC {
		t.Errorf("a given comment time was not kept (as UTC): created %v updated %v", c.Created, c.Updated)
	}
}

func TestCreateRejected(t *testing.T) {
	tr := newTest(t)
	create(t, tr, adapters.Issue{Summary: "has twin", TwinID: "taken"})
	start := cursorNow(t, tr)
	tests := []struct {
		name    string
		in      adapters.Issue
		mention string
	}{
		{"empty summary", adapters.Issue{Description: "no summary"}, "summary"},
		{"blank summary", adapters.Issue{Summary: " \t\n"}, "summary"},
		{"twin taken", adapters.Issue{Summary: "s", TwinID: "taken"}, "LOCAL-1"},
		{"twin too long", adapters.Issue{Summary: "s", TwinID: strings.Repeat("t", maxTwinLen+1)}, "twin marker"},
		{"extra without name", adapters.Issue{Summary: "s", Extra: map[string]string{"": "v"}}, "empty name"},
		{"too large", adapters.Issue{Summary: "s", Description: strings.Repeat("d", maxRecordSize)}, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tr.Create(context.Background(), tc.in)
			if !errors.Is(err, adapters.ErrRejected) {
				t.Fatalf("Create error = %v, want one wrapping ErrRejected", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
	if got := changesSince(t, tr, start); len(got) != 0 {
		t.Errorf("rejected creates wrote %v", keys(got))
	}
	if got := create(t, tr, adapters.Issue{Summary: "next"}); got.Key != "LOCAL-2" {
		t.Errorf("after rejected creates the next key is %s, want LOCAL-2", got.Key)
	}
}

func TestGetNotFound(t *testing.T) {
	tr := newTest(t)
	create(t, tr, adapters.Issue{Summary: "one"})
	for _, key := range []string{"LOCAL-2", "LOCAL-0", "LOCAL-01", "LOCAL-x", "LOCAL-", "OTHER-1", "", "LOCAL-18446744073709551616"} {
		_, err := tr.Get(context.Background(), key)
		if !errors.Is(err, adapters.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
			continue
		}
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Get(%q) error %q does not name the key", key, err)
		}
	}
}

func TestUpdate(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	type check func(t *testing.T, before, after adapters.Issue)
	commentBodies := func(want ...string) check {
		return func(t *testing.T, _, after adapters.Issue) {
			var got []string
			for _, c := range after.Comments {
				got = append(got, c.Body)
			}
			if !slices.Equal(got, want) {
				t.Errorf("comment bodies %q, want %q", got, want)
			}
		}
	}
	tests := []struct {
		name   string
		patch  adapters.Patch
		change bool
		check  check
	}{
		{name: "empty patch", patch: adapters.Patch{}},
		{name: "summary", patch: adapters.Patch{Summary: new("new")}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				if a.Summary != "new" {
					t.Errorf("summary %q", a.Summary)
				}
			}},
		{name: "same summary", patch: adapters.Patch{Summary: new("base")}},
		{name: "description cleared", patch: adapters.Patch{Description: new("")}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				if a.Description != "" {
					t.Errorf("description %q", a.Description)
				}
			}},
		{name: "status", patch: adapters.Patch{Status: new("Done")}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				if a.Status != "Done" {
					t.Errorf("status %q", a.Status)
				}
			}},
		{name: "empty status is the default", patch: adapters.Patch{Status: new(""), Priority: new("")}},
		{name: "labels same set", patch: adapters.Patch{Labels: &[]string{"y", "x", "x", ""}}},
		{name: "labels changed", patch: adapters.Patch{Labels: &[]string{"z", "x", "z"}}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				if !slices.Equal(a.Labels, []string{"x", "z"}) {
					t.Errorf("labels %q", a.Labels)
				}
			}},
		{name: "labels cleared", patch: adapters.Patch{Labels: &[]string{}}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				if a.Labels != nil {
					t.Errorf("labels %q", a.Labels)
				}
			}},
		{name: "extra same", patch: adapters.Patch{Extra: map[string]string{"k": "v"}}},
		{name: "extra remove absent", patch: adapters.Patch{Extra: map[string]string{"q": ""}}},
		{name: "extra set and remove", patch: adapters.Patch{Extra: map[string]string{"k": "", "n": "1"}}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				if !reflect.DeepEqual(a.Extra, map[string]string{"n": "1"}) {
					t.Errorf("extra %v", a.Extra)
				}
			}},
		{name: "add comment", patch: adapters.Patch{AddComments: []adapters.Comment{{ID: "99", Body: "second", Author: "bob"}}}, change: true,
			check: func(t *testing.T, b, a adapters.Issue) {
				commentBodies("first", "second")(t, b, a)
				if c := a.Comments[1]; c.ID != "2" || c.Author != "bob" || !c.Created.Equal(a.Updated) {
					t.Errorf("added comment %+v (issue updated %v)", c, a.Updated)
				}
			}},
		{name: "add synced comment keeps its fields", patch: adapters.Patch{AddComments: []adapters.Comment{{SyncID: "s2", Author: "remote", Body: "x", Created: t0}}}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				want := adapters.Comment{ID: "2", SyncID: "s2", Author: "remote", Body: "x", Created: t0, Updated: t0}
				if c := a.Comments[1]; !reflect.DeepEqual(c, want) {
					t.Errorf("added comment %+v, want %+v", c, want)
				}
			}},
		{name: "add comment already there by sync ID", patch: adapters.Patch{AddComments: []adapters.Comment{{SyncID: "s1", Body: "first"}}}},
		{name: "add comment by known sync ID edits it", patch: adapters.Patch{AddComments: []adapters.Comment{{SyncID: "s1", Body: "changed"}}}, change: true,
			check: commentBodies("changed")},
		{name: "edit comment by ID", patch: adapters.Patch{EditComments: []adapters.Comment{{ID: "1", Body: "edited", Internal: true}}}, change: true,
			check: func(t *testing.T, b, a adapters.Issue) {
				c := a.Comments[0]
				if c.Body != "edited" || !c.Internal || c.SyncID != "s1" || !c.Created.Equal(b.Comments[0].Created) || c.Updated.Before(c.Created) {
					t.Errorf("edited comment %+v", c)
				}
			}},
		{name: "edit comment by sync ID", patch: adapters.Patch{EditComments: []adapters.Comment{{SyncID: "s1", Body: "via sync"}}}, change: true,
			check: commentBodies("via sync")},
		{name: "edit comment to the same body", patch: adapters.Patch{EditComments: []adapters.Comment{{ID: "1", Body: "first"}}}},
		{name: "edit then add", patch: adapters.Patch{
			EditComments: []adapters.Comment{{ID: "1", Body: "e"}},
			AddComments:  []adapters.Comment{{Body: "a"}, {Body: "b"}},
		}, change: true, check: commentBodies("e", "a", "b")},
		{name: "every value equal", patch: adapters.Patch{
			Summary: new("base"), Description: new("d"), Status: new("Open"), Priority: new("Normal"),
			Labels: &[]string{"x", "y"}, Extra: map[string]string{"k": "v"}, TwinID: new(""),
			EditComments: []adapters.Comment{{SyncID: "s1", Body: "first"}},
		}},
		{name: "twin set", patch: adapters.Patch{TwinID: new("twin-update")}, change: true,
			check: func(t *testing.T, _, a adapters.Issue) {
				if a.TwinID != "twin-update" {
					t.Errorf("twin %q", a.TwinID)
				}
			}},
	}
	tr := newTest(t)
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := create(t, tr, adapters.Issue{
				Summary: "base", Description: "d", Labels: []string{"x", "y"},
				Extra:    map[string]string{"k": "v"},
				Comments: []adapters.Comment{{SyncID: "s1", Body: "first"}},
			})
			start := cursorNow(t, tr)
			after, err := tr.Update(ctx, before.Key, tc.patch)
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if stored := get(t, tr, before.Key); !reflect.DeepEqual(stored, after) {
				t.Errorf("Get after Update\n%+v\nUpdate returned\n%+v", stored, after)
			}
			changed := changesSince(t, tr, start)
			if tc.change {
				if !slices.Equal(keys(changed), []string{before.Key}) {
					t.Errorf("changes after the update: %v, want [%s]", keys(changed), before.Key)
				}
				checkTime(t, "Updated", after.Updated)
				if after.Updated.Before(before.Updated) {
					t.Errorf("Updated went back: %v -> %v", before.Updated, after.Updated)
				}
			} else {
				if len(changed) != 0 {
					t.Errorf("a no-op update produced changes %v", keys(changed))
				}
				if !reflect.DeepEqual(after, before) {
					t.Errorf("a no-op update changed the issue\nfrom %+v\nto   %+v", before, after)
				}
			}
			if tc.check != nil {
				tc.check(t, before, after)
			}
		})
	}
}

func TestUpdateRejected(t *testing.T) {
	tr := newTest(t)
	ctx := context.Background()
	create(t, tr, adapters.Issue{Summary: "other", TwinID: "taken"})
	is := create(t, tr, adapters.Issue{Summary: "target", Comments: []adapters.Comment{{Body: "c", SyncID: "s1"}}})
	start := cursorNow(t, tr)
	tests := []struct {
		name    string
		key     string
		patch   adapters.Patch
		want    error
		mention string
	}{
		{"unknown key", "LOCAL-999", adapters.Patch{Summary: new("x")}, adapters.ErrNotFound, "LOCAL-999"},
		{"malformed key", "LOCAL-two", adapters.Patch{Summary: new("x")}, adapters.ErrNotFound, "LOCAL-two"},
		{"foreign key", "RM-2", adapters.Patch{Summary: new("x")}, adapters.ErrNotFound, "RM-2"},
		{"empty summary", is.Key, adapters.Patch{Summary: new(" ")}, adapters.ErrRejected, "summary"},
		{"unknown comment ID", is.Key, adapters.Patch{EditComments: []adapters.Comment{{ID: "7", Body: "x"}}}, adapters.ErrRejected, `"7"`},
		{"non-numeric comment ID", is.Key, adapters.Patch{EditComments: []adapters.Comment{{ID: "c1", Body: "x"}}}, adapters.ErrRejected, `"c1"`},
		{"unknown comment sync ID", is.Key, adapters.Patch{EditComments: []adapters.Comment{{SyncID: "nope", Body: "x"}}}, adapters.ErrRejected, `"nope"`},
		{"edit naming no comment", is.Key, adapters.Patch{EditComments: []adapters.Comment{{Body: "x"}}}, adapters.ErrRejected, "neither"},
		{"twin of another issue", is.Key, adapters.Patch{TwinID: new("taken")}, adapters.ErrRejected, "LOCAL-1"},
		{"extra without name", is.Key, adapters.Patch{Extra: map[string]string{"": "x"}}, adapters.ErrRejected, "empty name"},
		{"valid fields with one invalid edit", is.Key, adapters.Patch{
			Summary: new("changed"), Labels: &[]string{"l"},
			EditComments: []adapters.Comment{{ID: "2", Body: "x"}},
		}, adapters.ErrRejected, `"2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tr.Update(ctx, tc.key, tc.patch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Update error = %v, want one wrapping %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %s", err, tc.mention)
			}
		})
	}
	if got := changesSince(t, tr, start); len(got) != 0 {
		t.Errorf("rejected updates wrote %v", keys(got))
	}
	if got := get(t, tr, is.Key); !reflect.DeepEqual(got, is) {
		t.Errorf("rejected updates changed the issue\nfrom %+v\nto   %+v", is, got)
	}
}

func TestChanges(t *testing.T) {
	tr := newTest(t)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		create(t, tr, adapters.Issue{Summary: fmt.Sprintf("issue %d", i)})
	}
	for i, key := range []string{"LOCAL-2", "LOCAL-4", "LOCAL-2"} {
		if _, err := tr.Update(ctx, key, adapters.Patch{Description: new(fmt.Sprint("update ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// Revisions: 1,3,5 by create; 4 at 7; 2 at 8.
	all := []string{"LOCAL-1", "LOCAL-3", "LOCAL-5", "LOCAL-4", "LOCAL-2"}

	tests := []struct {
		name       string
		since      adapters.Cursor
		limit      int
		want       []string
		wantCursor adapters.Cursor
	}{
		{"from the start", "", 0, all, "8"},
		{"zero cursor", "0", 0, all, "8"},
		{"negative limit", "", -1, all, "8"},
		{"limit", "", 2, all[:2], "3"},
		{"resume", "3", 2, all[2:4], "7"},
		{"resume to the end", "7", 2, all[4:], "8"},
		{"cursor inside a gap left by an update", "2", 0, all[1:], "8"},
		{"nothing new", "8", 0, nil, "8"},
		{"cursor beyond the end", "100", 0, nil, "100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cur, err := tr.Changes(ctx, tc.since, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys(got), tc.want) || cur != tc.wantCursor {
				t.Errorf("Changes(%q, %d) = %v, %q; want %v, %q", tc.since, tc.limit, keys(got), cur, tc.want, tc.wantCursor)
			}
			for _, is := range got { // each in its current state
				if cur := get(t, tr, is.Key); !reflect.DeepEqual(cur, is) {
					t.Errorf("Changes returned a stale %s", is.Key)
				}
			}
		})
	}
	for _, bad := range []adapters.Cursor{"abc", "-1", "1.5", " 3"} {
		if _, _, err := tr.Changes(ctx, bad, 0); err == nil || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("Changes(%q) error = %v, want an error about the cursor", bad, err)
		}
	}

	// Paging through the feed with a small limit sees every issue once.
	var seen []string
	var c adapters.Cursor
	for {
		got, next, err := tr.Changes(ctx, c, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			if next != c {
				t.Errorf("empty page moved the cursor from %q to %q", c, next)
			}
			break
		}
		seen, c = append(seen, keys(got)...), next
	}
	if !slices.Equal(seen, all) {
		t.Errorf("paged feed %v, want %v", seen, all)
	}
}

func TestTwin(t *testing.T) {
	tr := newTest(t)
	ctx := context.Background()
	a := create(t, tr, adapters.Issue{Summary: "a", TwinID: "tw-1"})
	b := create(t, tr, adapters.Issue{Summary: "b"})

	findKey := func(twin string) (string, error) {
		is, err := tr.FindByTwin(ctx, twin)
		return is.Key, err
	}
	expect := func(twin, key string) {
		t.Helper()
		got, err := findKey(twin)
		if key == "" {
			if !errors.Is(err, adapters.ErrNotFound) {
				t.Errorf("FindByTwin(%q) = %s, %v; want ErrNotFound", twin, got, err)
			}
			return
		}
		if err != nil || got != key {
			t.Errorf("FindByTwin(%q) = %s, %v; want %s", twin, got, err, key)
		}
	}
	expect("tw-1", a.Key)
	expect("tw-2", "")
	expect("", "")

	steps := []struct {
		name    string
		key     string
		twin    string
		wantErr error
		find    map[string]string // twin -> key ("" = not found) after the step
	}{
		{"unique across issues", b.Key, "tw-1", adapters.ErrRejected, map[string]string{"tw-1": a.Key}},
		{"same marker again is a no-op", a.Key, "tw-1", nil, map[string]string{"tw-1": a.Key}},
		{"replace", a.Key, "tw-3", nil, map[string]string{"tw-1": "", "tw-3": a.Key}},
		{"now free for another issue", b.Key, "tw-1", nil, map[string]string{"tw-1": b.Key, "tw-3": a.Key}},
		{"clear", a.Key, "", nil, map[string]string{"tw-3": "", "tw-1": b.Key}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := tr.Update(ctx, s.key, adapters.Patch{TwinID: new(s.twin)})
			if s.wantErr != nil {
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("Update error = %v, want %v", err, s.wantErr)
				}
			} else if err != nil || got.TwinID != s.twin {
				t.Fatalf("Update = twin %q, %v; want %q", got.TwinID, err, s.twin)
			}
			for twin, key := range s.find {
				expect(twin, key)
			}
		})
	}
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "c", TwinID: "tw-1"}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), b.Key) {
		t.Errorf("Create with a twin marker in use: %v; want ErrRejected naming %s", err, b.Key)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	tr, err := Open(dir, Options{Prefix: "ACME", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		create(t, tr, adapters.Issue{Summary: fmt.Sprintf("s%d", i), TwinID: fmt.Sprintf("tw%d", i)})
	}
	if _, err := tr.Update(ctx, "ACME-1", adapters.Patch{Labels: &[]string{"l"}, AddComments: []adapters.Comment{{Body: "c"}}}); err != nil {
		t.Fatal(err)
	}
	before, err := tr.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cursor := cursorNow(t, tr)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tr.Get(ctx, "ACME-1"); !errors.Is(err, ErrClosed) || !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := tr.Create(ctx, adapters.Issue{Summary: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Create after Close: %v, want ErrClosed", err)
	}

	if _, err := Open(dir, Options{Prefix: "OTHER", Logger: quiet()}); err == nil || !strings.Contains(err.Error(), `"ACME"`) {
		t.Fatalf("reopen with another prefix: %v, want an error naming the stored prefix", err)
	}
	tr = openTest(t, dir, Options{}) // empty prefix adopts the stored one
	if tr.Prefix() != "ACME" {
		t.Errorf("prefix after reopen %q", tr.Prefix())
	}
	after, err := tr.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after reopen List =\n%+v\nbefore\n%+v", after, before)
	}
	for i := 1; i <= 3; i++ {
		if is, err := tr.FindByTwin(ctx, fmt.Sprintf("tw%d", i)); err != nil || is.Key != fmt.Sprintf("ACME-%d", i) {
			t.Errorf("FindByTwin(tw%d) after reopen = %s, %v", i, is.Key, err)
		}
	}
	if got := changesSince(t, tr, cursor); len(got) != 0 {
		t.Errorf("changes after the old cursor without new writes: %v", keys(got))
	}
	next := create(t, tr, adapters.Issue{Summary: "s4"})
	if next.Key != "ACME-4" {
		t.Errorf("first key after reopen %s, want ACME-4", next.Key)
	}
	if got := changesSince(t, tr, cursor); !slices.Equal(keys(got), []string{"ACME-4"}) {
		t.Errorf("changes after reopen %v, want [ACME-4]", keys(got))
	}
}

func TestOpenErrors(t *testing.T) {
	for _, p := range []string{"1AB", "A-B", "A B", strings.Repeat("A", 33), "É"} {
		if _, err := Open(t.TempDir(), Options{Prefix: p, Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("Open with prefix %q: %v, want an error about the prefix", p, err)
		}
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open without a directory succeeded")
	}
	dir := t.TempDir()
	tr := openTest(t, dir, Options{})
	if _, err := Open(dir, Options{Logger: quiet()}); err == nil {
		t.Error("a second Open of a directory in use succeeded")
	}
	_ = tr
}

func TestOnChange(t *testing.T) {
	tr := newTest(t)
	ctx := context.Background()

	// The callback reports what the change feed holds when it runs, then
	// stays blocked until the test lets it go: commits meanwhile must not
	// stall and must leave exactly one pending signal.
	calls := make(chan int)
	release := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	tr.OnChange(func() {
		got, _, err := tr.Changes(ctx, "", 0) // no lock of the tracker is held
		if errors.Is(err, ErrClosed) {
			return // a last signal while the test closes the tracker
		}
		if err != nil {
			t.Errorf("Changes in callback: %v", err)
		}
		select {
		case calls <- len(got):
		case <-done:
			return
		}
		select {
		case <-release:
		case <-done:
		}
	})
	recv := func(what string) int {
		t.Helper()
		select {
		case n := <-calls:
			return n
		case <-time.After(wait):
			t.Fatalf("no OnChange call after %s", what)
			return 0
		}
	}
	pending := func() int { return len((*tr.notifiers.Load())[0].kick) }

	a := create(t, tr, adapters.Issue{Summary: "a"})
	if n := recv("Create"); n != 1 {
		t.Errorf("callback saw %d changes, want 1: it ran before the commit", n)
	}
	// The callback is blocked. No-op updates must not signal; a later op
	// through the writer guarantees the earlier batches have finished.
	for _, p := range []adapters.Patch{{}, {Summary: new("a")}, {Labels: &[]string{}}} {
		if _, err := tr.Update(ctx, a.Key, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.Update(ctx, "LOCAL-99", adapters.Patch{Summary: new("x")}); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := tr.Update(ctx, a.Key, adapters.Patch{Summary: new("")}); !errors.Is(err, adapters.ErrRejected) {
		t.Fatal(err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("no-op and failed updates signalled OnChange")
	}
	// A slow callback does not stall writes; their signals coalesce.
	for i := range 20 {
		create(t, tr, adapters.Issue{Summary: fmt.Sprint(i)})
	}
	if n := pending(); n != 1 {
		t.Fatalf("pending signals %d, want 1", n)
	}
	release <- struct{}{}
	if n := recv("the coalesced creates"); n != 21 {
		t.Errorf("callback saw %d changes, want 21", n)
	}
	release <- struct{}{}

	// A second callback gets its own signal.
	second := make(chan struct{}, 1)
	tr.OnChange(func() {
		select {
		case second <- struct{}{}:
		default:
		}
	})
	if _, err := tr.Update(ctx, a.Key, adapters.Patch{Summary: new("a2")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second:
	case <-time.After(wait):
		t.Fatal("second callback not called")
	}
	if n := recv("Update"); n != 21 {
		t.Errorf("callback saw %d changes, want 21", n)
	}
}

func TestConcurrentCreates(t *testing.T) {
	tr := newTest(t)
	const n = 50
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			is, err := tr.Create(context.Background(), adapters.Issue{Summary: fmt.Sprint(i)})
			got[i], errs[i] = is.Key, err
		})
	}
	// Concurrent reads while the writer works.
	wg.Go(func() {
		for range 20 {
			if _, err := tr.List(context.Background()); err != nil {
				t.Error(err)
			}
			if _, _, err := tr.Changes(context.Background(), "", 10); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b string) int { return cmp.Compare(keyNum(t, a), keyNum(t, b)) })
	if want := seqKeys(1, n); !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	list, err := tr.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(list), seqKeys(1, n)) {
		t.Errorf("List keys %v", keys(list))
	}
	for i, is := range list {
		if want := get(t, tr, is.Key); !reflect.DeepEqual(want, is) {
			t.Errorf("List[%d] differs from Get", i)
		}
	}
}

func keyNum(t *testing.T, key string) uint64 {
	n, err := parseKey(DefaultPrefix, key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// holdWriter opens a tracker whose writer stops when it has taken the first
// op of its first batch, until release is closed.
func holdWriter(t *testing.T, dir string, log *slog.Logger) (tr *Tracker, held <-chan struct{}, release chan struct{}) {
	entered := make(chan struct{}, 1)
	release = make(chan struct{})
	if log == nil {
		log = quiet()
	}
	tr, err := open(dir, Options{Logger: log}, func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		if err := tr.Close(); err != nil {
			t.Error(err)
		}
	})
	return tr, entered, release
}

// waitQueued waits until n ops wait in the writer's queue.
func waitQueued(t *testing.T, tr *Tracker, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for len(tr.ops) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d ops queued, want %d", len(tr.ops), n)
		}
		runtime.Gosched()
	}
}

type outcome struct {
	issue adapters.Issue
	err   error
}

func TestBatch(t *testing.T) {
	logs := new(lockedBuffer)
	tr, held, release := holdWriter(t, t.TempDir(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	big := strings.Repeat("b", 300<<10) // 4 of these outgrow one transaction
	ops := []func() (adapters.Issue, error){
		func() (adapters.Issue, error) { return tr.Create(ctx, adapters.Issue{Summary: "a", TwinID: "T"}) },
		func() (adapters.Issue, error) { return tr.Update(ctx, "LOCAL-1", adapters.Patch{Summary: new("a2")}) },
		func() (adapters.Issue, error) {
			return tr.Create(ctx, adapters.Issue{Summary: "dup twin", TwinID: "T"})
		},
		func() (adapters.Issue, error) { return tr.Create(ctx, adapters.Issue{}) },
		func() (adapters.Issue, error) { return tr.Update(ctx, "LOCAL-1", adapters.Patch{Summary: new("a2")}) },
	}
	for i := range 12 {
		ops = append(ops, func() (adapters.Issue, error) {
			return tr.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("big %d", i), Description: big})
		})
	}
	ops = append(ops,
		func() (adapters.Issue, error) {
			return tr.Create(ctx, adapters.Issue{Summary: "huge", Description: strings.Repeat("h", maxRecordSize+1)})
		},
		func() (adapters.Issue, error) {
			return tr.Update(ctx, "LOCAL-13", adapters.Patch{Labels: &[]string{"last"}})
		},
		func() (adapters.Issue, error) { return tr.Create(ctx, adapters.Issue{Summary: "after", TwinID: "T2"}) },
	)
	res := make([]chan outcome, len(ops))
	for i, op := range ops {
		res[i] = make(chan outcome, 1)
		go func() {
			is, err := op()
			res[i] <- outcome{is, err}
		}()
		if i == 0 {
			select {
			case <-held:
			case <-time.After(wait):
				t.Fatal("writer did not take the first op")
			}
		} else {
			waitQueued(t, tr, i) // keeps the queue in order
		}
	}
	close(release)
	out := make([]outcome, len(ops))
	for i := range res {
		select {
		case out[i] = <-res[i]:
		case <-time.After(wait):
			t.Fatalf("op %d not answered", i)
		}
	}
	expect := func(i int, key string, wantErr error) {
		t.Helper()
		if wantErr != nil {
			if !errors.Is(out[i].err, wantErr) {
				t.Errorf("op %d: error %v, want %v", i, out[i].err, wantErr)
			}
			return
		}
		if out[i].err != nil || out[i].issue.Key != key {
			t.Errorf("op %d: %s, %v; want %s", i, out[i].issue.Key, out[i].err, key)
		}
	}
	expect(0, "LOCAL-1", nil)
	expect(1, "LOCAL-1", nil)
	expect(2, "", adapters.ErrRejected)
	expect(3, "", adapters.ErrRejected)
	expect(4, "LOCAL-1", nil)
	for i := range 12 {
		expect(5+i, fmt.Sprintf("LOCAL-%d", 2+i), nil)
	}
	expect(17, "", adapters.ErrRejected)
	expect(18, "LOCAL-13", nil)
	expect(19, "LOCAL-14", nil)
	if out[1].issue.Summary != "a2" || out[4].issue.Updated != out[1].issue.Updated {
		t.Errorf("update within the batch: %+v then %+v", out[1].issue, out[4].issue)
	}

	feed := changesSince(t, tr, "")
	if want := seqKeys(1, 14); !slices.Equal(keys(feed), want) {
		t.Errorf("feed %v, want %v", keys(feed), want)
	}
	if !strings.Contains(logs.String(), "outgrew one transaction") {
		t.Errorf("the batch was not split across transactions; log:\n%s", logs.String())
	}
	if is := get(t, tr, "LOCAL-7"); len(is.Description) != len(big) {
		t.Errorf("big issue description has %d bytes", len(is.Description))
	}
	if is, err := tr.FindByTwin(ctx, "T"); err != nil || is.Key != "LOCAL-1" || is.Summary != "a2" {
		t.Errorf("FindByTwin(T) = %+v, %v", is, err)
	}
	if got := create(t, tr, adapters.Issue{Summary: "next"}); got.Key != "LOCAL-15" {
		t.Errorf("next key %s, want LOCAL-15", got.Key)
	}
}

func TestContextCancel(t *testing.T) {
	tr, held, release := holdWriter(t, t.TempDir(), nil)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Create(cancelled, adapters.Issue{Summary: "never"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create with a cancelled context: %v", err)
	}

	// Op 0 is in the writer's hands (not yet taken), op 1 in the queue, op 2
	// in the queue with a live context. Cancelling 0 and 1 abandons them.
	ctxs := make([]context.Context, 3)
	cancels := make([]context.CancelFunc, 3)
	res := make([]chan outcome, 3)
	for i := range 3 {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		defer cancels[i]()
		res[i] = make(chan outcome, 1)
		go func() {
			is, err := tr.Create(ctxs[i], adapters.Issue{Summary: fmt.Sprint(i)})
			res[i] <- outcome{is, err}
		}()
		if i == 0 {
			<-held
		} else {
			waitQueued(t, tr, i)
		}
	}
	for i := range 2 {
		cancels[i]()
		select {
		case o := <-res[i]:
			if !errors.Is(o.err, context.Canceled) || !strings.Contains(o.err.Error(), "abandoned") {
				t.Errorf("op %d: %v, want abandoned with context.Canceled", i, o.err)
			}
		case <-time.After(wait):
			t.Fatalf("op %d did not return after its context ended", i)
		}
	}
	close(release)
	select {
	case o := <-res[2]:
		if o.err != nil || o.issue.Key != "LOCAL-1" || o.issue.Summary != "2" {
			t.Errorf("op 2: %s %q, %v; want LOCAL-1", o.issue.Key, o.issue.Summary, o.err)
		}
	case <-time.After(wait):
		t.Fatal("op 2 not answered")
	}
	list, err := tr.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(list), []string{"LOCAL-1"}) {
		t.Errorf("issues %v, want only LOCAL-1", keys(list))
	}
	if _, err := tr.Get(cancelled, "LOCAL-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
}

// TestCloseWithQueuedWrites closes the tracker while writes are queued:
// every acknowledged write is there after reopening, the others failed
// with ErrClosed, and the keys are contiguous.
func TestCloseWithQueuedWrites(t *testing.T) {
	dir := t.TempDir()
	tr, held, release := holdWriter(t, dir, nil)
	const n = 200
	res := make(chan outcome, n)
	for i := range n {
		go func() {
			is, err := tr.Create(context.Background(), adapters.Issue{Summary: fmt.Sprint(i)})
			res <- outcome{is, err}
		}()
		if i == 0 {
			<-held
		}
	}
	waitQueued(t, tr, 50) // at least 50 queued behind the held one
	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not return")
	}
	acked := map[string]string{}
	for range n {
		o := <-res
		switch {
		case o.err == nil:
			acked[o.issue.Key] = o.issue.Summary
		case !errors.Is(o.err, ErrClosed):
			t.Errorf("create failed with %v, want success or ErrClosed", o.err)
		}
	}
	if len(acked) < 51 {
		t.Errorf("only %d creates acknowledged; the queued ones were dropped", len(acked))
	}
	tr = openTest(t, dir, Options{})
	list, err := tr.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(list), seqKeys(1, len(acked))) {
		t.Errorf("after reopen keys %v, want LOCAL-1..%d", keys(list), len(acked))
	}
	for _, is := range list {
		if s, ok := acked[is.Key]; !ok || s != is.Summary {
			t.Errorf("%s has summary %q, acknowledged %q", is.Key, is.Summary, s)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestUpdateIfRev: a patch computed from an older revision of the issue is
// refused with ErrChanged and changes nothing; one from the current
// revision is applied.
func TestUpdateIfRev(t *testing.T) {
	ctx := context.Background()
	tr := newTest(t)
	is := create(t, tr, adapters.Issue{Summary: "a", Labels: []string{"x"}})
	later, err := tr.Update(ctx, is.Key, adapters.Patch{Labels: &[]string{"x", "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if later.Rev == is.Rev || later.Rev == "" {
		t.Fatalf("revision %q after an update, %q before", later.Rev, is.Rev)
	}
	_, err = tr.Update(ctx, is.Key, adapters.Patch{Labels: &[]string{"z"}, IfRev: is.Rev})
	if !errors.Is(err, adapters.ErrChanged) {
		t.Fatalf("stale patch: err %v, want ErrChanged", err)
	}
	if got := get(t, tr, is.Key); !slices.Equal(got.Labels, []string{"x", "y"}) || got.Rev != later.Rev {
		t.Fatalf("after a refused patch: labels %v rev %s", got.Labels, got.Rev)
	}
	if _, err := tr.Update(ctx, is.Key, adapters.Patch{Labels: &[]string{"z"}, IfRev: later.Rev}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, tr, is.Key); !slices.Equal(got.Labels, []string{"z"}) {
		t.Fatalf("labels %v, want [z]", got.Labels)
	}
}
