package rt

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/issuemesh/issuemesh/adapters/internal/rest"
)

// Markers out of sight.
//
// RT mails correspondence to the ticket's requestors and comments to its
// staff watchers, text as it is. A marker in the text would reach them, so
// where the transaction custom field MarkerField applies to the queue the
// adapter keeps a message's markers there ("[issuemesh:comment ID]", or
// several side by side), set in the same request that adds the message,
// and the text carries only what a person wrote. Reading puts them back
// at the end of the text for textmark.Split. A queue without the field
// keeps the markers as the text's last lines, as before; `tracker check`
// warns about it. Messages written either way are read the same.

var markerRE = regexp.MustCompile(`\[issuemesh:[^\]]*\]`)

// markers returns the marker lines the transaction keeps in MarkerField,
// one per paragraph as textmark.Add writes them, or "".
func (x *wireTxn) markers() string {
	if len(x.CustomFields) == 0 || x.CustomFields[0] != '[' {
		return ""
	}
	var cfs []cfValue
	if json.Unmarshal(x.CustomFields, &cfs) != nil {
		return ""
	}
	for _, cf := range cfs {
		if cf.Name != MarkerField || len(cf.Values) == 0 {
			continue
		}
		return strings.Join(markerRE.FindAllString(cf.Values[0], -1), "\n\n")
	}
	return ""
}

// postMessage adds a comment or correspondence (path) with body, its
// marker in MarkerField when marker is set, and returns RT's answer.
func (t *Tracker) postMessage(ctx context.Context, path string, body map[string]any, marker string) ([]string, error) {
	if marker != "" {
		body["TxnCustomFields"] = map[string]string{MarkerField: marker}
		t.msgs.Lock()
		defer t.msgs.Unlock()
	}
	var answer []string
	if _, err := t.do(ctx, rest.Request{Method: http.MethodPost, Path: path, Body: body}, &answer); err != nil {
		return answer, err
	}
	for _, a := range answer {
		if marker != "" && strings.Contains(a, "Unable to load transaction custom field") {
			// The field went away since the queue was read: the message is
			// in RT without its marker. Read the queue again for the next.
			t.mu.Lock()
			t.q = nil
			t.mu.Unlock()
			t.log.Error("RT did not keep the marker of a message: the transaction custom field is missing; its text is in RT, but issuemesh may not recognise it", "field", MarkerField, "path", path, "marker", marker)
		}
	}
	return answer, nil
}
