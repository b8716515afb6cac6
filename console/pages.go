package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/store"
)

// page is one page: live is rendered for the first load and again for
// each server-sent update; static (optional) only for the first load, for
// forms and results a refresh must not disturb.
type page struct {
	title  string
	tmpl   string
	live   func(ctx context.Context, r *http.Request) (any, error)
	static func(ctx context.Context, r *http.Request) (any, error)
}

func (s *Server) pages() map[string]page {
	return map[string]page{
		"/{$}":          {title: "Overview", tmpl: "overview", live: s.overview},
		"/peers":        {title: "Peers and networks", tmpl: "peers", live: s.peersPage, static: s.networkForms},
		"/connections":  {title: "Connections", tmpl: "connections", live: s.connections, static: s.playground},
		"/queue":        {title: "Queue", tmpl: "queue", live: s.queue},
		"/errors":       {title: "Errors", tmpl: "errors", live: s.errorsPage},
		"/issues/{key}": {title: "Timeline", tmpl: "timeline", live: s.timeline},
		"/search":       {title: "Search", tmpl: "search", live: s.search},
	}
}

// pageFor finds the page of a path (for /events?page=...), with the
// request its handler would get (path values set).
func (s *Server) pageFor(path string) (page, *http.Request, bool) {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return page{}, nil, false
	}
	req, err := http.NewRequest("GET", path, nil)
	if err != nil {
		return page{}, nil, false
	}
	var found page
	var out *http.Request
	mux := http.NewServeMux()
	for p, pg := range s.pages() {
		mux.HandleFunc("GET "+p, func(_ http.ResponseWriter, r *http.Request) { found, out = pg, r })
	}
	mux.ServeHTTP(discard{}, req)
	return found, out, out != nil
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// view is what every template gets.
type view struct {
	Title  string
	Path   string
	CSRF   string
	Flash  *flash
	Data   any
	Static any
	Err    string
	Live   template.HTML
	Now    time.Time
}

