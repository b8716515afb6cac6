// Package config is a node's configuration: the typed form of config.yaml in
// the node's home, its defaults, loading and validation. Validation errors
// name the file, the key and what is wrong with it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"gopkg.in/yaml.v3"
)

// FileName is the config file in a node's home.
const FileName = "config.yaml"

// Config is a node's configuration.
type Config struct {
	// Listen is where the node accepts peers: TCP and QUIC multiaddrs.
	Listen []string `yaml:"listen"`
	// Tracker selects the issue tracker this node syncs.
	Tracker Tracker `yaml:"tracker"`
	// Reachability tells the node whether peers can dial it directly:
	// auto (let AutoNAT decide), public (serve as a relay for allowlisted
	// peers) or private (behind NAT: reserve relay slots).
	Reachability string `yaml:"reachability"`
	// NATPortMap asks the router for a port mapping (UPnP / NAT-PMP).
	NATPortMap bool `yaml:"nat_port_map"`
	// MDNS finds peers on the local network.
	MDNS bool `yaml:"mdns"`
	// Log sets the log level: debug, info, warn or error.
	Log string `yaml:"log"`
	// MaxClockSkew is how far ahead of this node's clock the clocks of a
	// received event may be (e.g. 5m): an event further ahead is refused,
	// never applied. 0 means the default, 5m.
	MaxClockSkew time.Duration `yaml:"max_clock_skew,omitempty"`
	// Connections holds per-peer sync settings, keyed by the peer's name
	// (as given to peer add) or peer ID, and per-network ones keyed by
	// "net:<network name>"; the key "*" applies to every peer and network
	// without its own entry.
	Connections map[string]Connection `yaml:"connections,omitempty"`
	// Metrics serves Prometheus metrics over TCP (off by default).
	Metrics Metrics `yaml:"metrics,omitempty"`
	// Console serves the operator's web console (off by default; see
	// console.go).
	Console Console `yaml:"console,omitempty"`
}

// Metrics is the metrics section.
type Metrics struct {
	// Listen is the TCP address of GET /metrics, e.g. 127.0.0.1:9447.
	// Empty: metrics only on the admin socket. Metrics need no secret, so
	// name a non-loopback address only where the network is trusted.
	Listen string `yaml:"listen,omitempty"`
}

// Connection is how this node syncs with one peer. Everything is optional:
// with no entry, every issue syncs with the default rules.
type Connection struct {
	// Trigger is a Starlark expression over `issue` that decides which
	// issues are shared, e.g. '"sync" in issue.labels'. Empty: all.
	Trigger string `yaml:"trigger,omitempty"`
	// Outgoing and Incoming are Starlark rule files (relative to the home).
	// Empty: the default rules.
	Outgoing string `yaml:"outgoing,omitempty"`
	Incoming string `yaml:"incoming,omitempty"`
	// StatusMap and PriorityMap translate this tracker's values into the
	// shared values the peer sees (and back, for what the peer sends), e.g.
	// {Resolved: Done}. Values not in the map pass unchanged.
	StatusMap   map[string]string `yaml:"status_map,omitempty"`
	PriorityMap map[string]string `yaml:"priority_map,omitempty"`
	// UserMap maps this tracker's people (an email or a login) to the
	// partner's, e.g. {ann@example.com: a.lee@partner.example}; TypeMap
	// maps issue types, e.g. {Bug: Defect}; FieldMap renames custom
	// fields, e.g. {Customer tier: Tier}. All work both ways (see the
	// README's rules section for unknown people).
	UserMap  map[string]string `yaml:"user_map,omitempty"`
	TypeMap  map[string]string `yaml:"type_map,omitempty"`
	FieldMap map[string]string `yaml:"field_map,omitempty"`
	// Conflicts chooses per field what happens when both sides edit it
	// before either saw the other's edit: "newest" (the default: the
	// newest edit wins everywhere), "ours" or "theirs" (this side's, or
	// the peer's, value is kept on both; peers only), or "hold" (each side
	// keeps its value until a person runs issuemesh resolve), e.g.
	// {status: hold, cf.Severity: ours}. A conflict is recorded either way.
	Conflicts map[string]string `yaml:"conflicts,omitempty"`
	// Policy (networks only) says per field whose edits count: "newest"
	// (the default: the newest edit wins) or "owner" (only the edits of the
	// member Owner, a peer ID or member name), e.g. {priority: owner}. Every
	// member of the network must use the same policy.
	Policy map[string]string `yaml:"policy,omitempty"`
	Owner  string            `yaml:"owner,omitempty"`
}

// Field policies of a network (Connection.Policy).
const (
	PolicyNewest = "newest"
	PolicyOwner  = "owner"
)

// Conflict policies (Connection.Conflicts).
const (
	ConflictNewest = "newest"
	ConflictOurs   = "ours"
	ConflictTheirs = "theirs"
	ConflictHold   = "hold"
)

