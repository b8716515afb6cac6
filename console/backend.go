package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/store"
)

// Node is what the console needs of a node: its admin API (HTTP+JSON, the
// contract the command line relies on, README "Commands"). *node.Node
// satisfies it with the handler it serves on admin.sock.
type Node interface {
	Handler() http.Handler
}

// notFound reports whether err is the admin API's 404.
func notFound(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func esc(s string) string { return url.PathEscape(s) }

// The admin API's shapes, under the names the console's code uses.
type (
	peerInfo     = api.PeerInfo
	status       = api.Status
	rulesError   = api.RulesError
	queueEntry   = api.QueueEntry
	blocked      = store.Blocked
	issue        = api.IssueView
	record       = store.Record
	history      = api.HistoryView
	network      = api.NetworkInfo
	inviteResult = api.InviteResult
)

// rulesTestResult is api.RulesTestResult with its replica, new issue and
// patch kept as the JSON the node wrote, which is what the playground
// shows.
type rulesTestResult struct {
	Matches            bool            `json:"matches"`
	Skip               bool            `json:"skip"`
	Reason             string          `json:"reason"`
	Replica            json.RawMessage `json:"replica"`
	Create             json.RawMessage `json:"create"`
	Patch              json.RawMessage `json:"patch"`
	DiffersFromRunning bool            `json:"differs_from_running"`
	Note               string          `json:"note"`
}
