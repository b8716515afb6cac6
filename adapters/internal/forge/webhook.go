package forge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// Dialect is how one forge signs and names its webhook deliveries.
type Dialect struct {
	// Tracker names the forge in messages ("GitHub", "Gitea").
	Tracker string
	// Signature is the header with the HMAC-SHA256 of the body, hex
	// encoded after Prefix ("X-Hub-Signature-256" with "sha256=";
	// "X-Gitea-Signature" with none).
	Signature, Prefix string
	// Delivery is the header with the delivery's unique ID, Event the one
	// with the event's name.
	Delivery, Event string
	// Events ring the doorbell (e.g. "issues", "issue_comment"); others
	// are answered 202 and ignored. "ping" is answered "pong".
	Events []string
	// SecretKey names where the secret is configured, for the log.
	SecretKey string
	// PlainToken: the Signature header carries the secret itself, not an
	// HMAC of the body (GitLab's X-Gitlab-Token); it is compared in
	// constant time.
	PlainToken bool
	// AltDelivery, when set, is a header that names the delivery in
	// preference to Delivery (GitLab's Idempotency-Key, the same on every
	// retry of one delivery).
	AltDelivery string
	// Also names the headers read when the ones above are absent
	// (Forgejo's X-Forgejo-Signature, -Delivery and -Event, which it
	// sends beside, or in a later version instead of, Gitea's).
	Also struct{ Signature, Delivery, Event string }
}

