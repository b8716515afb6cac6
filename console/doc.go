// Package console is the operator's web console that `issuemesh run` serves
// when config.yaml names console.listen (or run --console ADDR): live
// server-rendered pages of the node's state (overview, peers and networks,
// connections with a rules playground, queue, errors with retry, an issue's
// timeline, search) and /metrics.
//
// It owns no step of the sync path: it reads the node's state and takes its
// actions only through the node's admin API, the same HTTP+JSON contract the
// command line uses, decoded into package api's shapes (Node is the one
// method it needs), so it shows exactly what `issuemesh status`, `queue`,
// `errors` and `history` print.
//
// Access: every page and action needs a session cookie, which only a
// one-time login link sets (`issuemesh console url`, asked over the
// console's own unix socket in the home, console.sock, which only the
// home's owner can open). Every action is a POST that carries the session's
// CSRF token and, when the browser sends one, a same-origin Origin header.
// The console listens on loopback unless the config names another address
// with a TLS certificate and key (config.ValidateConsole).
//
// Live updates: each page has a live part, rendered by the same template
// for the first load and for a server-sent event (GET /events) whenever
// what it shows changes; the server renders it once a second while the
// page is open and sends it only when it differs. Nothing is fetched from
// the internet: the templates, the stylesheet and the script are embedded.
package console
