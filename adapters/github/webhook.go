package github

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

// Webhook receives GitHub's webhook deliveries for the repository and rings
// the node's doorbell: an accepted delivery of an issues or issue_comment
// event makes the node read the change feed now, instead of at its next
// poll. The payload itself is never applied: what syncs is what the API
// gives the following poll. So a forged delivery cannot change anything,
// and a missed one (GitHub does not redeliver by itself) is caught by the
// polling that goes on beside the webhook.
//
// Refused: a delivery without X-Hub-Signature-256 or whose HMAC-SHA256 of
// the body under the secret does not match (401), a body over 25 MiB
// (413), a delivery ID already seen (the last 4096 are kept: a replay or a
// redelivery answers 200 and rings nothing), and events of another
// repository (ignored with 202).
type Webhook struct {
	secret []byte
	repo   string
	ring   func()
	log    *slog.Logger

	mu   sync.Mutex
	seen map[string]bool
	fifo []string
}

// maxDelivery is GitHub's own cap on a payload.
const maxDelivery = 25 << 20

// keepDeliveries is how many delivery IDs are remembered.
const keepDeliveries = 4096

// NewWebhook returns the handler; ring is called for every accepted
// delivery of an issue or comment event.
func NewWebhook(secret, repo string, ring func(), log *slog.Logger) *Webhook {
	if log == nil {
		log = slog.Default()
	}
	return &Webhook{secret: []byte(secret), repo: repo, ring: ring, log: log.With("component", "github-webhook"), seen: map[string]bool{}}
}

// Verify reports whether sig (the X-Hub-Signature-256 header,
// "sha256=HEX") is the HMAC-SHA256 of body under secret.
func Verify(secret, body []byte, sig string) bool {
	h, ok := strings.CutPrefix(sig, "sha256=")
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
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" || !Verify(w.secret, body, sig) {
		w.log.Warn("webhook delivery refused: unsigned or bad signature (is the secret the same on GitHub and in tracker.webhook.secret_file?)",
			"remote", r.RemoteAddr, "delivery", r.Header.Get("X-GitHub-Delivery"), "signed", sig != "")
		http.Error(rw, "bad or missing X-Hub-Signature-256", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("X-GitHub-Delivery")
	if id == "" {
		http.Error(rw, "no X-GitHub-Delivery", http.StatusBadRequest)
		return
	}
	if !w.firstTime(id) {
		w.log.Info("webhook delivery seen before: ignored", "delivery", id)
		rw.WriteHeader(http.StatusOK)
		io.WriteString(rw, "duplicate delivery: ignored\n")
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	var p struct {
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(rw, "the delivery is not JSON", http.StatusBadRequest)
		return
	}
	switch {
	case event == "ping":
		io.WriteString(rw, "pong\n")
	case event != "issues" && event != "issue_comment":
		rw.WriteHeader(http.StatusAccepted)
		io.WriteString(rw, "event not used: ignored\n")
	case !strings.EqualFold(p.Repository.FullName, w.repo):
		rw.WriteHeader(http.StatusAccepted)
		io.WriteString(rw, "another repository: ignored\n")
	default:
		if w.ring != nil {
			w.ring()
		}
		rw.WriteHeader(http.StatusAccepted)
		io.WriteString(rw, "ok: the feed is read now\n")
	}
}