// header is the first of names that h has.
func header(h http.Header, names ...string) string {
	for _, n := range names {
		if n == "" {
			continue
		}
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// GitHub is GitHub's dialect.
func GitHub() Dialect {
	return Dialect{Tracker: "GitHub", Signature: "X-Hub-Signature-256", Prefix: "sha256=",
		Delivery: "X-GitHub-Delivery", Event: "X-GitHub-Event", Events: []string{"issues", "issue_comment"},
		SecretKey: "tracker.webhook.secret_file"}
}

// Gitea is the dialect of Gitea and Forgejo. Gitea's signature is the
// bare hex HMAC-SHA256 of the body (X-Gitea-Signature); with no secret set
// on the hook it is empty, which is refused. Forgejo signs the same way in
// X-Forgejo-Signature and names the delivery and event in X-Forgejo-
// headers; it has also sent the X-Gitea- ones, so either is read (Gitea's
// first). Label, assignee and milestone changes arrive as "issues" events
// (X-Gitea-Event-Type names the finer kind).
func Gitea() Dialect {
	d := Dialect{Tracker: "Gitea", Signature: "X-Gitea-Signature", Prefix: "",
		Delivery: "X-Gitea-Delivery", Event: "X-Gitea-Event", Events: []string{"issues", "issue_comment"},
		SecretKey: "tracker.webhook.secret_file"}
	d.Also.Signature, d.Also.Delivery, d.Also.Event = "X-Forgejo-Signature", "X-Forgejo-Delivery", "X-Forgejo-Event"
	return d
}

// GitLab is GitLab's dialect: X-Gitlab-Token carries the hook's secret
// token as configured (no signature; GitLab documents it so), the
// delivery is named by Idempotency-Key (kept across GitLab's retries of
// one delivery) or else X-Gitlab-Event-UUID, and the event by
// X-Gitlab-Event ("Issue Hook", "Note Hook" and their confidential
// variants). The project is the payload's project.path_with_namespace.
// https://docs.gitlab.com/user/project/integrations/webhooks/
func GitLab() Dialect {
	return Dialect{Tracker: "GitLab", Signature: "X-Gitlab-Token", PlainToken: true,
		Delivery: "X-Gitlab-Event-UUID", AltDelivery: "Idempotency-Key", Event: "X-Gitlab-Event",
		Events:    []string{"Issue Hook", "Note Hook", "Confidential Issue Hook", "Confidential Note Hook"},
		SecretKey: "tracker.webhook.secret_file"}
}

// Webhook receives a forge's webhook deliveries for its repositories and
// rings the node's doorbell: an accepted delivery of an issue or comment
// event makes the node read the change feed now, instead of at its next
// poll. The payload itself is never applied: what syncs is what the API
// gives the following poll. So a forged delivery cannot change anything,
// and a missed one (neither GitHub nor Gitea redelivers by itself) is
// caught by the polling that goes on beside the webhook. The one thing
// taken from a verified payload is the number of the issue it names
// (issue.number), handed to touch before the doorbell rings: the
// adapter's next feed reads that issue from the API even when nothing the
// feed lists changed, which is how a deleted comment (it changes neither
// the issue's updated_at nor the comments feed) is seen at once.
//
// Refused: a delivery without the dialect's signature header or whose
// HMAC-SHA256 of the body under the secret does not match (401), a body
// over 25 MiB (413), a delivery ID already seen (the last 4096 are kept: a
// replay or a redelivery answers 200 and rings nothing), and events of
// another repository (ignored with 202).
type Webhook struct {
	d      Dialect
	secret []byte
	repo   string
	ring   func()
	touch  func(repo string, number int64) // may be nil
	log    *slog.Logger
	// verified, when set, is called for every delivery whose signature
	// holds, whatever its event (tracker check's probe).
	verified func()

	mu   sync.Mutex
	seen map[string]bool
	fifo []string
}

// maxDelivery is GitHub's own cap on a payload (Gitea's are smaller).
const maxDelivery = 25 << 20

// keepDeliveries is how many delivery IDs are remembered.
const keepDeliveries = 4096

// NewWebhook returns the handler; ring is called for every accepted
// delivery of one of d.Events for repo ("owner/name", or several
// separated by commas: a connection over several repositories).
func NewWebhook(d Dialect, secret, repo string, ring func(), log *slog.Logger) *Webhook {
	if log == nil {
		log = slog.Default()
	}
	return &Webhook{d: d, secret: []byte(secret), repo: repo, ring: ring,
		log: log.With("component", strings.ToLower(d.Tracker)+"-webhook"), seen: map[string]bool{}}
}

// Verify reports whether sig (prefix then hex) is the HMAC-SHA256 of body
// under secret. An empty secret verifies nothing.
func Verify(secret, body []byte, sig, prefix string) bool {
	if len(secret) == 0 {
		return false
	}
	h, ok := strings.CutPrefix(sig, prefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(h)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// check verifies the delivery's signature header against the body.
func (w *Webhook) check(body []byte, sig string) bool {
	if w.d.PlainToken {
		return len(w.secret) > 0 && hmac.Equal([]byte(sig), w.secret)
	}
	return Verify(w.secret, body, sig, w.d.Prefix)
}

// firstTime records id and reports whether it was new.
func (w *Webhook) firstTime(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[id] {
		return false
	}
	w.seen[id] = true
	w.fifo = append(w.fifo, id)
	if len(w.fifo) > keepDeliveries {
		delete(w.seen, w.fifo[0])
		w.fifo = w.fifo[1:]
	}
	return true
}

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "webhook deliveries are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDelivery+1))
	if err != nil {
		http.Error(rw, "reading the delivery failed", http.StatusBadRequest)
		return
	}
	if len(body) > maxDelivery {
		http.Error(rw, "delivery over 25 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	sig := header(r.Header, w.d.Signature, w.d.Also.Signature)
	if sig == "" || !w.check(body, sig) {
		w.log.Warn("webhook delivery refused: unsigned or bad signature (is the secret the same on "+w.d.Tracker+" and in "+w.d.SecretKey+"?)",
			"remote", r.RemoteAddr, "delivery", header(r.Header, w.d.Delivery, w.d.Also.Delivery), "signed", sig != "")
		http.Error(rw, "bad or missing "+w.d.Signature, http.StatusUnauthorized)
		return
	}
	if w.verified != nil {
		w.verified()
	}
	id := header(r.Header, w.d.AltDelivery, w.d.Delivery, w.d.Also.Delivery)
	if id == "" {
		http.Error(rw, "no "+w.d.Delivery, http.StatusBadRequest)
		return
	}
	if !w.firstTime(id) {
		w.log.Info("webhook delivery seen before: ignored", "delivery", id)
		rw.WriteHeader(http.StatusOK)
		io.WriteString(rw, "duplicate delivery: ignored\n")
		return
	}
	event := header(r.Header, w.d.Event, w.d.Also.Event)
	var p struct {
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
		Project struct {
			PathWithNamespace string `json:"path_with_namespace"`
		} `json:"project"`
		Issue struct {
			Number int64 `json:"number"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(rw, "the delivery is not JSON", http.StatusBadRequest)
		return
	}
	used := false
	for _, e := range w.d.Events {
		used = used || e == event
	}
	switch {
	case event == "ping":
		io.WriteString(rw, "pong\n")
	case !used:
		rw.WriteHeader(http.StatusAccepted)
		io.WriteString(rw, "event not used: ignored\n")
	case !w.ours(p.Repository.FullName) && !w.ours(p.Project.PathWithNamespace):
		rw.WriteHeader(http.StatusAccepted)
		io.WriteString(rw, "another repository: ignored\n")
	default:
		w.log.Debug("webhook delivery accepted", "delivery", id, "event", event)
		if w.touch != nil && p.Issue.Number > 0 && p.Repository.FullName != "" {
			w.touch(p.Repository.FullName, p.Issue.Number)
		}
		if w.ring != nil {
			w.ring()
		}
		rw.WriteHeader(http.StatusAccepted)
		io.WriteString(rw, "ok: the feed is read now\n")
	}
}

// ours reports whether the delivery's repository is one of the webhook's.
func (w *Webhook) ours(full string) bool {
	for _, r := range strings.Split(w.repo, ",") {
		if strings.EqualFold(strings.TrimSpace(r), full) {
			return true
		}
	}
	return false
}
