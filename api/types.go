package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/diskspace"
	"github.com/issuemesh/issuemesh/store"
)

// The JSON shapes of the admin API: request bodies (…Input) and answers.
// They are the contract between the node and the command line (and any
// script that reads --json); add fields, never rename them.

// IDInfo is the node's identity (GET /v1/id).
type IDInfo struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

// PeerInfo is one peer as the node sees it.
type PeerInfo struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Addrs     []string `json:"addrs,omitempty"`
	Connected bool     `json:"connected"`
	Relayed   bool     `json:"relayed"`              // connected through a relay only
	Via       string   `json:"via,omitempty"`        // remote address of the connection
	LatencyMS float64  `json:"latency_ms,omitempty"` // peerstore LatencyEWMA
	Paused    bool     `json:"paused"`
	Pending   int      `json:"pending"`
	// SendError is why the last sessions sending to the peer failed (it
	// cannot be dialled, an ack did not come in time, the stream broke),
	// since SendErrorSince, SendFailures times in a row; empty once a
	// session sent everything and had it acked. Pending events wait and
	// are sent again: nothing is lost.
	SendError      string     `json:"send_error,omitempty"`
	SendErrorSince *time.Time `json:"send_error_since,omitempty"`
	SendFailures   int        `json:"send_failures,omitempty"`
}

// Status is the node's state (GET /v1/status).
type Status struct {
	PeerID   string     `json:"peer_id"`
	Addrs    []string   `json:"addrs"`
	Running  bool       `json:"running"`
	Peers    []PeerInfo `json:"peers"`
	Pending  int        `json:"pending"`
	Incoming int        `json:"incoming"`
	Blocked  int        `json:"blocked"` // twins with at least one blocked record
	// BlockedRecords counts the blocked records: one per twin, link and
	// direction (see errors).
	BlockedRecords int `json:"blocked_records"`
	// Refused counts the received events refused since the node started:
	// clocks too far ahead, or forged (see errors).
	Refused int64 `json:"refused,omitempty"`
	// CatchUps counts the network catch-ups running or due: those with a
	// member that just joined a topic (asked now and again about 2 s
	// later) and those waiting to run again.
	CatchUps int `json:"catch_ups,omitempty"`

	// RulesErrors lists the links whose rules or trigger do not load, or
	// whose rule files on disk were refused, until fixed.
	RulesErrors []RulesError `json:"rules_errors,omitempty"`
	Twins       int          `json:"twins"`
	NAT         NATStatus    `json:"nat"`
	// Tracker is the tracker's health, Config what the last reload of
	// config.yaml did.
	Tracker TrackerHealth `json:"tracker"`
	Config  *ConfigState  `json:"config,omitempty"`
	// Disk is the free space of the home; Low while writes are refused.
	Disk diskspace.Status `json:"disk"`
	// Home is the home's size and the sync log's last GC; Restarts lists
	// the services that failed and were restarted.
	Home     HomeStatus       `json:"home"`
	Restarts []ServiceRestart `json:"restarts,omitempty"`
	// Held lists the conflicts held for a person (policy hold): each side
	// keeps its value until issuemesh resolve.
	Held []HeldConflict `json:"held,omitempty"`
}

// HeldConflict is a twin's field held for a person.
type HeldConflict struct {
	Key      string `json:"key"`
	Field    string `json:"field"`
	Link     string `json:"link"`
	LinkName string `json:"link_name,omitempty"`
}

// NATStatus is the node's reachability and relaying state.
type NATStatus struct {
	// Configured is the config's reachability: auto, public or private.
	Configured string `json:"configured"`
	// Reachability is what the node currently assumes: public, private or
	// unknown (auto with too few peers to tell).
	Reachability string `json:"reachability"`
	// HolePunching is true once the node knows a public address of its
	// own, which DCUtR hole punching needs.
	HolePunching bool `json:"hole_punching"`
	// Reservations are the peers that relay for this node.
	Reservations []PeerRef `json:"reservations"`
	// Relaying are the peers this node relays for.
	Relaying []PeerRef `json:"relaying"`
	// MDNS is true while mDNS runs.
	MDNS bool `json:"mdns"`
	// OpenInvitations counts the invitations that can still be accepted.
	OpenInvitations int `json:"open_invitations"`
}

