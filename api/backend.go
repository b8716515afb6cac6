package api

import (
	"context"
	"net/http"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/store"
)

// Backend is what the admin API needs of a node. Peers are named by ID or
// name wherever a request names one; the backend resolves them. Errors
// that wrap ErrBadRequest are the caller's mistake and are answered 400.
type Backend interface {
	NodeBackend
	IssueBackend
	PeerBackend
	SyncBackend
	NetworkBackend
}

// NodeBackend is the node as a whole.
type NodeBackend interface {
	ID() IDInfo
	Status(ctx context.Context) (Status, error)
	TrackerHealth() TrackerHealth
	// Backup writes a backup of the home into dir, an absolute path that
	// does not exist or is an empty folder.
	Backup(ctx context.Context, dir string) (BackupInfo, error)
	// Metrics serves the node's Prometheus metrics.
	Metrics() http.Handler
}

// IssueBackend is the node's tracker and what sync knows of its issues.
type IssueBackend interface {
	// Tracker is the node's tracker (the calls count in its health).
	Tracker() adapters.Tracker
	// EachIssue calls fn with every issue of the tracker, a page at a time.
	EachIssue(ctx context.Context, fn func([]adapters.Issue) error) error
	// Twins is the twin of the issue with that key and who holds it; twin
	// is empty for an issue that is not synced.
	Twins(ctx context.Context, key string) (twin string, refs []TwinRef, err error)
	// History is the history of the issue with that key.
	History(ctx context.Context, key string) (HistoryView, error)
}

// PeerBackend manages peers and invitations.
type PeerBackend interface {
	Peers(ctx context.Context) ([]PeerInfo, error)
	// AddPeer allowlists the peer of a full multiaddr and shares every
	// existing issue with it.
	AddPeer(ctx context.Context, addr, name string) (store.Peer, error)
	RemovePeer(ctx context.Context, peer string) (RemoveResult, error)
	// PausePeer pauses (or resumes) sending to a peer.
	PausePeer(ctx context.Context, peer string, pause bool) (PeerInfo, error)
	Invite(ctx context.Context, name string, ttl time.Duration) (InviteResult, error)
	// Invites lists the invitations that can still be accepted.
	Invites(ctx context.Context) ([]store.Invite, error)
	Accept(ctx context.Context, in AcceptInput) (AcceptResult, error)
}

// SyncBackend is the operator's hand on sync: the queue, blocked twins,
// manual sync and rules.
type SyncBackend interface {
	Queue(ctx context.Context) ([]QueueEntry, error)
	// Errors lists the blocked twins and every other problem that holds
	// sync up (refused events, rules that do not load, a full disk).
	Errors(ctx context.Context) ([]store.Blocked, error)
	Retry(ctx context.Context, in RetryInput) (RetryResult, error)
	Sync(ctx context.Context, in SyncInput) (SyncResult, error)
	Unsync(ctx context.Context, in UnsyncInput) error
	Link(ctx context.Context, in LinkInput) error
	TestRules(ctx context.Context, in RulesTestInput) (RulesTestResult, error)
	// Conflicts lists the conflicts of concurrent edits the merges found.
	Conflicts(ctx context.Context) ([]ConflictView, error)
	// Resolve settles an open conflict (issuemesh resolve).
	Resolve(ctx context.Context, in ResolveInput) (ResolveResult, error)
}

// NetworkBackend manages the networks this node is a member of.
type NetworkBackend interface {
	Networks(ctx context.Context) ([]NetworkInfo, error)
	CreateNetwork(ctx context.Context, name string) (NetworkInfo, error)
	// InviteNetwork invites into the network with that name; the acceptor
	// is called member there.
	InviteNetwork(ctx context.Context, name, member string, ttl time.Duration) (InviteResult, error)
	LeaveNetwork(ctx context.Context, name string) (NetworkInfo, error)
}
