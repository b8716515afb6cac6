package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/trackerhealth"
)

// Live configuration: a running node watches config.yaml and the key or
// token file it names (and reloads at once on ReloadConfig, which the
// command line calls on SIGHUP; the signal also re-reads every rule file,
// whatever its modification time and size say). A new version is validated fully, as
// `issuemesh config check` does (syntax and keys, rule files and triggers,
// maps against the tracker's real values); a version with a problem is
// refused and the running one stays. What can change live is applied: the
// connections (maps, rules, triggers, policies), tracker.poll_interval,
// log, and the credentials (the tracker is reopened with the new key and,
// if a refused key had stopped it, resumed). The rest (listen,
// reachability, nat_port_map, mdns, the tracker's type, URL, project or
// queue) is noted as needing a restart. Status shows the outcome.

// configEvery is how often config.yaml and the key file are looked at.
const configEvery = 2 * time.Second

// liveConfig watches config.yaml and the key file (a service: Run) and
// holds the config in force.
type liveConfig struct {
	home  string
	start *config.Config // as read at start
	log   *slog.Logger
	level *slog.LevelVar // the logger's level, or nil
	hooks liveHooks
	live  atomic.Pointer[config.Config] // as last reloaded; nil: start
	kick  chan struct{}

	run      sync.Mutex // held by a reload from start to end
	mu       sync.Mutex // guards the fields below
	seen     bool       // the sums below are set
	cfgSum   [32]byte
	keySum   [32]byte
	state    ConfigState
	hasState bool
}

// liveHooks are what a reload acts on in the rest of the node.
type liveHooks struct {
	health         func() *trackerhealth.Tracker // nil until the tracker is open
	trackerStopped func() bool
	connsChanged   func() // the connections changed: rules reload, links wake
	wakeAll        func()
	pollChanged    func()
	signalled      func() // a reload was asked for (SIGHUP): every rule file is re-read
}

func newLiveConfig(home string, start *config.Config, log *slog.Logger, level *slog.LevelVar, hooks liveHooks) *liveConfig {
	return &liveConfig{home: home, start: start, log: log, level: level, hooks: hooks, kick: make(chan struct{}, 1)}
}

// newLive wires the config watcher to the node.
func (n *Node) newLive() *liveConfig {
	// wakeAll wakes the trigger and every link's sender and applier, so that
	// what waited for a fix is tried now rather than at the end of its backoff.
	wakeAll := func() {
		for _, id := range n.peerIDs() {
			n.wakeLink(id.String())
			if ps := n.peer(id); ps != nil {
				ps.kick(ps.wakeApply)
			}
		}
		for _, l := range n.mesh.Links() {
			n.wakeLink(l)
			n.mesh.WakeApply(l)
		}
		n.kickTrigger()
	}
	return newLiveConfig(n.home, n.cfg, n.log, n.opts.LogLevel, liveHooks{
		health:         func() *trackerhealth.Tracker { return n.health },
		trackerStopped: func() bool { return n.health != nil && n.health.Stopped() },
		connsChanged:   func() { n.rules.ForgetAll(); wakeAll() },
		wakeAll:        wakeAll,
		pollChanged:    n.kickTrigger,
		signalled:      func() { n.rules.ReloadNow() },
	})
}

// current is the config in force: as last reloaded, or as read at start.
func (c *liveConfig) current() *config.Config {
	if l := c.live.Load(); l != nil {
		return l
	}
	return c.start
}

// pollEvery is the tracker's poll interval in force.
func (c *liveConfig) pollEvery() time.Duration { return pollEvery(c.current()) }

func pollEvery(c *config.Config) time.Duration {
	if d := time.Duration(c.Tracker.PollInterval); d > 0 {
		return d
	}
	return defaultPollInterval
}

// ReloadConfig makes the running node look at config.yaml and the key file
// now (SIGHUP). It never blocks.
func (n *Node) ReloadConfig() { kick(n.live.kick) }

// State is what the last reload did, nil before the first.
func (c *liveConfig) State() *ConfigState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hasState {
		return nil
	}
	st := c.state
	return &st
}

// Run reloads config.yaml and the key file when they change.
func (c *liveConfig) Run(ctx context.Context) error {
	kickc := c.kick
	c.reload(ctx, false) // the sums of what runs
	tick := time.NewTicker(configEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.reload(ctx, false)
		case <-kickc:
			c.log.Info("reloading config.yaml (signal)")
			c.reload(ctx, true)
			c.hooks.signalled()
		}
	}
}

// keyFile is the credential file a tracker section names, or "".
func keyFile(home string, t config.Tracker) string {
	f := t.APIKeyFile
	if t.Type == "rt" {
		f = t.TokenFile
	}
	if f != "" && !filepath.IsAbs(f) {
		f = filepath.Join(home, f)
	}
	return f
}

