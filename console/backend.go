package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"
)

// Node is what the console needs of a node: its admin API (HTTP+JSON, the
// contract the command line relies on, README "Commands"). *node.Node
// satisfies it with the handler it serves on admin.sock.
type Node interface {
	Handler() http.Handler
}

// apiError is an answer of the admin API that is not a success.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// notFound reports whether err is the admin API's 404.
func notFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// api calls the node's admin API in-process.
type api struct{ h http.Handler }

// do sends one request; in (when not nil) is the JSON body, out (when not
// nil) receives the JSON answer.
func (a api) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request to %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, body)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %d %s", method, path, rec.Code, bytes.TrimSpace(rec.Body.Bytes()))
		}
		return &apiError{Status: rec.Code, Msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return fmt.Errorf("reading the node's answer to %s: %w", path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// The shapes below are the admin API's JSON, as far as the console shows it.

type peerInfo struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Addrs     []string `json:"addrs"`
	Connected bool     `json:"connected"`
	Relayed   bool     `json:"relayed"`
	Via       string   `json:"via"`
	LatencyMS float64  `json:"latency_ms"`
	Paused    bool     `json:"paused"`
	Pending   int      `json:"pending"`
}

type peerRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type trackerProblem struct {
	Class     string    `json:"class"`
	Permanent bool      `json:"permanent"`
	Message   string    `json:"message"`
	Since     time.Time `json:"since"`
	Count     int       `json:"count"`
}

type trackerHealth struct {
	Type     string          `json:"type"`
	State    string          `json:"state"`
	LastPoll time.Time       `json:"last_poll"`
	LastPush time.Time       `json:"last_push"`
	LastOK   time.Time       `json:"last_ok"`
	Error    *trackerProblem `json:"error"`
}

type rulesError struct {
	Link     string    `json:"link"`
	PeerName string    `json:"peer_name"`
	Error    string    `json:"error"`
	Since    time.Time `json:"since"`
}

type status struct {
	PeerID         string       `json:"peer_id"`
	Addrs          []string     `json:"addrs"`
	Running        bool         `json:"running"`
	Peers          []peerInfo   `json:"peers"`
	Pending        int          `json:"pending"`
	Incoming       int          `json:"incoming"`
	Blocked        int          `json:"blocked"`
	BlockedRecords int          `json:"blocked_records"`
	Refused        int64        `json:"refused"`
	Twins          int          `json:"twins"`
	RulesErrors    []rulesError `json:"rules_errors"`
	NAT            struct {
		Configured      string    `json:"configured"`
		Reachability    string    `json:"reachability"`
		HolePunching    bool      `json:"hole_punching"`
		Reservations    []peerRef `json:"reservations"`
		Relaying        []peerRef `json:"relaying"`
		MDNS            bool      `json:"mdns"`
		OpenInvitations int       `json:"open_invitations"`
	} `json:"nat"`
	Tracker trackerHealth `json:"tracker"`
	Disk    struct {
		Low       bool  `json:"low"`
		FreeBytes int64 `json:"free_bytes"`
	} `json:"disk"`
}

type queueEntry struct {
	Peer     string    `json:"peer"`
	PeerName string    `json:"peer_name"`
	Pending  int       `json:"pending"`
	Oldest   time.Time `json:"oldest"`
	Age      string    `json:"age"`
	Paused   bool      `json:"paused"`
	Incoming int       `json:"incoming"`
	Blocked  int       `json:"blocked"`
}

type blocked struct {
	Twin     string    `json:"twin"`
	Key      string    `json:"key"`
	Peer     string    `json:"peer"`
	PeerName string    `json:"peer_name"`
	Dir      string    `json:"direction"`
	Seq      uint64    `json:"seq"`
	Error    string    `json:"error"`
	Since    time.Time `json:"since"`
	Attempts int       `json:"attempts"`
}

type twinRef struct {
	Peer     string `json:"peer"`
	PeerName string `json:"peer_name"`
	Key      string `json:"key"`
	Synced   bool   `json:"synced"`
	Network  string `json:"network"`
}

type comment struct {
	Author  string    `json:"author"`
	Body    string    `json:"body"`
	Created time.Time `json:"created"`
}

type issue struct {
	Key         string            `json:"key"`
	Summary     string            `json:"summary"`
	Description string            `json:"description"`
	Status      string            `json:"status"`
	Priority    string            `json:"priority"`
	Labels      []string          `json:"labels"`
	Extra       map[string]string `json:"extra"`
	Comments    []comment         `json:"comments"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	Twin        string            `json:"twin"`
	Twins       []twinRef         `json:"twins"`
}

type record struct {
	Time     time.Time `json:"time"`
	Dir      string    `json:"dir"`
	Peer     string    `json:"peer"`
	PeerName string    `json:"peer_name"`
	Seq      uint64    `json:"seq"`
	EventID  string    `json:"event_id"`
	What     string    `json:"what"`
	Fields   []string  `json:"fields"`
	Key      string    `json:"key"`
	Error    string    `json:"error"`
}

type history struct {
	Key     string   `json:"key"`
	Twin    string   `json:"twin"`
	Records []record `json:"records"`
}

type netMember struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Self      bool   `json:"self"`
	State     string `json:"state"`
	Connected bool   `json:"connected"`
}

type network struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Left    bool        `json:"left"`
	Running bool        `json:"running"`
	Pending int         `json:"pending"`
	Members []netMember `json:"members"`
}

type inviteResult struct {
	Code    string    `json:"code"`
	Name    string    `json:"name"`
	Expires time.Time `json:"expires"`
}

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
