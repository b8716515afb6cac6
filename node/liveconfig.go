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
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
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

// configReload is the watcher's state.
type configReload struct {
	run      sync.Mutex // held by a reload from start to end
	mu       sync.Mutex // guards the fields below
	kick     chan struct{}
	seen     bool // the sums below are set
	cfgSum   [32]byte
	keySum   [32]byte
	state    ConfigState
	hasState bool
}

// conf is the config in force: as last reloaded, or as read at start.
func (n *Node) conf() *config.Config {
	if c := n.live.Load(); c != nil {
		return c
	}
	return n.cfg
}

// pollEvery is the tracker's poll interval in force.
func (n *Node) pollEvery() time.Duration {
	if d := time.Duration(n.conf().Tracker.PollInterval); d > 0 {
		return d
	}
	return defaultPollInterval
}

// ReloadConfig makes the running node look at config.yaml and the key file
// now (SIGHUP). It never blocks.
func (n *Node) ReloadConfig() { kick(n.reloadKick()) }

func (n *Node) reloadKick() chan struct{} {
	n.reload.mu.Lock()
	defer n.reload.mu.Unlock()
	if n.reload.kick == nil {
		n.reload.kick = make(chan struct{}, 1)
	}
	return n.reload.kick
}

func (n *Node) configState() *ConfigState {
	n.reload.mu.Lock()
	defer n.reload.mu.Unlock()
	if !n.reload.hasState {
		return nil
	}
	st := n.reload.state
	return &st
}

// watchConfig reloads config.yaml and the key file when they change.
func (n *Node) watchConfig(ctx context.Context) error {
	kickc := n.reloadKick()
	n.reloadConfig(ctx, false) // the sums of what runs
	tick := time.NewTicker(configEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			n.reloadConfig(ctx, false)
		case <-kickc:
			n.log.Info("reloading config.yaml (signal)")
			n.reloadConfig(ctx, true)
			n.rules.ReloadNow()
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

// reloadConfig applies config.yaml and the key file if they changed since
// the last look (or force).
func (n *Node) reloadConfig(ctx context.Context, force bool) {
	n.reload.run.Lock()
	defer n.reload.run.Unlock()
	path := filepath.Join(n.home, config.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		n.refuseConfig(fmt.Errorf("read %s: %w", path, err), nil)
		return
	}
	cfgSum := sha256.Sum256(b)
	cur := n.conf()
	next, perr := config.Parse(path, b)
	kf := keyFile(n.home, cur.Tracker)
	if perr == nil {
		kf = keyFile(n.home, next.Tracker)
	}
	var keySum [32]byte
	if kf != "" {
		kb, _ := os.ReadFile(kf) // a missing file is an error of the reopen below
		keySum = sha256.Sum256(kb)
	}
	n.reload.mu.Lock()
	first := !n.reload.seen
	cfgSame, keyChanged := cfgSum == n.reload.cfgSum, keySum != n.reload.keySum
	n.reload.seen, n.reload.cfgSum, n.reload.keySum = true, cfgSum, keySum
	n.reload.mu.Unlock()
	same := cfgSame && !keyChanged
	if first || (same && !force) {
		return
	}
	if perr != nil {
		n.refuseConfig(perr, nil)
		return
	}
	var applied, restart, warnings []string
	restart = needsRestart(n.cfg, next)
	// The credentials: reopen the tracker with the key as it is now, and
	// resume it if a refused key had stopped it.
	if n.health != nil && (keyChanged || n.health.Stopped() || force) {
		was, err := n.health.Resume(next.Tracker)
		switch {
		case err != nil:
			n.refuseConfig(fmt.Errorf("the tracker cannot be opened with this config: %w", err), nil)
			return
		case was:
			applied = append(applied, "tracker resumed with the credentials as they are now")
			n.wakeAll()
		case keyChanged:
			applied = append(applied, "tracker credentials")
		}
	}
	var voc adapters.Tracker
	if n.health != nil && !n.health.Stopped() {
		voc = n.health.Adapter()
	}
	results := CheckConfig(ctx, n.home, next, voc, n.log)
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
		n.refuseConfig(fmt.Errorf("%s: %s: %s", path, problems[0].Name, problems[0].Detail), problems)
		return
	}
	applied = append(applied, n.applyConfig(cur, next)...)
	if same && len(applied) == 0 {
		n.log.Info("config.yaml and the key file are unchanged; nothing to apply")
		return // a signal with nothing new: the state of the last reload stays
	}
	n.reload.mu.Lock()
	n.reload.state = ConfigState{Reloaded: nowUTC(), Applied: applied, NeedsRestart: restart, Warnings: warnings}
	n.reload.hasState = true
	n.reload.mu.Unlock()
	n.log.Info("config.yaml reloaded", "applied", strings.Join(applied, ", "), "needs_restart", strings.Join(restart, ", "), "warnings", len(warnings))
	for _, w := range warnings {
		n.log.Warn("config.yaml", "warning", w)
	}
}

// applyConfig puts next in force and says what changed.
func (n *Node) applyConfig(cur, next *config.Config) []string {
	var applied []string
	n.live.Store(next)
	if !reflect.DeepEqual(cur.Connections, next.Connections) {
		applied = append(applied, "connections (maps, rules, triggers)")
		n.rules.ForgetAll()
		n.wakeAll()
	}
	if cur.Tracker.PollInterval != next.Tracker.PollInterval {
		applied = append(applied, "tracker.poll_interval "+n.pollEvery().String())
		n.kickTrigger()
	}
	if cur.Log != next.Log {
		if n.opts.LogLevel != nil {
			var l slog.Level
			if err := l.UnmarshalText([]byte(next.Log)); err == nil {
				n.opts.LogLevel.Set(l)
				applied = append(applied, "log "+next.Log)
			}
		}
	}
	return applied
}

// wakeAll wakes the trigger and every link's sender and applier, so that
// what waited for a fix is tried now rather than at the end of its backoff.
func (n *Node) wakeAll() {
	for _, id := range n.peerIDs() {
		n.wakeLink(id.String())
		if ps := n.peer(id); ps != nil {
			ps.kick(ps.wakeApply)
		}
	}
	for _, l := range n.netLinks() {
		n.wakeLink(l)
		n.mesh.WakeApply(l)
	}
	n.kickTrigger()
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

func (n *Node) refuseConfig(err error, problems []check.Result) {
	n.reload.mu.Lock()
	prev := n.reload.state.Refused
	if prev == nil || prev.Error != err.Error() {
		n.log.Error("config.yaml refused; the running configuration stays in force until the file is fixed", "err", err)
		prev = &ConfigRefusal{Error: err.Error(), Problems: problems, Since: nowUTC()}
	}
	n.reload.state.Refused = prev
	n.reload.hasState = true
	n.reload.mu.Unlock()
}

func withoutRepos(t config.Tracker) config.Tracker {
	t.Repos = nil
	return t
}

func nowUTC() time.Time { return time.Now().UTC() }