// validateConflicts checks a connection entry's conflict policies.
func validateConflicts(name string, cc Connection) error {
	for _, field := range slices.Sorted(maps.Keys(cc.Conflicts)) {
		p := cc.Conflicts[field]
		switch {
		case strings.TrimSpace(field) == "":
			return fmt.Errorf("connections.%s.conflicts: a field name is empty; name a field such as status or cf.Severity", name)
		case p != ConflictNewest && p != ConflictOurs && p != ConflictTheirs && p != ConflictHold:
			return fmt.Errorf("connections.%s.conflicts.%s: %q is not one of %s, %s, %s, %s", name, field, p, ConflictNewest, ConflictOurs, ConflictTheirs, ConflictHold)
		case (p == ConflictOurs || p == ConflictTheirs) && strings.HasPrefix(name, "net:"):
			return fmt.Errorf("connections.%s.conflicts.%s: %q needs one peer on the other side; a network has many (use newest or hold)", name, field, p)
		}
	}
	return nil
}

// Connection returns the settings for a peer: its own entry by ID, else by
// name, else the "*" entry, else the defaults.
func (c *Config) Connection(peerID, name string) Connection {
	if cc, ok := c.Connections[peerID]; ok {
		return cc
	}
	if name != "" {
		if cc, ok := c.Connections[name]; ok {
			return cc
		}
	}
	return c.Connections["*"]
}

// NetworkConnection returns the settings for a network: its own entry
// "net:<name>", else the "*" entry, else the defaults.
func (c *Config) NetworkConnection(name string) Connection {
	if cc, ok := c.Connections["net:"+name]; ok {
		return cc
	}
	return c.Connections["*"]
}

// Tracker is the tracker section. See tracker.go for the keys of each
// type and their validation.
type Tracker struct {
	// Type is the adapter: local (the embedded tracker), redmine, rt or github.
	Type string `yaml:"type"`
	// Prefix is the key prefix of the local tracker (LOCAL-1, ...).
	Prefix string `yaml:"prefix,omitempty"`
	// URL of the tracker (redmine, rt), e.g. http://127.0.0.1:3000.
	URL string `yaml:"url,omitempty"`
	// APIKeyFile holds Redmine's API key; empty: the environment variable
	// ISSUEMESH_REDMINE_API_KEY. Never the key itself.
	APIKeyFile string `yaml:"api_key_file,omitempty"`
	// TokenFile holds an RT auth token; empty: the environment variable
	// ISSUEMESH_RT_TOKEN. Never the token itself.
	TokenFile string `yaml:"token_file,omitempty"`
	// Project is the Redmine project synced (its identifier), or the Jira
	// project's key.
	Project string `yaml:"project,omitempty"`
	// Email (jira) is the Atlassian account of a Jira Cloud API token;
	// without it the Jira adapter speaks Data Center's API.
	Email string `yaml:"email,omitempty"`
	// PATFile (jira) holds a Jira Data Center personal access token;
	// empty: the environment variable ISSUEMESH_JIRA_PAT.
	PATFile string `yaml:"pat_file,omitempty"`
	// RequestsPerMinute (jira) is the node's request budget; 0: 600.
	RequestsPerMinute int `yaml:"requests_per_minute,omitempty"`
	// Queue is the RT queue synced (its name).
	Queue string `yaml:"queue,omitempty"`
	// Repo is the GitHub repository synced, owner/repo. (For github,
	// url is the API of a GitHub Enterprise Server, empty for github.com,
	// and token_file holds the token, default $ISSUEMESH_GITHUB_TOKEN.)
	Repo string `yaml:"repo,omitempty"`
	// Repos (github) are more repositories on the same connection, each
	// owner/repo; issue keys (owner/repo#N) stay unique across them.
	Repos []string `yaml:"repos,omitempty"`
	// PullRequests (github) syncs pull requests as issues too.
	PullRequests bool `yaml:"pull_requests,omitempty"`
	// AppID, AppKeyFile and Installation (github) authenticate as a
	// GitHub App's installation instead of by token: the app's ID, the
	// file of its private key (.pem) and the installation's ID.
	AppID        int64  `yaml:"app_id,omitempty"`
	AppKeyFile   string `yaml:"app_key_file,omitempty"`
	Installation int64  `yaml:"installation,omitempty"`
	// Webhook (github, gitea) is a listener for the tracker's webhook deliveries,
	// which make the node read the change feed at once (polling goes on).
	Webhook *Webhook `yaml:"webhook,omitempty"`
	// Timezone is the zone in which RT reads dates in searches (its
	// $Timezone, or the token user's preference), e.g. Europe/Berlin;
	// empty: UTC.
	Timezone string `yaml:"timezone,omitempty"`
	// PollInterval is how often the node asks a tracker without push
	// notifications (redmine, rt) for changes, e.g. 2s; empty: 5s. The
	// embedded tracker pushes its changes and is only polled as a safety
	// net at this pace.
	PollInterval Duration `yaml:"poll_interval,omitempty"`
	// ShareConfidential (gitlab) lets confidential issues leave: without
	// it (the default) a confidential issue is in no change feed, no
	// search and no read, so it never reaches a partner.
	ShareConfidential bool `yaml:"share_confidential,omitempty"`
	// Projects (gitlab) are more projects on the same connection, each a
	// full path; issues created by sync go to tracker.project.
	Projects []string `yaml:"projects,omitempty"`
}