func (s *Server) render(ctx context.Context, p page, r *http.Request, csrf string) (template.HTML, error) {
	v := view{CSRF: csrf, Path: r.URL.RequestURI(), Now: time.Now()}
	data, err := p.live(ctx, r)
	if err != nil {
		v.Err = err.Error()
	}
	v.Data = data
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, p.tmpl, v); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request, p page, ss *session) {
	live, err := s.render(r.Context(), p, r, ss.csrf)
	if err != nil {
		s.log.Error("console page", "path", r.URL.Path, "err", err)
		http.Error(w, "the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	v := view{Title: p.title, Path: r.URL.RequestURI(), CSRF: ss.csrf, Flash: s.auth.takeFlash(ss), Live: live, Now: time.Now()}
	if p.static != nil {
		v.Static, err = p.static(r.Context(), r)
		if err != nil {
			v.Err = err.Error()
		}
	}
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, "layout", struct {
		view
		Page string
	}{v, p.tmpl}); err != nil {
		s.log.Error("console page", "path", r.URL.Path, "err", err)
		http.Error(w, "the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// events streams a page's live part whenever it changes.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ string, ss *session) {
	p, pr, ok := s.pageFor(r.URL.Query().Get("page"))
	if !ok {
		http.Error(w, "no such page", http.StatusNotFound)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	ctx := r.Context()
	pr = pr.WithContext(ctx)
	var last template.HTML
	tick := time.NewTicker(s.opts.Tick)
	defer tick.Stop()
	idle := 0
	for {
		html, err := s.render(ctx, p, pr, ss.csrf)
		if ctx.Err() != nil {
			return
		}
		if err == nil && html != last {
			last = html
			var b strings.Builder
			b.WriteString("event: live\n")
			for _, line := range strings.Split(string(html), "\n") {
				b.WriteString("data: " + line + "\n")
			}
			b.WriteString("\n")
			if _, err := fmt.Fprint(w, b.String()); err != nil {
				return
			}
			fl.Flush()
			idle = 0
		} else if idle++; idle >= 15 {
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil {
				return
			}
			fl.Flush()
			idle = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, live := s.auth.session(r); live == nil { // logged out meanwhile
			return
		}
	}
}

// issueCache keeps the tracker's issue list for a few seconds, so that a
// live page does not list a real tracker's issues every second.
type issueCache struct {
	node *api.Client
	mu   sync.Mutex
	at   time.Time
	all  []issue
}

const issueCacheTTL = 2 * time.Second

func (c *issueCache) list(ctx context.Context) ([]issue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all != nil && time.Since(c.at) < issueCacheTTL {
		return c.all, nil
	}
	var all []issue
	if err := c.node.Do(ctx, "GET", "/v1/issues", nil, &all); err != nil {
		return nil, err
	}
	c.all, c.at = all, time.Now()
	return all, nil
}

// activity is one line of recent activity.
type activity struct {
	record
	IssueKey string
	Summary  string
}

type overviewData struct {
	Status   status
	Activity []activity
}

// recentIssues is how many recently updated issues the overview's
// activity reads the history of.
const recentIssues = 10

func (s *Server) overview(ctx context.Context, r *http.Request) (any, error) {
	var d overviewData
	if err := s.node.Do(ctx, "GET", "/v1/status", nil, &d.Status); err != nil {
		return d, err
	}
	all, err := s.issue.list(ctx)
	if err != nil {
		return d, err
	}
	recent := slices.Clone(all)
	sort.Slice(recent, func(i, j int) bool { return recent[i].Updated.After(recent[j].Updated) })
	for _, is := range recent[:min(len(recent), recentIssues)] {
		if is.Twin == "" {
			continue
		}
		var h history
		if err := s.node.Do(ctx, "GET", "/v1/history/"+esc(is.Key), nil, &h); err != nil {
			continue // unsynced meanwhile
		}
		for _, rec := range h.Records {
			d.Activity = append(d.Activity, activity{record: rec, IssueKey: is.Key, Summary: is.Summary})
		}
	}
	sort.SliceStable(d.Activity, func(i, j int) bool { return d.Activity[i].Time.After(d.Activity[j].Time) })
	d.Activity = d.Activity[:min(len(d.Activity), 20)]
	return d, nil
}

type peersData struct {
	Peers    []peerInfo
	Queue    map[string]queueEntry
	Networks []network
	Invites  []inviteResult
}

func (s *Server) peersPage(ctx context.Context, r *http.Request) (any, error) {
	d := peersData{Queue: map[string]queueEntry{}}
	if err := s.node.Do(ctx, "GET", "/v1/peers", nil, &d.Peers); err != nil {
		return d, err
	}
	var q []queueEntry
	if err := s.node.Do(ctx, "GET", "/v1/queue", nil, &q); err != nil {
		return d, err
	}
	for _, e := range q {
		d.Queue[e.Peer] = e
	}
	if err := s.node.Do(ctx, "GET", "/v1/networks", nil, &d.Networks); err != nil {
		return d, err
	}
	if err := s.node.Do(ctx, "GET", "/v1/invites", nil, &d.Invites); err != nil {
		return d, err
	}
	return d, nil
}

// connView is one connection of config.yaml with its rule files' text.
type connView struct {
	Name string
	config.Connection
	OutgoingText, IncomingText string
}

type connectionsData struct {
	Conns       []connView
	RulesErrors []rulesError
	Peers       []peerInfo
	ConfigErr   string
}

func (s *Server) connections(ctx context.Context, r *http.Request) (any, error) {
	var d connectionsData
	var st status
	if err := s.node.Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
		return d, err
	}
	d.RulesErrors, d.Peers = st.RulesErrors, st.Peers
	cfg, err := config.Load(s.opts.Home)
	if err != nil {
		d.ConfigErr = err.Error()
		return d, nil
	}
	for name, c := range cfg.Connections {
		cv := connView{Name: name, Connection: c}
		cv.OutgoingText = readRule(s.opts.Home, c.Outgoing)
		cv.IncomingText = readRule(s.opts.Home, c.Incoming)
		d.Conns = append(d.Conns, cv)
	}
	slices.SortFunc(d.Conns, func(a, b connView) int { return cmp.Compare(a.Name, b.Name) })
	return d, nil
}

// playgroundData is a rules test of one issue with one peer, both ways.
type playgroundData struct {
	Key, Peer, Replica string
	Peers              []peerInfo
	Ran                bool
	Out, In            *rulesTestResult
	OutErr, InErr      string
	OutJSON, InJSON    string
}

func (s *Server) playground(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	d := playgroundData{Key: strings.TrimSpace(q.Get("key")), Peer: q.Get("peer"), Replica: q.Get("replica")}
	_ = s.node.Do(ctx, "GET", "/v1/peers", nil, &d.Peers)
	if d.Key == "" || d.Peer == "" {
		return d, nil
	}
	d.Ran = true
	var out rulesTestResult
	if err := s.node.Do(ctx, "POST", "/v1/rules/test", map[string]any{"key": d.Key, "to": d.Peer}, &out); err != nil {
		d.OutErr = err.Error()
	} else {
		d.Out = &out
		if len(out.Replica) > 0 && string(out.Replica) != "null" {
			d.OutJSON = pretty(out.Replica)
		}
	}
	rep := json.RawMessage(strings.TrimSpace(d.Replica))
	if len(rep) == 0 && d.Out != nil && len(d.Out.Replica) > 0 && string(d.Out.Replica) != "null" {
		rep = d.Out.Replica // what this side would send, as if it came back
	}
	if len(rep) == 0 {
		d.InErr = "no replica to test the incoming rules with: the outgoing rules made none; paste one above"
		return d, nil
	}
	if !json.Valid(rep) {
		d.InErr = "the replica is not valid JSON"
		return d, nil
	}
	if d.Replica == "" {
		d.Replica = pretty(rep)
	}
	var in rulesTestResult
	if err := s.node.Do(ctx, "POST", "/v1/rules/test", map[string]any{"key": d.Key, "from": d.Peer, "replica": rep}, &in); err != nil {
		d.InErr = err.Error()
	} else {
		d.In = &in
		switch {
		case len(in.Create) > 0 && string(in.Create) != "null":
			d.InJSON = pretty(in.Create)
		case !in.noChange():
			d.InJSON = pretty(in.Patch)
		}
	}
	return d, nil
}

func (s *Server) queue(ctx context.Context, r *http.Request) (any, error) {
	var q []queueEntry
	err := s.node.Do(ctx, "GET", "/v1/queue", nil, &q)
	return q, err
}

// blockedView is one blocked twin with its issue here.
type blockedView struct {
	blocked
	Issue *issue
}

func (s *Server) errorsPage(ctx context.Context, r *http.Request) (any, error) {
	var bs []blocked
	if err := s.node.Do(ctx, "GET", "/v1/errors", nil, &bs); err != nil {
		return nil, err
	}
	out := make([]blockedView, 0, len(bs))
	for _, b := range bs {
		v := blockedView{blocked: b}
		if b.LocalKey != "" {
			var is issue
			if err := s.node.Do(ctx, "GET", "/v1/issues/"+esc(b.LocalKey), nil, &is); err == nil {
				v.Issue = &is
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// step is one event of a timeline: its records (queued, then the ack; or
// the result here) in one row.
type step struct {
	Time     time.Time
	Dir      string
	Peer     string
	PeerName string
	Seq      uint64
	EventID  string
	Fields   []string
	Changes  []store.Change // old and new values, where the records keep them
	Results  []record
	AckAfter time.Duration // from queueing to the peer's ack (out only)
	// Changed is the tracker's change that the event carries (out only;
	// zero when the history does not know it).
	Changed time.Time
	// ChangeToAck is from the tracker's change to the peer's ack (out
	// only; 0 when unknown).
	ChangeToAck time.Duration
}

type timelineData struct {
	Issue   issue
	History history
	Steps   []step
}

func (s *Server) timeline(ctx context.Context, r *http.Request) (any, error) {
	var d timelineData
	key := r.PathValue("key")
	if err := s.node.Do(ctx, "GET", "/v1/issues/"+esc(key), nil, &d.Issue); err != nil {
		return d, err
	}
	if err := s.node.Do(ctx, "GET", "/v1/history/"+esc(key), nil, &d.History); err != nil && !notFound(err) {
		return d, err
	}
	d.Steps = steps(d.History.Records)
	return d, nil
}

// steps groups history records by event: an outgoing event's queueing with
// its ack, an incoming event with its result. Newest first.
func steps(recs []record) []step {
	var out []step
	idx := map[string]int{}
	for _, rec := range recs {
		id := rec.Dir + "/" + rec.Peer + "/" + fmt.Sprint(rec.Seq)
		if rec.Seq == 0 {
			id += "/" + rec.Time.String()
		}
		i, ok := idx[id]
		if !ok {
			i = len(out)
			idx[id] = i
			out = append(out, step{Time: rec.Time, Dir: rec.Dir, Peer: rec.Peer, PeerName: rec.PeerName, Seq: rec.Seq, EventID: rec.EventID})
		}
		st := &out[i]
		st.Fields = append(st.Fields, rec.Fields...)
		st.Changes = append(st.Changes, rec.Changes...)
		if rec.What == "queued" {
			st.Time, st.Changed = rec.Time, rec.Changed
			continue
		}
		st.Results = append(st.Results, rec)
		if rec.Dir == "out" && rec.What == "acked" && st.AckAfter == 0 {
			st.AckAfter = rec.Time.Sub(st.Time)
			if d, ok := store.ChangeToAck(store.Record{Changed: st.Changed}, rec); ok {
				st.ChangeToAck = d
			}
		}
	}
	slices.Reverse(out)
	return out
}

type searchData struct {
	Query   string
	Results []issue
}

// searchMax bounds the results shown.
const searchMax = 100

func (s *Server) search(ctx context.Context, r *http.Request) (any, error) {
	d := searchData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	if d.Query == "" {
		return d, nil
	}
	all, err := s.issue.list(ctx)
	if err != nil {
		return d, err
	}
	q := strings.ToLower(d.Query)
	for _, is := range all {
		hit := strings.EqualFold(is.Key, d.Query) || strings.EqualFold(is.Twin, d.Query) || strings.Contains(strings.ToLower(is.Summary), q)
		for _, t := range is.Twins {
			hit = hit || strings.EqualFold(t.Key, d.Query)
		}
		if hit {
			d.Results = append(d.Results, is)
		}
		if len(d.Results) == searchMax {
			break
		}
	}
	return d, nil
}

// noChange says the incoming rules would change nothing.
func (r rulesTestResult) noChange() bool {
	p := strings.TrimSpace(string(r.Patch))
	return (p == "" || p == "null" || p == "{}") && (len(r.Create) == 0 || string(r.Create) == "null")
}

// NoChange is noChange for templates.
func (r rulesTestResult) NoChange() bool { return r.noChange() }

func pretty(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	if raw, ok := v.(json.RawMessage); ok {
		var x any
		if json.Unmarshal(raw, &x) == nil {
			b, _ = json.MarshalIndent(x, "", "  ")
		}
	}
	return string(b)
}
