package local

import (
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
)

// TestContract runs the adapter contract suite against the local tracker.
func TestContract(t *testing.T) {
	contract.Run(t, func(t *testing.T) adapters.Tracker { return newTest(t) }, contract.Local)
}
