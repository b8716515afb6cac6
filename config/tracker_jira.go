package config

import (
	"errors"
	"fmt"
)

// validateJira checks what only a jira tracker has: Cloud (email with an
// API token) or Data Center (a personal access token), not both.
func (t *Tracker) validateJira() error {
	if t.RequestsPerMinute < 0 || t.RequestsPerMinute > 100000 {
		return fmt.Errorf("tracker.requests_per_minute: %d is outside 0 to 100000", t.RequestsPerMinute)
	}
	if t.Type != "jira" {
		if t.RequestsPerMinute != 0 {
			return fmt.Errorf("tracker.requests_per_minute: not a key of a %s tracker (jira takes it)", t.Type)
		}
		return nil
	}
	switch {
	case t.Email != "" && t.PATFile != "":
		return errors.New("tracker.pat_file: a Jira Cloud tracker (tracker.email set) authenticates by API token (tracker.token_file); a personal access token is for Data Center, without tracker.email")
	case t.Email == "" && t.TokenFile != "":
		return errors.New("tracker.email: missing; a Jira Cloud API token (tracker.token_file) goes with the account's email (for Data Center give tracker.pat_file instead)")
	}
	return nil
}
