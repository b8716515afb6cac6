// Package api is the node's admin API: HTTP+JSON that the command line
// (cmd/issuemesh) and scripts use to operate a node. It owns no step of the
// sync path; it is the operator's door to all of them: issues and their
// twins, peers and invitations, manual sync, the queue and blocked twins
// with their retry, rules test, networks, files, backup, tracker health,
// status and the Prometheus metrics.
//
// The server (NewServer) turns requests into calls of a Backend, the
// interface defined here that the node satisfies (node/admin.go), and the
// Backend's answers and errors into JSON: an error wrapping ErrBadRequest
// or adapters.ErrRejected answers 400, a not-found one 404, an unavailable
// tracker 503, anything else 500, each with {"error": "..."}. The shapes
// of requests and answers (types.go, replicajson.go) are the contract the
// command line relies on.
//
// A running node serves the API on the unix socket admin.sock in its home
// (ServeSocket). While no node runs, the command line serves the same
// handler in-process over the opened home (NewLocalClient), so every
// command works either way; the Client hides which.
package api
