package gitea

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/internal/feed"
)

type item struct {
	n       int
	updated time.Time
}

// TestSortedFeed: Gitea lists newest created first, whatever the update
// stamps; served through sortedFeed, the feed returns every changed item
// once, oldest change first, across pages and small limits.
func TestSortedFeed(t *testing.T) {
	base := time.Unix(1_700_000_000, 0).UTC()
	var all []item // created order 1..n; updated in another order
	for i := 1; i <= 2*pageSize+7; i++ {
		all = append(all, item{n: i, updated: base.Add(time.Duration((i*37)%101) * time.Second)})
	}
	now := base.Add(time.Hour)
	list := func(_ context.Context, since time.Time, page int) ([]item, *sdk.Response, error) {
		var sel []item
		for i := len(all) - 1; i >= 0; i-- { // newest created first
			if !all[i].updated.Before(since) {
				sel = append(sel, all[i])
			}
		}
		lo := (page - 1) * pageSize
		if lo >= len(sel) {
			return nil, &sdk.Response{Response: &http.Response{Header: http.Header{"Date": {now.Format(http.TimeFormat)}}}}, nil
		}
		resp := &sdk.Response{Response: &http.Response{Header: http.Header{"Date": {now.Format(http.TimeFormat)}}}}
		if lo+pageSize < len(sel) {
			resp.NextPage = page + 1
		}
		return sel[lo:min(len(sel), lo+pageSize)], resp, nil
	}
	for _, limit := range []int{1000, 10, 1} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			got := map[int]int{}
			var cur adapters.Cursor
			var last time.Time
			for range 1000 {
				f := &sortedFeed[item]{list: list, key: func(i item) string { return strconv.Itoa(i.n) }, updated: func(i item) time.Time { return i.updated }}
				items, next, err := feed.Changes(context.Background(), cur, limit, feed.Options{Settle: time.Second, PageSize: pageSize}, f.page, f.key, f.updated)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					if it.updated.Before(last) {
						t.Fatalf("item %d (updated %v) after one updated %v: not oldest first", it.n, it.updated, last)
					}
					last = it.updated
					got[it.n]++
				}
				if len(items) == 0 {
					break
				}
				cur = next
			}
			for _, it := range all {
				if got[it.n] != 1 {
					t.Errorf("item %d returned %d times, want once", it.n, got[it.n])
				}
			}
		})
	}
}

