package configcheck

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
)

func TestDidYouMean(t *testing.T) {
	have := []string{"New", "In Progress", "Resolved", "Feedback", "Closed", "Rejected"}
	for in, want := range map[string]string{"Closd": "Closed", "closed": "Closed", "In Progres": "In Progress", "Done": "", "Rejectd": "Rejected", "X": ""} {
		if got := didYouMean(in, have); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", in, got, want)
		}
	}
}

// vocab is a tracker that lists its values (check.Vocabulary).
type vocab struct {
	adapters.Tracker
	v check.Values
}

func (v vocab) Values(context.Context) (check.Values, error) { return v.v, nil }

// A custom field that field_map names and the tracker lacks is reported
// once, as a warning (its values are skipped, the config is not refused);
// a tracker that takes any field (nil list) reports none.
func TestCustomFieldsTheTrackerLacks(t *testing.T) {
	cfg := &config.Config{Connections: map[string]config.Connection{
		"bob":   {FieldMap: map[string]string{"Customer": "Client", "Tier": "Level"}},
		"carol": {FieldMap: map[string]string{"Tier": "Tier"}},
	}}
	for _, c := range []struct {
		name string
		have []string
		want []string // the names of the warnings
	}{
		{"the tracker has one of the two", []string{"Customer", "Effort"}, []string{"custom field Tier"}},
		{"the tracker has both (in another case)", []string{"customer", "TIER"}, nil},
		{"the tracker takes any field", nil, nil},
		{"the tracker has none", []string{}, []string{"custom field Customer", "custom field Tier"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, r := range Check(context.Background(), t.TempDir(), cfg, vocab{v: check.Values{CustomFields: c.have}}, nil) {
				switch {
				case !r.OK:
					t.Errorf("a finding refuses the config: %+v", r)
				case r.Warning:
					got = append(got, r.Name)
					if !strings.Contains(r.Detail, "skipped") {
						t.Errorf("the warning does not say the values are skipped: %s", r.Detail)
					}
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("warnings %v, want %v", got, c.want)
			}
		})
	}
}