// PeerRef names a peer.
type PeerRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// RulesError is a link whose rules (or trigger) do not load, as shown in
// status and errors until fixed.
type RulesError struct {
	// Link is the peer ID or "net:<network ID>", or "connection <name>"
	// for a config entry that no link uses yet.
	Link     string    `json:"link"`
	PeerName string    `json:"peer_name,omitempty"`
	Error    string    `json:"error"` // names file:line:col
	Since    time.Time `json:"since"`
	// Running says the link keeps its last good rules; false: the link
	// never had good ones and nothing flows on it until they are fixed.
	Running bool `json:"running"`
}

// TrackerHealth is the tracker's state as status and GET /v1/tracker show
// it.
type TrackerHealth struct {
	Type string `json:"type"`
	// State is "ok" (the last call worked), "failing" (the last calls
	// failed; they are retried), "stopped" (a permanent error: nothing is
	// sent to the tracker until the config or key file changes) or
	// "unknown" (no call yet).
	State string `json:"state"`
	// LastPoll is the last successful read of the change feed, LastPush
	// the last successful create or update, LastOK the last successful
	// call of any kind.
	LastPoll time.Time `json:"last_poll,omitzero"`
	LastPush time.Time `json:"last_push,omitzero"`
	LastOK   time.Time `json:"last_ok,omitzero"`
	// Error is the current error, until a call works again.
	Error *TrackerProblem `json:"error,omitempty"`
	// LastError is the error before the tracker last recovered.
	LastError *TrackerProblem `json:"last_error,omitempty"`
}

// TrackerProblem is one kind of tracker error, seen once or more in a row.
type TrackerProblem struct {
	Class     adapters.ErrorClass `json:"class"`
	Permanent bool                `json:"permanent"`
	Status    int                 `json:"http_status,omitempty"`
	Message   string              `json:"message"`
	Since     time.Time           `json:"since"` // first of the row
	Last      time.Time           `json:"last"`
	Count     int                 `json:"count"`
	// RetryAt is when a rate-limited tracker said to come back.
	RetryAt time.Time `json:"retry_at,omitzero"`
	// Resolved is when a call worked again (LastError only).
	Resolved time.Time `json:"resolved,omitzero"`
}

// ConfigState is what the last reload of config.yaml did, in status.
type ConfigState struct {
	// Reloaded is when a changed config.yaml or key file was last applied.
	Reloaded time.Time `json:"reloaded,omitzero"`
	// Applied lists what that reload changed in the running node.
	Applied []string `json:"applied,omitempty"`
	// NeedsRestart lists the keys that changed but take effect only
	// when the node restarts.
	NeedsRestart []string `json:"needs_restart,omitempty"`
	// Warnings are findings that did not refuse the version.
	Warnings []string `json:"warnings,omitempty"`
	// Refused is set while the file on disk is a version the node
	// refused; the version before it keeps running.
	Refused *ConfigRefusal `json:"refused,omitempty"`
}

// ConfigRefusal is a refused version of config.yaml.
type ConfigRefusal struct {
	Error    string         `json:"error"`
	Problems []check.Result `json:"problems,omitempty"`
	Since    time.Time      `json:"since"`
}

// HomeStatus is the home's size and the sync log's last garbage collection.
type HomeStatus struct {
	HomeBytes int64      `json:"home_bytes"`
	LastGC    *GCOutcome `json:"last_gc,omitempty"`
}

// GCOutcome is what the last GC of the sync log did (the home's gc.json).
type GCOutcome struct {
	store.GCResult
	Error string `json:"error,omitempty"`
}

// ServiceRestart is a supervised service that failed and was restarted.
type ServiceRestart struct {
	Service   string    `json:"service"`
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error"`
	Last      time.Time `json:"last"`
}

// TwinRef says which peer holds a synced issue under which key. A
// network's twins are listed one per member whose key is known, with the
// network's name.
type TwinRef struct {
	Peer     string `json:"peer"`
	PeerName string `json:"peer_name,omitempty"`
	Key      string `json:"key,omitempty"` // empty until the peer acked
	Synced   bool   `json:"synced"`
	Network  string `json:"network,omitempty"`
}

// IssueView is an issue with its twins.
type IssueView struct {
	adapters.Issue
	Twin    string        `json:"twin,omitempty"`
	Twins   []TwinRef     `json:"twins"`
	Related []RelatedView `json:"related,omitempty"` // the relations, with the related issues' twins (fields.go)
}