// reload applies config.yaml and the key file if they changed since
// the last look (or force).
func (c *liveConfig) reload(ctx context.Context, force bool) {
	c.run.Lock()
	defer c.run.Unlock()
	path := filepath.Join(c.home, config.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		c.refuse(fmt.Errorf("read %s: %w", path, err), nil)
		return
	}
	cfgSum := sha256.Sum256(b)
	cur := c.current()
	next, perr := config.Parse(path, b)
	kf := keyFile(c.home, cur.Tracker)
	if perr == nil {
		kf = keyFile(c.home, next.Tracker)
	}
	var keySum [32]byte
	if kf != "" {
		kb, _ := os.ReadFile(kf) // a missing file is an error of the reopen below
		keySum = sha256.Sum256(kb)
	}
	c.mu.Lock()
	first := !c.seen
	cfgSame, keyChanged := cfgSum == c.cfgSum, keySum != c.keySum
	c.seen, c.cfgSum, c.keySum = true, cfgSum, keySum
	c.mu.Unlock()
	same := cfgSame && !keyChanged
	if first || (same && !force) {
		return
	}
	if perr != nil {
		c.refuse(perr, nil)
		return
	}
	var applied, restart, warnings []string
	restart = needsRestart(c.start, next)
	// The credentials: reopen the tracker with the key as it is now, and
	// resume it if a refused key had stopped it.
	health := c.hooks.health()
	if health != nil && (keyChanged || c.hooks.trackerStopped() || force) {
		was, err := health.Resume(next.Tracker)
		switch {
		case err != nil:
			c.refuse(fmt.Errorf("the tracker cannot be opened with this config: %w", err), nil)
			return
		case was:
			applied = append(applied, "tracker resumed with the credentials as they are now")
			c.hooks.wakeAll()
		case keyChanged:
			applied = append(applied, "tracker credentials")
		}
	}
	var voc adapters.Tracker
	if health != nil && !c.hooks.trackerStopped() {
		voc = health.Adapter()
	}
	results := CheckConfig(ctx, c.home, next, voc, c.log)
	var problems []check.Result
	for _, r := range results {
		switch {
		case !r.OK:
			problems = append(problems, r)
		case r.Warning:
			warnings = append(warnings, r.Name+": "+r.Detail)
		}
	}
	if len(problems) > 0 {
		c.refuse(fmt.Errorf("%s: %s: %s", path, problems[0].Name, problems[0].Detail), problems)
		return
	}
	applied = append(applied, c.apply(cur, next)...)
	if same && len(applied) == 0 {
		c.log.Info("config.yaml and the key file are unchanged; nothing to apply")
		return // a signal with nothing new: the state of the last reload stays
	}
	c.mu.Lock()
	c.state = ConfigState{Reloaded: nowUTC(), Applied: applied, NeedsRestart: restart, Warnings: warnings}
	c.hasState = true
	c.mu.Unlock()
	c.log.Info("config.yaml reloaded", "applied", strings.Join(applied, ", "), "needs_restart", strings.Join(restart, ", "), "warnings", len(warnings))
	for _, w := range warnings {
		c.log.Warn("config.yaml", "warning", w)
	}
}

// apply puts next in force and says what changed.
func (c *liveConfig) apply(cur, next *config.Config) []string {
	var applied []string
	c.live.Store(next)
	if !reflect.DeepEqual(cur.Connections, next.Connections) {
		applied = append(applied, "connections (maps, rules, triggers)")
		c.hooks.connsChanged()
	}
	if cur.Tracker.PollInterval != next.Tracker.PollInterval {
		applied = append(applied, "tracker.poll_interval "+pollEvery(next).String())
		c.hooks.pollChanged()
	}
	if cur.Log != next.Log {
		if c.level != nil {
			var l slog.Level
			if err := l.UnmarshalText([]byte(next.Log)); err == nil {
				c.level.Set(l)
				applied = append(applied, "log "+next.Log)
			}
		}
	}
	return applied
}

// needsRestart lists the keys that differ from the config the node started
// with and are read only at start.
func needsRestart(start, next *config.Config) []string {
	var out []string
	if !slices.Equal(start.Listen, next.Listen) {
		out = append(out, "listen")
	}
	if start.Reachability != next.Reachability {
		out = append(out, "reachability")
	}
	if start.NATPortMap != next.NATPortMap {
		out = append(out, "nat_port_map")
	}
	if start.MDNS != next.MDNS {
		out = append(out, "mdns")
	}
	if start.Metrics != next.Metrics {
		out = append(out, "metrics.listen")
	}
	if start.Console != next.Console {
		out = append(out, "console")
	}
	a, b := start.Tracker, next.Tracker
	a.PollInterval, b.PollInterval = 0, 0
	a.APIKeyFile, b.APIKeyFile, a.TokenFile, b.TokenFile = "", "", "", ""
	if !slices.Equal(a.Repos, b.Repos) || !reflect.DeepEqual(withoutRepos(a), withoutRepos(b)) {
		out = append(out, "tracker (type, url, project, queue, timezone, prefix)")
	}
	return out
}

func (c *liveConfig) refuse(err error, problems []check.Result) {
	c.mu.Lock()
	prev := c.state.Refused
	if prev == nil || prev.Error != err.Error() {
		c.log.Error("config.yaml refused; the running configuration stays in force until the file is fixed", "err", err)
		prev = &ConfigRefusal{Error: err.Error(), Problems: problems, Since: nowUTC()}
	}
	c.state.Refused = prev
	c.hasState = true
	c.mu.Unlock()
}

func withoutRepos(t config.Tracker) config.Tracker {
	t.Repos = nil
	return t
}

func nowUTC() time.Time { return time.Now().UTC() }
