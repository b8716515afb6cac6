package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// consoleArtefacts is where TestConsoleInBrowser saves a screenshot of
// every page (ISSUEMESH_ARTEFACTS/console when set).
func consoleArtefacts(t *testing.T) string {
	dir := filepath.Join("artefacts", "console")
	if a := os.Getenv("ISSUEMESH_ARTEFACTS"); a != "" {
		dir = filepath.Join(a, "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// chromium finds Debian's chromium (scripts/chromium.sh installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium: as root, scripts/chromium.sh installs Debian's (apt-get install -y chromium)")
	return ""
}

// consoleURL asks a running node for a login link and returns it with the
// console's base URL.
func consoleURL(t *testing.T, p *proc) (login, base string) {
	t.Helper()
	login = strings.TrimSpace(p.mustCLI("console", "url"))
	u, err := url.Parse(login)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("console url printed %q, want a login link", login)
	}
	return login, u.Scheme + "://" + u.Host
}

// consolePages are the console's pages and actions, for the checks that
// none answers without the secret.
var (
	consolePages   = []string{"/", "/peers", "/connections", "/connections?key=LOCAL-1", "/queue", "/errors", "/issues/LOCAL-1", "/search?q=x", "/events?page=/", "/nope"}
	consoleActions = []string{"/peers/X/pause", "/peers/X/resume", "/peers/X/remove", "/invite", "/accept", "/retry", "/logout"}
)

// TestConsoleWithoutSecret: every page and action of a real node's console
// answers 401 without a session and 403 with a session but without its
// CSRF token, from another origin, or with a used login link; /metrics
// needs no secret.
func TestConsoleWithoutSecret(t *testing.T) {
	a := newNode(t, "alice")
	a.appendConfig("console:\n  listen: 127.0.0.1:0\n")
	a.start()
	login, base := consoleURL(t, a)
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	code := func(c *http.Client, method, path string, form url.Values, hdr http.Header) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range consolePages {
		if c := code(plain, "GET", p, nil, nil); c != 401 {
			t.Errorf("GET %s without a session: %d, want 401", p, c)
		}
	}
	for _, p := range consoleActions {
		if c := code(plain, "POST", p, url.Values{"csrf": {"guess"}, "all": {"1"}}, nil); c != 401 {
			t.Errorf("POST %s without a session: %d, want 401", p, c)
		}
	}
	forged := &http.Cookie{Name: "issuemesh_console", Value: "forged"}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.AddCookie(forged)
	if resp, err := plain.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("GET / with a forged cookie: %v %v, want 401", resp.StatusCode, err)
	}

	jar, _ := cookiejar.New(nil)
	sess := &http.Client{Jar: jar}
	if c := code(sess, "GET", strings.TrimPrefix(login, base), nil, nil); c != 200 {
		t.Fatalf("login link: %d", c)
	}
	if c := code(plain, "GET", strings.TrimPrefix(login, base), nil, nil); c != 403 {
		t.Errorf("the login link used a second time: %d, want 403", c)
	}
	if c := code(plain, "GET", "/login?token=guess", nil, nil); c != 403 {
		t.Errorf("a made-up login token: %d, want 403", c)
	}
	// The session's CSRF token, as a page carries it.
	resp, err := sess.Get(base + "/peers")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on /peers:\n%s", page)
	}
	csrf := string(m[1])
	for _, p := range consoleActions {
		if c := code(sess, "POST", p, url.Values{"all": {"1"}}, nil); c != 403 {
			t.Errorf("POST %s with a session but no CSRF token: %d, want 403", p, c)
		}
		if c := code(sess, "POST", p, url.Values{"all": {"1"}, "csrf": {csrf}}, http.Header{"Origin": {"http://evil.example"}}); c != 403 {
			t.Errorf("POST %s from another origin: %d, want 403", p, c)
		}
	}
	if c := code(sess, "POST", "/retry", url.Values{"all": {"1"}, "csrf": {csrf}}, http.Header{"Origin": {base}}); c != 200 {
		t.Errorf("POST /retry with the CSRF token: %d, want 200 (after the redirect)", c)
	}
	if resp, err := plain.Get(base + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "issuemesh_twins ") {
			t.Errorf("GET /metrics: %d, want 200 with the node's metrics, without a secret:\n%.300s", resp.StatusCode, body)
		}
	}
	// Logged out, the cookie opens nothing any more.
	if c := code(sess, "POST", "/logout", url.Values{"csrf": {csrf}}, nil); c != 200 {
		t.Errorf("logout: %d", c)
	}
	if c := code(sess, "GET", "/", nil, nil); c != 401 {
		t.Errorf("GET / after logout: %d, want 401", c)
	}
}

const consoleRuleFailing = `
if "explode" in replica.summary:
    fail("this rule refuses issues about explosions: " + replica.summary)
issue.summary = replica.summary
issue.status = replica.status
issue.priority = replica.priority
issue.comments = merge_comments(issue, replica)
`