// IssueInput is the body of issue create and edit; nil fields are left
// alone on edit.
type IssueInput struct {
	Summary     *string   `json:"summary,omitempty"`
	Description *string   `json:"description,omitempty"`
	Status      *string   `json:"status,omitempty"`
	Priority    *string   `json:"priority,omitempty"`
	Labels      *[]string `json:"labels,omitempty"`
	IssueFields
}

// CommentInput is the body of issue comment.
type CommentInput struct {
	Body     string `json:"body"`
	Author   string `json:"author,omitempty"`
	Internal bool   `json:"internal,omitempty"`
}

// AttachInput is the body of issue attach: a file on this machine, read by
// the node, and how to name it.
type AttachInput struct {
	Path        string `json:"path"`                   // absolute path of the file to attach
	Filename    string `json:"filename,omitempty"`     // default: the path's base name
	ContentType string `json:"content_type,omitempty"` // default: from the name's extension, else sniffed
	Author      string `json:"author,omitempty"`
}

// PeerInput is the body of peer add.
type PeerInput struct {
	Addr string `json:"addr"`
	Name string `json:"name,omitempty"`
}

// RemoveResult says what removing a peer dropped.
type RemoveResult struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// DroppedOut counts queued events to the peer that were dropped.
	DroppedOut int `json:"dropped_out"`
	// DroppedIn counts received events that waited to be applied.
	DroppedIn int `json:"dropped_in"`
	// Unsynced counts the twins whose link with the peer is now unsynced.
	Unsynced int `json:"unsynced"`
}

// InviteInput is the body of invite.
type InviteInput struct {
	// Name is what the accepting peer will be called here.
	Name string `json:"name,omitempty"`
	// TTL is how long the invitation stays open, e.g. "24h" (default).
	TTL string `json:"ttl,omitempty"`
}

// InviteResult is a new invitation.
type InviteResult struct {
	Code    string    `json:"code"`
	Name    string    `json:"name,omitempty"`
	Network string    `json:"network,omitempty"`
	Expires time.Time `json:"expires"`
	Addrs   []string  `json:"addrs"`
}

// AcceptInput is the body of accept.
type AcceptInput struct {
	Code string `json:"code"`
	// Name is what the inviter will be called here (default "inviter").
	Name string `json:"name,omitempty"`
}

// AcceptResult is what accepting an invitation did: Peer for a peer's
// code, Join for a network's. The answer is the one that is set.
type AcceptResult struct {
	Peer *store.Peer
	Join *JoinResult
}

// JoinResult is what accepting a network invitation did.
type JoinResult struct {
	ID        string `json:"id"` // the inviter
	Network   string `json:"network"`
	NetworkID string `json:"network_id"`
	Members   int    `json:"members"`
}

// QueueEntry is the pending outgoing work for one peer.
type QueueEntry struct {
	Peer     string    `json:"peer"`
	PeerName string    `json:"peer_name,omitempty"`
	Pending  int       `json:"pending"`
	Oldest   time.Time `json:"oldest,omitzero"`
	Age      string    `json:"age,omitempty"`
	Paused   bool      `json:"paused"`
	Incoming int       `json:"incoming"` // received from the peer, waiting to be applied
	// Blocked counts the peer's blocked records (see errors): twins whose
	// events from it wait here, not sent to it, or failed there.
	Blocked int `json:"blocked,omitempty"`
	// FilesOut and FilesIn are the files moving to and from the peer
	// now (nil: none): a first sync with large files spends its time
	// there while the events that carry them wait for their ack.
	FilesOut *FileProgress `json:"files_out,omitempty"`
	FilesIn  *FileProgress `json:"files_in,omitempty"`
}

// FileProgress sums the files moving between this node and a peer in one
// direction: how many, the bytes moved so far and the bytes in all.
type FileProgress struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	Total int64 `json:"total"`
}

// String says it as queue and the console do: "2 files, 12 MiB of 40 MiB".
func (fp FileProgress) String() string {
	files := "1 file"
	if fp.Files != 1 {
		files = fmt.Sprintf("%d files", fp.Files)
	}
	return fmt.Sprintf("%s, %s of %s", files, HumanSize(fp.Bytes), HumanSize(fp.Total))
}

// HumanSize writes a byte count as people read it: 512 B, 3.4 KiB, 12 MiB.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v < 10 {
		return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.0f %ciB", v, "KMGTPE"[exp])
}