// TestClassify: the SDK's text errors get their class from the status.
func TestClassify(t *testing.T) {
	resp := func(st int, h ...string) *sdk.Response {
		r := &http.Response{StatusCode: st, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return &sdk.Response{Response: r}
	}
	cases := []struct {
		name  string
		resp  *sdk.Response
		class adapters.ErrorClass
		kind  error
	}{
		{"401", resp(401), adapters.ClassCredentials, adapters.ErrUnavailable},
		{"403", resp(403), adapters.ClassPermission, adapters.ErrUnavailable},
		{"404", resp(404), adapters.ClassNotFound, adapters.ErrNotFound},
		{"422", resp(422), adapters.ClassRejected, adapters.ErrRejected},
		{"429", resp(429, "Retry-After", "7"), adapters.ClassRateLimited, adapters.ErrUnavailable},
		{"502", resp(502), adapters.ClassServer, adapters.ErrUnavailable},
		{"no answer", nil, adapters.ClassUnreachable, adapters.ErrUnavailable},
		{"200 with bad JSON", resp(200), adapters.ClassGarbage, adapters.ErrUnavailable},
	}
	for _, c := range cases {
		err := classify(context.Background(), "do it", c.resp, errors.New("sdk says no"))
		var te *adapters.TrackerError
		if !errors.As(err, &te) || te.Class != c.class || !errors.Is(err, c.kind) {
			t.Errorf("%s: %v (class %v), want class %s wrapping %v", c.name, err, te, c.class, c.kind)
		}
		if c.class == adapters.ClassRateLimited && time.Until(te.RetryAt) < 5*time.Second {
			t.Errorf("429 with Retry-After 7: retry at %v", te.RetryAt)
		}
	}
}

func giteaSign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestWebhookOfTracker: the tracker's listener takes Gitea's signature:
// a signed delivery rings once, the same delivery again, a forged one and
// GitHub's header alone ring nothing; Forgejo's headers alone (its
// X-Forgejo-Signature, -Delivery and -Event) are taken the same way.
func TestWebhookOfTracker(t *testing.T) {
	var rings atomic.Int32
	tr, err := New(Options{URL: "http://127.0.0.1:1/", Token: "x", Repo: "octo/widgets", WebhookListen: "127.0.0.1:0", WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.OnChange(func() { rings.Add(1) })
	body := []byte(`{"action":"opened","issue":{"number":1},"repository":{"full_name":"octo/widgets"}}`)
	post := func(id string, h map[string]string) int {
		req, _ := http.NewRequest("POST", "http://"+tr.WebhookAddr()+"/", bytes.NewReader(body))
		if _, forgejo := h["X-Forgejo-Signature"]; forgejo {
			req.Header.Set("X-Forgejo-Delivery", id)
			req.Header.Set("X-Forgejo-Event", "issues")
		} else {
			req.Header.Set("X-Gitea-Delivery", id)
			req.Header.Set("X-Gitea-Event", "issues")
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := giteaSign([]byte("s3cret"), body)
	for _, c := range []struct {
		name   string
		id     string
		h      map[string]string
		status int
		rings  int32
	}{
		{"signed", "u1", map[string]string{"X-Gitea-Signature": good}, 202, 1},
		{"again", "u1", map[string]string{"X-Gitea-Signature": good}, 200, 1},
		{"forged", "u2", map[string]string{"X-Gitea-Signature": giteaSign([]byte("guess"), body)}, 401, 1},
		{"GitHub's header only", "u3", map[string]string{"X-Hub-Signature-256": "sha256=" + good}, 401, 1},
		{"Forgejo's headers", "u4", map[string]string{"X-Forgejo-Signature": good}, 202, 2},
		{"Forgejo's again", "u4", map[string]string{"X-Forgejo-Signature": good}, 200, 2},
		{"Forgejo's forged", "u5", map[string]string{"X-Forgejo-Signature": giteaSign([]byte("guess"), body)}, 401, 2},
	} {
		if st := post(c.id, c.h); st != c.status || rings.Load() != c.rings {
			t.Errorf("%s: %d, rings %d; want %d, %d", c.name, st, rings.Load(), c.status, c.rings)
		}
	}
}

// TestBodyCap: an answer over the cap is garbage, not a crash or an
// endless read.
func TestBodyCap(t *testing.T) {
	c := &capped{rc: nopCloser{bytes.NewReader(make([]byte, 10))}, left: 4}
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	if n != 4 {
		t.Fatalf("read %d, want 4", n)
	}
	if _, err := c.Read(buf); !errors.Is(err, errTooLarge) {
		t.Fatalf("past the cap: %v", err)
	}
	err := classify(context.Background(), "get", &sdk.Response{Response: &http.Response{StatusCode: 200}}, fmt.Errorf("decode: %w", errTooLarge))
	var te *adapters.TrackerError
	if !errors.As(err, &te) || te.Class != adapters.ClassGarbage {
		t.Errorf("too large: %v", err)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// TestConfirm401: a 401 that a probe of the token does not confirm (Gitea
// shutting down answers 401 for a good token) is a transient 503; one it
// confirms stays a refused token.
func TestConfirm401(t *testing.T) {
	for _, c := range []struct {
		name      string
		probe     int
		wantClass adapters.ErrorClass
	}{
		{"token accepted by the probe", 200, adapters.ClassServer},
		{"Gitea gone for the probe", 0, adapters.ClassServer},
		{"token refused again", 401, adapters.ClassCredentials},
	} {
		t.Run(c.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/api/v1/user" {
					if c.probe == 0 {
						srv.CloseClientConnections()
						return
					}
					w.WriteHeader(c.probe)
					w.Write([]byte(`{"id":1,"login":"me"}`))
					return
				}
				w.WriteHeader(401)
				w.Write([]byte(`{"message":"invalid username, password or token"}`))
			}))
			defer srv.Close()
			tr, err := New(Options{URL: srv.URL, Token: "tok", Repo: "o/r"})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			_, err = tr.Get(tctx(t), "1")
			var te *adapters.TrackerError
			if !errors.As(err, &te) || te.Class != c.wantClass {
				t.Errorf("%v (class %v), want class %s", err, te, c.wantClass)
			}
		})
	}
}
