// Package e2e holds the end-to-end tests of issuemesh: they build the
// issuemesh binary once and run real node processes on loopback (and, for
// the NAT tests, in network namespaces), driving them only through the
// command line, as a user or a script would.
package e2e
