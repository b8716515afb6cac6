package rt

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters/check"
)

var _ check.Checker = (*Tracker)(nil)

// Check verifies the connection, the token, the queue, its lifecycle and
// custom fields, and the time zone of TicketSQL dates.
func (t *Tracker) Check(ctx context.Context) []check.Result {
	var out []check.Result
	add := func(name string, ok bool, detail string, args ...any) {
		out = append(out, check.Result{Name: name, OK: ok, Detail: fmt.Sprintf(detail, args...)})
	}
	warn := func(name, detail string) {
		out = append(out, check.Result{Name: name, OK: true, Warning: true, Detail: detail})
	}
	var info struct {
		Version string `json:"Version"`
	}
	start := time.Now()
	if err := t.get(ctx, "/rt", nil, &info); err != nil {
		add("connection and token", false, "%v (is the URL RT's, and the token valid?)", err)
		return out
	}
	if info.Version == "" {
		add("connection and token", false, "%s/rt answered without a version: is this RT's REST2?", t.c.BaseURL())
		return out
	}
	add("connection and token", true, "%s is RT %s, answering in %v", t.c.BaseURL(), info.Version, time.Since(start).Round(time.Millisecond))
	q, err := t.queueInfo(ctx)
	if err != nil {
		add("queue", false, "%v", err)
		return out
	}
	add("queue", true, "%q is queue %s, lifecycle %q", t.queue, q.id, q.lifecycle)
	if q.lifecycle == "" || q.lifecycle == "default" {
		add("statuses", true, "%s", strings.Join(DefaultLifecycle, ", "))
	} else {
		warn("statuses", fmt.Sprintf("lifecycle %q is not RT's default: statuses are checked by RT, not before sending", q.lifecycle))
	}
	names := make([]string, 0, len(t.prios))
	for n := range t.prios {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return t.prios[a] - t.prios[b] })
	for i, n := range names {
		names[i] = fmt.Sprintf("%s %d", n, t.prios[n])
	}
	add("priorities", true, "%s (RT's default %%PriorityAsString; numbers 0 to 100 work too)", strings.Join(names, ", "))
	if q.twinCF {
		add("twin field", true, "ticket custom field %q applies to the queue", TwinField)
	} else {
		warn("twin field", fmt.Sprintf("no ticket custom field %q on the queue: twin IDs are not kept, so a crash between creating and linking a ticket may create a duplicate", TwinField))
	}
	if q.labelsCF {
		add("labels field", true, "ticket custom field %q applies to the queue", LabelsField)
	} else {
		warn("labels field", fmt.Sprintf("no ticket custom field %q on the queue: labels are not kept", LabelsField))
	}
	if q.markerCF {
		add("marker field", true, "transaction custom field %q applies to the queue: markers stay out of the mail RT sends", MarkerField)
	} else {
		warn("marker field", fmt.Sprintf("no transaction custom field %q on the queue: synced replies end with a visible marker line, which RT mails to requestors (scripts/rt.sh shows how to create it)", MarkerField))
	}
	t.mu.Lock()
	t.tzChecked = time.Time{}
	t.mu.Unlock()
	if err := t.checkTimezone(ctx); err != nil {
		add("time zone", false, "%v", err)
		return out
	}
	add("time zone", true, "RT reads TicketSQL dates in %s, as configured", t.loc)
	start = time.Now()
	col, _, err := t.search(ctx, "id > 0", url.Values{"per_page": {"1"}, "fields": {"Subject"}})
	if err != nil {
		add("change feed", false, "%v", err)
		return out
	}
	add("change feed", true, "searched the queue in %v; %d tickets", time.Since(start).Round(time.Millisecond), col.Total)
	return out
}

var _ check.Vocabulary = (*Tracker)(nil)

// Values lists the queue's statuses (when its lifecycle is RT's default;
// otherwise RT checks them), the priority names this adapter knows and the
// queue's ticket custom fields.
func (t *Tracker) Values(ctx context.Context) (check.Values, error) {
	q, err := t.queueInfo(ctx)
	if err != nil {
		return check.Values{}, err
	}
	var v check.Values
	if q.lifecycle == "" || q.lifecycle == "default" {
		v.Statuses = slices.Clone(DefaultLifecycle)
	}
	v.Priorities = make([]string, 0, len(t.prios))
	for n := range t.prios {
		v.Priorities = append(v.Priorities, n)
	}
	slices.SortFunc(v.Priorities, func(a, b string) int { return t.prios[a] - t.prios[b] })
	v.PriorityNumbers = true
	v.Fields = []string{}
	v.CustomFields = []string{}
	for _, n := range q.ticketCFs {
		if !own(n) {
			v.CustomFields = append(v.CustomFields, n)
		}
	}
	return v, nil
}
