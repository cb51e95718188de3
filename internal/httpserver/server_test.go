package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/prometheus/client_golang/prometheus"
)

// syncBuffer is a log sink safe for the concurrent writes of a live server.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, rec)
	}
	return out
}

type amountRequest struct {
	Amount int64 `json:"amount"`
}

// testApp is a small go-kit service: POST /order echoes the amount with 201,
// GET /boom panics, GET /broken fails with an infrastructure error.
func testApp() http.Handler {
	createOrder := func(_ context.Context, req any) (any, error) {
		r := req.(amountRequest)
		if r.Amount <= 0 {
			return nil, &RequestError{Status: http.StatusBadRequest, Msg: "amount must be positive"}
		}
		return r, nil
	}
	decode := func(_ context.Context, r *http.Request) (any, error) {
		var req amountRequest
		if err := DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		return req, nil
	}
	encode := func(_ context.Context, w http.ResponseWriter, resp any) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		return json.NewEncoder(w).Encode(resp)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /order", httptransport.NewServer(endpoint.Endpoint(createOrder), decode, encode,
		httptransport.ServerErrorEncoder(EncodeError)))
	mux.Handle("GET /broken", httptransport.NewServer(
		func(context.Context, any) (any, error) {
			return nil, errors.New("mongo: auth failed for user kitshop:hunter2")
		},
		func(context.Context, *http.Request) (any, error) { return nil, nil },
		encode, httptransport.ServerErrorEncoder(EncodeError)))
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("nil map in handler") })
	return mux
}

func newTestServer(t *testing.T, opts Options) (*httptest.Server, *syncBuffer, *prometheus.Registry) {
	t.Helper()
	logs := newSyncBuffer()
	reg := prometheus.NewRegistry()
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Registerer, opts.Gatherer = reg, reg
	srv := httptest.NewServer(New(testApp(), opts))
	t.Cleanup(srv.Close)
	return srv, logs, reg
}

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	srv, _, _ := newTestServer(t, Options{})
	resp, body := do(t, http.MethodGet, srv.URL+"/healthz", "")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	var storeDown atomic.Bool
	ready := func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("ready called without a deadline")
		}
		if storeDown.Load() {
			return errors.New("ping: server selection timeout")
		}
		return nil
	}
	srv, logs, _ := newTestServer(t, Options{Ready: ready})

	resp, body := do(t, http.MethodGet, srv.URL+"/readyz", "")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Fatalf("ready: got %d %s", resp.StatusCode, body)
	}

	storeDown.Store(true)
	resp, body = do(t, http.MethodGet, srv.URL+"/readyz", "")
	if resp.StatusCode != 503 || strings.TrimSpace(body) != `{"status":"unavailable"}` {
		t.Fatalf("not ready: got %d %s", resp.StatusCode, body)
	}
	lines := logs.lines(t)
	if len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "server selection timeout") || lines[0]["route"] != "GET /readyz" {
		t.Fatalf("want one log line with the ping error, got %v", lines)
	}
}

