package node

import "github.com/issuemesh/issuemesh/api"

// The shapes of the admin API (package api) that the node's code fills in,
// under the names it has always used here.
type (
	PeerInfo        = api.PeerInfo
	Status          = api.Status
	NATStatus       = api.NATStatus
	PeerRef         = api.PeerRef
	RulesError      = api.RulesError
	TrackerHealth   = api.TrackerHealth
	TrackerProblem  = api.TrackerProblem
	ConfigState     = api.ConfigState
	ConfigRefusal   = api.ConfigRefusal
	GCOutcome       = api.GCOutcome
	ServiceRestart  = api.ServiceRestart
	TwinRef         = api.TwinRef
	RemoveResult    = api.RemoveResult
	InviteResult    = api.InviteResult
	JoinResult      = api.JoinResult
	QueueEntry      = api.QueueEntry
	RetryInput      = api.RetryInput
	RetryResult     = api.RetryResult
	SyncInput       = api.SyncInput
	SyncResult      = api.SyncResult
	UnsyncInput     = api.UnsyncInput
	LinkInput       = api.LinkInput
	RulesTestInput  = api.RulesTestInput
	RulesTestResult = api.RulesTestResult
	NetworkInfo     = api.NetworkInfo
	NetMemberInfo   = api.NetMemberInfo
	BackupInfo      = api.BackupInfo
)

// The entries of errors that are no blocked twin (see api.DirRules).
const (
	DirRules   = api.DirRules
	DirRefused = api.DirRefused
	DirDisk    = api.DirDisk
)

// errBadRequest marks the caller's mistake: the admin API answers 400.
var errBadRequest = api.ErrBadRequest