const consoleRuleFixed = `
issue.summary = replica.summary
issue.status = replica.status
issue.priority = replica.priority
issue.comments = merge_comments(issue, replica)
`

// TestConsoleInBrowser drives headless Chromium against two real nodes:
// log in with the link, see the peer connected, see an issue created on
// the other node appear on the overview and its change on the timeline
// without a reload, retry a twin that a failing rule blocked after fixing
// the rule, pause and resume the peer; a screenshot of every page is saved
// in consoleArtefacts.
func TestConsoleInBrowser(t *testing.T) {
	chrome := chromium(t)
	shots := consoleArtefacts(t)
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.writeHome("in.star", consoleRuleFailing)
	a.appendConfig("connections:\n  bob:\n    incoming: in.star\nconsole:\n  listen: 127.0.0.1:0\n")
	a.start()
	b.start()
	pair(a, b)
	login, _ := consoleURL(t, a)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1400, 900), chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first run starts the browser, for as long as bctx lives.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	run := func(what string, timeout time.Duration, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		if err := chromedp.Do(ctx, acts...); err != nil {
			if out, err := chromedp.Run(bctx, chromedp.FullScreenshot(90)); err == nil {
				_ = os.WriteFile(filepath.Join(shots, "failed.png"), out, 0o644)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: not seen within %v (screenshot failed.png in %s)", what, timeout, shots)
			}
			t.Fatalf("%s: %v", what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		out, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// marker survives only as long as the page is not reloaded.
	mark := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`window.__noReload = true`)(ctx, tg)
		return err
	})
	notReloaded := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === true`))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !ok {
			t.Fatalf("%s: the page was reloaded", what)
		}
	}
	x := func(xpath string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.Search(xpath)) }
	click := func(xpath string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.Search(xpath)) }

	// Log in with the link; the overview shows bob connected.
	run("log in with the link", 20*time.Second, chromedp.Navigate(login), x(`//h1[contains(., "Overview")]`))
	run("bob connected on the overview", 20*time.Second, x(`//span[contains(@class,"pill") and contains(., "bob: direct")]`), mark)

	// An issue created on bob appears on alice's overview without a reload.
	b.mustCLI("issue", "create", "--summary", "Printer on fire", "--priority", "High")
	run("bob's issue in alice's recent activity", 20*time.Second, x(`//table[@id="activity"]//td[contains(., "Printer on fire")]`))
	notReloaded("the overview")
	shot("overview")

	onA, ok := a.findBySummary("Printer on fire")
	if !ok {
		t.Fatal("the issue is not on alice")
	}
	onB, _ := b.findBySummary("Printer on fire")

	// Its timeline: the twin's key on both nodes; a change on bob lands
	// on the open page.
	run("open the timeline", 20*time.Second, click(`//table[@id="activity"]//a[contains(., "`+onA.Key+`")]`),
		x(`//table[@id="twins"]//td[contains(., "`+onB.Key+`")]`), x(`//table[@id="timeline"]//span[contains(@class,"applied")]`), mark)
	b.mustCLI("issue", "edit", onB.Key, "--status", "In Progress")
	run("bob's change on alice's open timeline", 20*time.Second, x(`//td[@id="issue-status" and contains(., "In Progress")]`),
		x(`//table[@id="timeline"]//td[contains(@class,"fields") and contains(., "status")]`),
		// the change's old and new value
		x(`//table[@id="timeline"]//div[@data-field="status"][del[@class="old" and string-length(normalize-space(.)) > 0 and not(contains(., "In Progress"))]][ins[@class="new" and contains(., "In Progress")]]`))
	// A change on alice goes to bob: the timeline shows its old and new
	// value and, once bob acks it, the time from the tracker's change.
	a.mustCLI("issue", "edit", onA.Key, "--priority", "Low")
	run("alice's change with its values and change-to-ack on the timeline", 20*time.Second,
		x(`//table[@id="timeline"]//tr[contains(@class,"out")][.//div[@data-field="priority"][del[contains(., "High")]][ins[contains(., "Low")]]]//td[@class="change-to-ack" and contains(@title, "tracker change at") and string-length(normalize-space(.)) > 0]`))
	notReloaded("the timeline")
	shot("timeline")
	// issuemesh history says the same under the records' lines.
	if text := a.mustCLI("history", onA.Key); !strings.Contains(text, `    priority: "High" -> "Low"`) || !strings.Contains(text, "    change to ack ") {
		t.Fatalf("alice's history text has no old and new priority or no change-to-ack:\n%s", text)
	}

	// A twin that the failing rule blocks shows on the errors page; after
	// the rule is fixed, Retry there applies it.
	run("errors page", 20*time.Second, chromedp.Navigate(strings.SplitN(login, "/login", 2)[0]+"/errors"), x(`//p[@id="no-errors"]`), mark)
	b.mustCLI("issue", "create", "--summary", "explode the printer")
	run("the blocked twin on the errors page", 20*time.Second, x(`//table[@id="errors"]//pre[contains(., "refuses issues about explosions")]`))
	notReloaded("the errors page")
	shot("errors")
	a.writeHome("in.star", consoleRuleFixed)
	run("retry from the errors page", 30*time.Second, click(`//table[@id="errors"]//button[contains(@class,"retry")]`),
		x(`//div[@id="flash" and contains(., "Retried")]`), x(`//p[@id="no-errors"]`))
	testutil.WaitFor(t, 20*time.Second, "the retried issue lands on alice", func() bool { _, ok := a.findBySummary("explode the printer"); return ok })

	// Pause and resume bob from the peers page.
	base := strings.SplitN(login, "/login", 2)[0]
	bobID := b.peerID()
	row := `//tr[@id="peer-` + bobID + `"]`
	run("peers page", 20*time.Second, chromedp.Navigate(base+"/peers"), x(row+`//span[contains(., "connected")]`))
	run("pause bob", 20*time.Second, click(row+`//button[contains(@class,"pause")]`), x(row+`//td[@class="state"]//span[contains(., "paused")]`))
	if !a.peerPaused(bobID) {
		t.Fatal("the console showed bob paused, but status does not")
	}
	shot("peers")
	run("resume bob", 20*time.Second, click(row+`//button[contains(@class,"resume")]`), x(row+`//td[@class="state" and contains(., "active")]`))
	if a.peerPaused(bobID) {
		t.Fatal("the console showed bob resumed, but status says paused")
	}

	// Create an invitation; accept one from carol; remove carol.
	run("create an invitation", 20*time.Second, chromedp.SendKeys(chromedp.CSS(`#invite-name`), "dave"), click(`//button[@id="invite-create"]`),
		x(`//pre[@id="invite-code"]`), x(`//div[@id="flash" and contains(., "dave")]`))
	carol := newNode(t, "carol")
	carol.start()
	code := strings.TrimSpace(strings.Split(carol.mustCLI("invite", "--name", "alice"), "\n")[0])
	if fields := strings.Fields(code); len(fields) > 0 {
		code = fields[len(fields)-1]
	}
	run("accept carol's invitation", 30*time.Second, chromedp.SendKeys(chromedp.CSS(`#accept-code`), code), chromedp.SendKeys(chromedp.CSS(`input[name=name][placeholder=inviter]`), "carol"),
		click(`//button[@id="accept-submit"]`), x(`//div[@id="flash" and contains(., "Paired with carol")]`), x(`//tr[@data-name="carol"]`))
	run("remove carol", 20*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`window.confirm = () => true, true`)(ctx, tg)
		return err
	}), click(`//tr[@data-name="carol"]//button[contains(@class,"danger")]`), x(`//div[@id="flash" and contains(., "Removed carol")]`))
	if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelector('tr[data-name="carol"]') === null`)); err != nil || !ok {
		t.Fatalf("carol still listed after removal (%v)", err)
	}

	// The remaining pages, each with something in it.
	run("connections with the rules playground", 20*time.Second, chromedp.Navigate(base+"/connections?key="+url.QueryEscape(onA.Key)+"&peer="+bobID),
		x(`//pre[contains(., "refuses issues about explosions") or contains(., "replica.summary")]`), x(`//pre[@id="pg-out" and contains(., "Printer on fire")]`), x(`//p[@id="pg-in-says"]`))
	shot("connections")
	run("queue", 20*time.Second, chromedp.Navigate(base+"/queue"), x(`//table[@id="queue"]//td[contains(., "bob")]`))
	shot("queue")
	run("search by summary", 20*time.Second, chromedp.Navigate(base+"/"), chromedp.SendKeys(chromedp.CSS(`#q`), "printer\n"), x(`//table[@id="results"]//a[contains(., "`+onA.Key+`")]`))
	shot("search")
	run("search by bob's key", 20*time.Second, chromedp.Navigate(base+"/search?q="+url.QueryEscape(onB.Key)), x(`//table[@id="results"]//a[contains(., "`+onA.Key+`")]`))
	run("the overview after all this", 20*time.Second, chromedp.Navigate(base+"/"), x(`//table[@id="activity"]//td[contains(., "explode the printer")]`))
	shot("overview-later")
	t.Logf("screenshots in %s", shots)
}

// peerPaused says whether status shows the peer paused.
func (p *proc) peerPaused(id string) bool {
	p.t.Helper()
	var st struct {
		Peers []struct {
			ID     string `json:"id"`
			Paused bool   `json:"paused"`
		} `json:"peers"`
	}
	if err := p.cliJSON(&st, "status"); err != nil {
		p.t.Fatal(err)
	}
	for _, pe := range st.Peers {
		if pe.ID == id {
			return pe.Paused
		}
	}
	p.t.Fatalf("%s has no peer %s", p.name, id)
	return false
}