func TestMetricsHaveRouteLabels(t *testing.T) {
	t.Parallel()
	srv, _, _ := newTestServer(t, Options{})
	if resp, body := do(t, http.MethodPost, srv.URL+"/order", `{"amount":3000}`); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, http.MethodPost, srv.URL+"/order", `{"amount":0}`); resp.StatusCode != 400 {
		t.Fatalf("zero amount: %d", resp.StatusCode)
	}
	do(t, http.MethodGet, srv.URL+"/no/such/path/12345", "")
	do(t, "BREW", srv.URL+"/order", "")

	_, body := do(t, http.MethodGet, srv.URL+"/metrics", "")
	for _, want := range []string{
		`kitshop_http_requests_total{code="201",handler="POST /order",method="POST"} 1`,
		`kitshop_http_requests_total{code="400",handler="POST /order",method="POST"} 1`,
		`kitshop_http_requests_total{code="404",handler="unmatched",method="GET"} 1`,
		`kitshop_http_requests_total{code="405",handler="unmatched",method="OTHER"} 1`,
		`kitshop_http_request_duration_seconds_count{handler="POST /order",method="POST"} 2`,
		`kitshop_http_request_duration_seconds_bucket{handler="POST /order",method="POST",le="+Inf"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "12345") {
		t.Error("raw path leaked into a label")
	}
}

func TestInternalErrorIsLoggedNotShown(t *testing.T) {
	t.Parallel()
	srv, logs, _ := newTestServer(t, Options{})
	resp, body := do(t, http.MethodGet, srv.URL+"/broken", "")
	if resp.StatusCode != 500 || strings.Contains(body, "hunter2") || !strings.Contains(body, `"code":"internal"`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	lines := logs.lines(t)
	if len(lines) != 1 {
		t.Fatalf("want exactly one log line, got %v", lines)
	}
	if l := lines[0]; l["level"] != "ERROR" || !strings.Contains(l["error"].(string), "auth failed") || l["route"] != "GET /broken" || l["status"] != float64(500) {
		t.Fatalf("log line %v", l)
	}
}

func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	srv, logs, _ := newTestServer(t, Options{})
	resp, body := do(t, http.MethodGet, srv.URL+"/boom", "")
	if resp.StatusCode != 500 || !strings.Contains(body, `"message":"internal error"`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	// The server is still serving.
	if resp, _ := do(t, http.MethodGet, srv.URL+"/healthz", ""); resp.StatusCode != 200 {
		t.Fatalf("after panic: %d", resp.StatusCode)
	}
	lines := logs.lines(t)
	if len(lines) != 1 || lines[0]["panic"] != "nil map in handler" || !strings.Contains(lines[0]["stack"].(string), "server_test.go") {
		t.Fatalf("want one line with panic and stack, got %v", lines)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	srv, _, _ := newTestServer(t, Options{MaxBodyBytes: 32})
	big := `{"amount":1` + strings.Repeat("0", 40) + `}`

	t.Run("content length", func(t *testing.T) {
		// /healthz never reads the body: only the Content-Length check can refuse it.
		resp, body := do(t, http.MethodGet, srv.URL+"/healthz", big)
		if resp.StatusCode != 413 || !strings.Contains(body, `"code":"payload_too_large"`) {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("streamed", func(t *testing.T) {
		// io.MultiReader hides the length: the request is sent chunked.
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/order", io.MultiReader(strings.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		if req.ContentLength != 0 && req.ContentLength != -1 {
			t.Fatalf("request has a length %d", req.ContentLength)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || !strings.Contains(string(b), "larger than 32 bytes") {
			t.Fatalf("got %d %s", resp.StatusCode, b)
		}
	})
	t.Run("within limit", func(t *testing.T) {
		if resp, body := do(t, http.MethodPost, srv.URL+"/order", `{"amount":5}`); resp.StatusCode != 201 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}

func TestNewReusesRegisteredMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := New(testApp(), Options{Registerer: reg, Gatherer: reg})
	b := New(http.NotFoundHandler(), Options{Registerer: reg}) // must not panic
	for _, h := range []http.Handler{a, b} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `kitshop_http_requests_total{code="200",handler="GET /healthz",method="GET"} 2`) {
		t.Fatalf("shared series not counted twice:\n%s", rec.Body)
	}
}

func TestNewServerTimeouts(t *testing.T) {
	t.Parallel()
	s := NewServer(":0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.Addr != ":0" {
		t.Fatalf("server %+v", s)
	}
}

func TestWrappedRegisterersKeepServicesApart(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	user := New(http.NotFoundHandler(), Options{Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"service": "user"}, reg), Gatherer: reg})
	order := New(http.NotFoundHandler(), Options{Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"service": "order"}, reg)})
	for _, h := range []http.Handler{user, order, order} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	}
	rec := httptest.NewRecorder()
	user.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`kitshop_http_requests_total{code="200",handler="GET /healthz",method="GET",service="user"} 1`,
		`kitshop_http_requests_total{code="200",handler="GET /healthz",method="GET",service="order"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestUnmatchedRoutesAnswerJSON: the ServeMux's own 404 and 405 come in the
// JSON error envelope, also from a service's mux behind an outer one that
// matched a prefix (cmd/shop's edge); a 404 the app writes itself is left
// alone.
func TestUnmatchedRoutesAnswerJSON(t *testing.T) {
	service := http.NewServeMux()
	service.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, _ *http.Request) {
		WriteError(w, http.StatusNotFound, "thing_not_found", "no such thing")
	})
	app := http.NewServeMux()
	app.Handle("/things/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A copy of the request, as a middleware between the two makes
		// (telemetry.HTTPChild): the service's mux sets its Pattern, not ours.
		service.ServeHTTP(w, r.WithContext(r.Context()))
	}))
	h := New(app, Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nowhere", http.StatusNotFound, "not_found"},
		{"DELETE", "/things/1", http.StatusMethodNotAllowed, CodeForStatus(http.StatusMethodNotAllowed)},
		{"GET", "/things/1/more", http.StatusNotFound, "not_found"},
		{"GET", "/things/1", http.StatusNotFound, "thing_not_found"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Errorf("%s %s: body %q is not JSON: %v", tc.method, tc.path, rec.Body.String(), err)
			continue
		}
		if rec.Code != tc.status || body.Error.Code != tc.code || body.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d with code %q", tc.method, tc.path, rec.Code, body.Error, tc.status, tc.code)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
	}
}