// The entries of errors that are no blocked twin use these directions
// (store.Blocked.Dir) next to store.BlockIn, BlockOut and BlockAtPeer.
const (
	// DirRules is a link whose rules or trigger do not load (Peer names
	// it; Twin is empty).
	DirRules store.BlockDir = "rules"
	// DirRefused is a refused event.
	DirRefused store.BlockDir = "refused"
	// DirDisk is the home's disk: free space is below the reserve and
	// writes are refused (Peer is the home's path).
	DirDisk store.BlockDir = "disk"
)

// RetryInput is the body of retry: one issue key (or twin ID, for a twin
// that could not be created here), or all.
type RetryInput struct {
	Key string `json:"key,omitempty"`
	All bool   `json:"all,omitempty"`
}

// RetryResult says which twins were released.
type RetryResult struct {
	Retried []store.Blocked `json:"retried"`
}

// HistoryView is the history of one issue.
type HistoryView struct {
	Key     string         `json:"key"`
	Twin    string         `json:"twin"`
	Records []store.Record `json:"records"`
}

// SyncInput is the body of sync. With All, issues are taken in pages: pass
// the returned Cursor back until Done.
type SyncInput struct {
	Key    string `json:"key,omitempty"`
	To     string `json:"to"`
	All    bool   `json:"all,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// SyncResult counts what a sync did.
type SyncResult struct {
	Shared  int    `json:"shared"`  // events queued for issues not shared before
	Already int    `json:"already"` // already shared and unchanged: nothing sent
	Skipped int    `json:"skipped"` // not matching the connection's trigger
	Total   int    `json:"total"`   // issues in the tracker (bulk only)
	Cursor  string `json:"cursor,omitempty"`
	Done    bool   `json:"done"`
}

// UnsyncInput is the body of unsync.
type UnsyncInput struct {
	Key  string `json:"key"`
	From string `json:"from"`
}

// LinkInput is the body of link.
type LinkInput struct {
	Key    string `json:"key"`
	To     string `json:"to"`
	Remote string `json:"remote"`
}

// RulesTestInput is the body of rules test: with To, what the outgoing rules
// make of the issue; with From and a Replica, what the incoming rules would
// do to the issue. Replica is in the shape ReplicaJSON documents, the one
// the result prints.
type RulesTestInput struct {
	Key     string          `json:"key"`
	To      string          `json:"to,omitempty"`
	From    string          `json:"from,omitempty"`
	Replica json.RawMessage `json:"replica,omitempty"`
}

// RulesTestResult is what the rules would do; nothing is synced.
type RulesTestResult struct {
	Matches bool            `json:"matches"` // the trigger selects the issue
	Skip    bool            `json:"skip"`
	Reason  string          `json:"reason,omitempty"`
	Replica *ReplicaJSON    `json:"replica,omitempty"`
	Create  *adapters.Issue `json:"create,omitempty"`
	Patch   *adapters.Patch `json:"patch,omitempty"`
	// DiffersFromRunning says the rule files on disk (which are what is
	// tested) are not the rules the node runs now; Note says why.
	DiffersFromRunning bool   `json:"differs_from_running,omitempty"`
	Note               string `json:"note,omitempty"`
}

// NetworkInput is the body of network create and network invite.
type NetworkInput struct {
	Name string `json:"name,omitempty"`
	// Member is the name the accepting member gets (network invite).
	Member string `json:"member,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}

// NetworkInfo is one network as `network list` shows it.
type NetworkInfo struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Created time.Time       `json:"created"`
	Left    bool            `json:"left,omitempty"`
	Running bool            `json:"running"`
	Pending int             `json:"pending"` // own events not yet published
	Members []NetMemberInfo `json:"members"`
}

// NetMemberInfo is one member of a network.
type NetMemberInfo struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Self      bool     `json:"self,omitempty"`
	State     string   `json:"state"` // joined or left
	Connected bool     `json:"connected"`
	Addrs     []string `json:"addrs,omitempty"`
}

// BackupInput is the body of POST /v1/backup.
type BackupInput struct {
	Dir string `json:"dir"` // absolute; must not exist or be empty
}

// BackupInfo describes a backup (its backup.json).
type BackupInfo struct {
	Version      int       `json:"version"`
	Dir          string    `json:"dir"`
	PeerID       string    `json:"peer_id"`
	Created      time.Time `json:"created"`
	SyncLogBytes int64     `json:"synclog_bytes"`
	TrackerBytes int64     `json:"tracker_bytes,omitempty"` // 0: not the embedded tracker
	Files        []string  `json:"files"`
	Online       bool      `json:"online"` // taken while the node ran
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
}
