package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/redmine"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// Two nodes on a real Redmine and a real RT (issue 16): an assignee
// (through a user_map: Redmine's admin is RT's root), a due date, a custom
// field (Customer, which scripts/redmine.sh and scripts/rt.sh create on
// both) and a blocks relation between two synced issues cross from
// Redmine to RT; a due date changed in RT comes back. What RT lacks (issue
// types, writing the reporter) is declared by its adapter (adapters.Lacking)
// and left out: nothing blocks a twin.
func TestRedmineAndRTFields(t *testing.T) {
	rmURL, rmKeyFile, rtURL, rtTokenFile := realTrackers(t)
	rmHdr := http.Header{"X-Redmine-Api-Key": {secret(t, rmKeyFile)}}
	rtHdr := http.Header{"Authorization": {"token " + secret(t, rtTokenFile)}}
	project, queue := redmineProject(t, rmURL, rmHdr), rtQueue(t, rtURL, rtHdr)
	redmineMember(t, rmURL, rmHdr, project) // Redmine assigns only to members
	rm, rtq := trackerClients(t, rmURL, rmKeyFile, project, rtURL, rtTokenFile, queue)

	a := newNode(t, "redmine", "--tracker", "redmine", "--url", rmURL, "--api-key-file", rmKeyFile, "--project", project)
	b := newNode(t, "rt", "--tracker", "rt", "--url", rtURL, "--token-file", rtTokenFile, "--queue", queue)
	for _, p := range []*proc{a, b} { // poll faster than the 5 s default
		p.pollEvery("1s")
	}
	a.appendConfig("connections:\n  \"*\":\n" +
		"    status_map: {New: Todo, In Progress: Doing, Closed: Done}\n" +
		"    priority_map: {Low: low, Normal: medium, High: high}\n" +
		"    user_map: {admin: root}\n")
	b.appendConfig("connections:\n  \"*\":\n" +
		"    status_map: {new: Todo, open: Doing, resolved: Done}\n" +
		"    priority_map: {Low: low, Medium: medium, High: high}\n")
	for _, p := range []*proc{a, b} {
		p.mustCheckTracker()
	}
	a.start()
	b.start()
	pair(a, b)
	logStateOnFailure(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Redmine -> RT: assignee, due date, custom field.
	start := time.Now()
	x, err := rm.Create(ctx, adapters.Issue{Summary: "Refund flow", Assignee: &adapters.User{Login: "admin"}, Due: "2027-01-31",
		Fields: map[string]adapters.FieldValue{"Customer": {Text: "ACME"}}})
	if err != nil {
		t.Fatal(err)
	}
	var tx adapters.Issue
	twinX := twinOf(t, a, x.Key)
	testutil.WaitFor(t, 60*time.Second, "the issue is in RT with its owner, due date and custom field", func() bool {
		tx, err = rtq.FindByTwin(ctx, twinX)
		return err == nil && tx.Assignee != nil && tx.Due != ""
	})
	t.Logf("Redmine -> RT, assignee, due date and a custom field: %v", time.Since(start).Round(time.Millisecond))
	if !tx.Assignee.Matches(adapters.User{Login: "root"}) || tx.Due != "2027-01-31" || !tx.Fields["Customer"].Equal(adapters.FieldValue{Text: "ACME"}) {
		t.Fatalf("ticket in RT: assignee %+v, due %q, fields %+v; want root, 2027-01-31, Customer ACME", tx.Assignee, tx.Due, tx.Fields)
	}

	// A second synced issue, then a relation between the two: it lands as
	// the same link between the tickets.
	y, err := rm.Create(ctx, adapters.Issue{Summary: "Refund emails"})
	if err != nil {
		t.Fatal(err)
	}
	twinY := twinOf(t, a, y.Key)
	var ty adapters.Issue
	testutil.WaitFor(t, 60*time.Second, "the second issue is in RT", func() bool {
		ty, err = rtq.FindByTwin(ctx, twinY)
		return err == nil
	})
	start = time.Now()
	if _, err := rm.Update(ctx, x.Key, adapters.Patch{AddRelations: []adapters.Relation{{Kind: adapters.RelBlocks, Key: y.Key}}}); err != nil {
		t.Fatal(err)
	}
	// Redmine changes neither issue's updated_on when a relation is added:
	// a field change carries it (see the redmine package documentation).
	if _, err := rm.Update(ctx, x.Key, adapters.Patch{Summary: ptr("Refund flow, blocking")}); err != nil {
		t.Fatal(err)
	}
	has := func(is adapters.Issue, kind, key string) bool {
		return slices.ContainsFunc(is.Relations, func(r adapters.Relation) bool { return r.Kind == kind && r.Key == key })
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, k := range []string{x.Key, y.Key} {
			is, err := rm.Get(context.Background(), k)
			t.Logf("Redmine %s: relations %+v (%v); history: %s", k, is.Relations, err, a.mustCLI("history", k))
		}
		for _, k := range []string{tx.Key, ty.Key} {
			is, err := rtq.Get(context.Background(), k)
			t.Logf("RT %s: relations %+v (%v); history: %s", k, is.Relations, err, b.mustCLI("history", k))
		}
	})
	testutil.WaitFor(t, 60*time.Second, "the tickets in RT are linked as the issues in Redmine", func() bool {
		tx, err = rtq.Get(ctx, tx.Key)
		return err == nil && has(tx, adapters.RelBlocks, ty.Key)
	})
	t.Logf("Redmine -> RT, a blocks relation: %v", time.Since(start).Round(time.Millisecond))

	// RT -> Redmine: a due date changed in RT.
	start = time.Now()
	if _, err := rtq.Update(ctx, ty.Key, adapters.Patch{Due: ptr("2027-03-01")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "RT's due date is in Redmine", func() bool {
		got, err := rm.Get(ctx, y.Key)
		return err == nil && got.Due == "2027-03-01"
	})
	t.Logf("RT -> Redmine, a due date: %v", time.Since(start).Round(time.Millisecond))

	// Nothing is blocked, and the relation is still one relation each side.
	for _, p := range []*proc{a, b} {
		if out := p.mustCLI("errors"); !strings.Contains(out, "no blocked") && strings.TrimSpace(out) != "" {
			t.Errorf("%s: issuemesh errors:\n%s", p.name, out)
		}
	}
	got, err := rm.Get(ctx, x.Key)
	if err != nil || !has(got, adapters.RelBlocks, y.Key) || got.Assignee == nil || !got.Assignee.Matches(adapters.User{Login: "admin"}) {
		t.Fatalf("Redmine's issue afterwards: %+v (%v)", got, err)
	}
}

// redmineMember makes the API key's user a Manager of project.
func redmineMember(t *testing.T, rmURL string, hdr http.Header, project string) {
	t.Helper()
	var me struct {
		User struct{ ID int } `json:"user"`
	}
	rawJSON(t, "GET", rmURL+"/users/current.json", hdr, nil, &me)
	var roles struct {
		Roles []struct {
			ID   int
			Name string
		}
	}
	rawJSON(t, "GET", rmURL+"/roles.json", hdr, nil, &roles)
	for _, r := range roles.Roles {
		if r.Name == "Manager" {
			rawJSON(t, "POST", rmURL+"/projects/"+project+"/memberships.json", hdr,
				map[string]any{"membership": map[string]any{"user_id": me.User.ID, "role_ids": []int{r.ID}}}, nil)
			return
		}
	}
	t.Fatalf("Redmine has no Manager role to make the key's user a member of %s", project)
}

// A custom field that field_map names and Redmine lacks is reported once
// by `tracker check` (a warning, not a failure), and at run time its value
// is skipped while the rest of the issue syncs: a local node sends the
// fields Client and Region; the Redmine node maps its Customer to Client and
// names Region, which this Redmine does not have.
func TestTrackerCheckReportsAMissingCustomField(t *testing.T) {
	rmURL, rmKeyFile, _, _ := realTrackers(t)
	rmHdr := http.Header{"X-Redmine-Api-Key": {secret(t, rmKeyFile)}}
	project := redmineProject(t, rmURL, rmHdr)
	a := newNode(t, "local")
	b := newNode(t, "redmine", "--tracker", "redmine", "--url", rmURL, "--api-key-file", rmKeyFile, "--project", project)
	b.pollEvery("1s")
	b.appendConfig("connections:\n  \"*\":\n    field_map: {Customer: Client, Region: Region}\n    status_map: {New: Open}\n")

	out := b.mustCLI("tracker", "check") // fails the test on a FAIL (exit status)
	var warned []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "custom field") && strings.HasPrefix(line, "warn") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], `"Region"`) || !strings.Contains(warned[0], "skipped") {
		t.Fatalf("tracker check on Redmine: want one warning for Region, got %q in:\n%s", warned, out)
	}
	if out := a.mustCLI("tracker", "check"); strings.Contains(out, "warn") {
		t.Fatalf("tracker check on the local tracker (which takes any field) warns:\n%s", out)
	}

	a.start()
	b.start()
	pair(a, b)
	rm, err := redmine.New(redmine.Options{URL: rmURL, APIKey: secret(t, rmKeyFile), Project: project})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	key := trim(a.mustCLI("issue", "create", "--summary", "fields one lacks", "--field", "Client=ACME", "--field", "Region:option=EU"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	twin := twinOf(t, a, key)
	var got adapters.Issue
	testutil.WaitFor(t, 60*time.Second, "the issue is in Redmine with Customer, without Region", func() bool {
		got, err = rm.FindByTwin(ctx, twin)
		return err == nil
	})
	if !got.Fields["Customer"].Equal(adapters.FieldValue{Text: "ACME"}) {
		t.Fatalf("Redmine's issue: fields %+v, want Customer ACME", got.Fields)
	}
	if out := b.mustCLI("errors"); !strings.Contains(out, "no blocked") {
		t.Fatalf("the missing field blocked the twin:\n%s", out)
	}
}
