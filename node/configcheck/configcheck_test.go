package configcheck

import "testing"

func TestDidYouMean(t *testing.T) {
	have := []string{"New", "In Progress", "Resolved", "Feedback", "Closed", "Rejected"}
	for in, want := range map[string]string{"Closd": "Closed", "closed": "Closed", "In Progres": "In Progress", "Done": "", "Rejectd": "Rejected", "X": ""} {
		if got := didYouMean(in, have); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", in, got, want)
		}
	}
}
