package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/serve/servetest"
)

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out servetest.SyncBuffer
	if err := run(context.Background(), []string{"-h"}, &out); err != nil {
		t.Fatalf("run(-h) = %v", err)
	}
	for _, want := range []string{"-http-addr", "KITSHOP_HTTP_ADDR", `default "127.0.0.1:8080"`,
		"-user-url", "KITSHOP_USER_URL", `default "http://localhost:8081"`,
		"-product-url", "-order-url", "-payment-url", "-notification-url", "KITSHOP_NOTIFICATION_URL",
		"-upstream-timeout", "-max-body-bytes", "-shutdown-timeout", "-log-format"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %s", want)
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for want, args := range map[string][]string{
		"KITSHOP_ORDER_URL":        {"-order-url=ftp://orders"},
		"KITSHOP_USER_URL":         {"-user-url="},
		"KITSHOP_PAYMENT_URL":      {"-payment-url=http://admin:secret@payment:8084"},
		"KITSHOP_PRODUCT_URL":      {"-product-url=http://product:8082/?x=1"},
		"KITSHOP_UPSTREAM_TIMEOUT": {"-upstream-timeout=0"},
		"KITSHOP_HTTP_ADDR":        {"-http-addr=8080"},
		"KITSHOP_MAX_BODY_BYTES":   {"-max-body-bytes=-1"},
		"KITSHOP_LOG_LEVEL":        {"-log-level=loud"},
	} {
		var out servetest.SyncBuffer
		err := run(context.Background(), args, &out)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run(%v) = %v, want an error naming %s", args, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("run(%v) = %v: the error echoes a password", args, err)
		}
	}
}

// upstream is a fake service HTTP listener that records what reached it.
type upstream struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

func newUpstream(t *testing.T, svc string) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, r)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"service": svc, "path": r.URL.Path, "query": r.URL.RawQuery,
			"body": string(body), "xff": r.Header.Get("X-Forwarded-For"), "auth": r.Header.Get("Authorization")})
	}))
	t.Cleanup(u.Close)
	return u
}

// startEdge runs the edge with args on a free loopback port and returns its
// base URL; it is stopped when the test ends.
func startEdge(t *testing.T, args ...string) string {
	t.Helper()
	var logs servetest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-http-addr", "127.0.0.1:0", "-log-format", "json", "-shutdown-timeout", "5s"}, args...), &logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v after its context was cancelled", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct{ Msg, HTTP string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "edge started" {
				return "http://" + line.HTTP
			}
		}
		select {
		case err := <-done:
			t.Fatalf("edge stopped at start: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("edge did not start:\n%s", logs.String())
	return ""
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("X-Forwarded-For", "6.6.6.6") // a client's claim, which the edge must not pass on as its own
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

func TestEdgeForwardsEachRouteToItsService(t *testing.T) {
	t.Parallel()
	var args []string
	for _, svc := range config.ServiceNames() {
		args = append(args, "-"+svc+"-url", newUpstream(t, svc).URL)
	}
	base := startEdge(t, args...)

	for _, tc := range []struct{ method, path, body, svc string }{
		{"POST", "/auth/login", "", config.User},
		{"GET", "/.well-known/jwks.json", "", config.User},
		{"GET", "/product?pageSize=5", "", config.Product},
		{"POST", "/order", `{"productIds":["sample-1"]}`, config.Order},
		{"GET", "/order/abc", "", config.Order},
		{"GET", "/payment/abc", "", config.Payment},
		{"GET", "/notification?orderId=abc", "", config.Notification},
	} {
		code, got := call(t, tc.method, base+tc.path, tc.body)
		path, query, _ := strings.Cut(tc.path, "?")
		if code != http.StatusCreated || got["service"] != tc.svc || got["path"] != path || got["query"] != query ||
			got["body"] != tc.body || got["auth"] != "Bearer tok" {
			t.Errorf("%s %s reached %v (%d), want the %s service with path, query, body and Authorization intact",
				tc.method, tc.path, got, code, tc.svc)
		}
		if got["xff"] != "127.0.0.1" {
			t.Errorf("%s %s: X-Forwarded-For %q, want the client's address only", tc.method, tc.path, got["xff"])
		}
	}

	if code, _ := call(t, "GET", base+"/nowhere", ""); code != http.StatusNotFound {
		t.Errorf("GET /nowhere = %d, want 404", code)
	}
	if code, got := call(t, "GET", base+"/healthz", ""); code != http.StatusOK || got["status"] != "ok" {
		t.Errorf("GET /healthz = %d %v", code, got)
	}
	if code, got := call(t, "GET", base+"/readyz", ""); code != http.StatusOK || got["status"] != "ok" {
		t.Errorf("GET /readyz = %d %v", code, got)
	}
	_, metrics := call(t, "GET", base+"/metrics", "")
	for _, want := range []string{`kitshop_http_requests_total{code="201",handler="/order",method="POST",service="edge"} 1`,
		`kitshop_http_requests_total{code="404",handler="unmatched",method="GET",service="edge"} 1`, "go_goroutines"} {
		if !strings.Contains(metrics["raw"].(string), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestEdgeAnswersForAServiceThatIsDownOrSlow(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	base := startEdge(t, "-order-url", down.URL, "-payment-url", slow.URL, "-upstream-timeout", "200ms")

	code, got := call(t, "POST", base+"/order", "{}")
	body, _ := json.Marshal(got)
	if code != http.StatusBadGateway || !strings.Contains(string(body), `"code":"bad_gateway"`) ||
		!strings.Contains(string(body), "the order service is unavailable") {
		t.Errorf("POST /order with the order service down = %d %s, want 502 bad_gateway", code, body)
	}
	if strings.Contains(string(body), strings.TrimPrefix(down.URL, "http://")) {
		t.Errorf("the 502 body %s shows the service's address", body)
	}
	code, got = call(t, "GET", base+"/payment/abc", "")
	body, _ = json.Marshal(got)
	if code != http.StatusGatewayTimeout || !strings.Contains(string(body), `"code":"deadline_exceeded"`) {
		t.Errorf("GET /payment/abc with a silent payment service = %d %s, want 504 deadline_exceeded", code, body)
	}
}

// TestEdgeServesTheStorefront: a browser at the edge gets the storefront's
// pages, made from the services' answers through the proxies, with a session
// cookie sealed by the key of -session-key-file.
func TestEdgeServesTheStorefront(t *testing.T) {
	t.Parallel()
	var args []string
	product := newUpstream(t, config.Product)
	for _, svc := range config.ServiceNames() {
		u := product
		if svc != config.Product {
			u = newUpstream(t, svc)
		}
		args = append(args, "-"+svc+"-url", u.URL)
	}
	keyFile := filepath.Join(t.TempDir(), "session-ed25519.pem")
	base := startEdge(t, append(args, "-session-key-file", keyFile)...)
	req, err := http.NewRequest("GET", base+"/?q=milk", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "Products matching") {
		t.Fatalf("GET / = %d %q: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "kitshop_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Errorf("no HttpOnly session cookie: %v", resp.Cookies())
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Errorf("the session key was not made at -session-key-file: %v", err)
	}
	product.mu.Lock()
	defer product.mu.Unlock()
	if len(product.got) == 0 || product.got[len(product.got)-1].URL.Query().Get("q") != "milk" {
		t.Errorf("the catalogue page did not search the product service for milk")
	}
}
