package configcheck

import (
	"context"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
)

// vocTracker is a tracker that lists its values and does nothing else.
type vocTracker struct {
	adapters.Tracker
	vals check.Values
}

func (v vocTracker) Values(context.Context) (check.Values, error) { return v.vals, nil }

// TestFieldMapChecked: a field_map key that is not one of the tracker's
// custom fields is reported with a did-you-mean (a warning: its values
// are skipped, not fatal, fields.go); one that is passes; a tracker that
// does not list its custom fields is not checked.
func TestFieldMapChecked(t *testing.T) {
	for _, c := range []struct {
		name   string
		fields []string
		m      map[string]string
		want   string // "" : no finding
	}{
		{"known", []string{"Customer", "Components"}, map[string]string{"Customer": "Client"}, ""},
		{"typo", []string{"Customer", "Components"}, map[string]string{"Custmer": "Client"}, `"Custmer" is not a custom field of this tracker (it has "Customer", "Components"); did you mean "Customer"?`},
		{"not listed", nil, map[string]string{"Anything": "X"}, ""},
	} {
		cfg := &config.Config{Connections: map[string]config.Connection{"*": {FieldMap: c.m}}}
		var got []string
		for _, r := range Check(context.Background(), t.TempDir(), cfg, vocTracker{vals: check.Values{CustomFields: c.fields}}, nil) {
			if !r.OK || r.Warning {
				got = append(got, r.Name+": "+r.Detail)
			}
		}
		switch {
		case c.want == "" && len(got) > 0:
			t.Errorf("%s: findings %q", c.name, got)
		case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], "connections.*.field_map") || !strings.Contains(got[0], c.want)):
			t.Errorf("%s: findings %q, want one naming %s", c.name, got, c.want)
		}
	}
}