// Webhook is tracker.webhook.
type Webhook struct {
	// Listen is host:port, e.g. 0.0.0.0:8443 (behind a TLS proxy).
	Listen string `yaml:"listen"`
	// SecretFile holds the webhook's secret, as set on GitHub or Gitea;
	// empty: the environment variable ISSUEMESH_GITHUB_WEBHOOK_SECRET
	// (ISSUEMESH_GITEA_WEBHOOK_SECRET for gitea).
	SecretFile string `yaml:"secret_file,omitempty"`
}

// Duration is a time.Duration written as "5s", "1m" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a duration like "5s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 5s or 1m: %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes a duration like "5s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// DefaultListen are the listen addresses of a new node.
var DefaultListen = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}

// Default returns the configuration of a new node.
func Default() *Config {
	return &Config{
		Listen:       append([]string(nil), DefaultListen...),
		Tracker:      Tracker{Type: "local", Prefix: "LOCAL"},
		Reachability: "auto",
		NATPortMap:   true,
		MDNS:         true,
		Log:          "info",
	}
}

// Load reads config.yaml from home. Keys it does not know are errors, so
// that a typo is not silently ignored; missing keys take their defaults.
func Load(home string) (*Config, error) {
	path := filepath.Join(home, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no %s in %s: run 'issuemesh --home %s init' first", FileName, home, home)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and validates a config file's contents; path is used in
// error messages.
func Parse(path string, b []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate checks every key and names the first bad one.
func (c *Config) Validate() error {
	if len(c.Listen) == 0 {
		return errors.New("listen: at least one address is needed, e.g. /ip4/0.0.0.0/tcp/4001")
	}
	for i, a := range c.Listen {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return fmt.Errorf("listen[%d]: %q is not a multiaddr: %w", i, a, err)
		}
		if _, err := m.ValueForProtocol(ma.P_TCP); err != nil {
			if _, err := m.ValueForProtocol(ma.P_QUIC_V1); err != nil {
				return fmt.Errorf("listen[%d]: %q has neither /tcp nor /quic-v1", i, a)
			}
		}
	}
	if err := c.Tracker.validate(); err != nil {
		return err
	}
	if c.MaxClockSkew < 0 {
		return fmt.Errorf("max_clock_skew: %s is negative; use a duration such as 5m", c.MaxClockSkew)
	}
	if a := c.Metrics.Listen; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("metrics.listen: %q is not a host:port, e.g. 127.0.0.1:9447", a)
		}
	}
	if err := ValidateConsole(c.Console); err != nil {
		return err
	}
	switch c.Reachability {
	case "auto", "public", "private":
	default:
		return fmt.Errorf("reachability: %q is not one of auto, public, private", c.Reachability)
	}
	for name, cc := range c.Connections {
		for field, p := range cc.Policy {
			switch {
			case p != PolicyNewest && p != PolicyOwner:
				return fmt.Errorf("connections.%s.policy.%s: %q is not one of %s, %s", name, field, p, PolicyNewest, PolicyOwner)
			case p == PolicyOwner && cc.Owner == "":
				return fmt.Errorf("connections.%s.policy.%s: %q needs connections.%s.owner, the member whose edits count", name, field, p, name)
			case !strings.HasPrefix(name, "net:") && name != "*":
				return fmt.Errorf("connections.%s.policy: field policies apply to networks only (entries named net:<network name>)", name)
			}
		}
		if err := validateConflicts(name, cc); err != nil {
			return err
		}
		for field, m := range map[string]map[string]string{"status_map": cc.StatusMap, "priority_map": cc.PriorityMap,
			"user_map": cc.UserMap, "type_map": cc.TypeMap, "field_map": cc.FieldMap} {
			back := map[string]string{}
			for local, shared := range m {
				if other, dup := back[shared]; dup {
					return fmt.Errorf("connections.%s.%s: %q and %q both map to %q, so a received %q could not be mapped back", name, field, other, local, shared, shared)
				}
				back[shared] = local
			}
		}
	}
	switch c.Log {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log: %q is not one of debug, info, warn, error", c.Log)
	}
	return nil
}

// Write stores the config as config.yaml in home (mode 0600).
func (c *Config) Write(home string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	head := "# issuemesh node configuration. See README.md for every key.\n"
	if err := os.WriteFile(filepath.Join(home, FileName), append([]byte(head), b...), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
