package order

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/internal/token"
)

// TestEndpointsAreObserved: every call of an endpoint of NewSet is one log
// line with its method, outcome and ids, at Info for writes and Debug for
// reads, and one count of kitshop_order_requests_total{method,outcome},
// refused tokens included.
func TestEndpointsAreObserved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewPedanticRegistry()
	set := NewSet(e.svc, signer.Verifier(), logger, reg)
	h := NewHTTPHandler(set)
	pair, err := signer.IssuePair(alice, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	adminPair, err := signer.IssuePair(admin, token.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, bearer, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := call(http.MethodPost, "/order", pair.AccessToken, orderBody)
	var o orderJSON
	if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil || w.Code != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", w.Code, w.Body)
	}
	call(http.MethodGet, "/order/"+o.ID, pair.AccessToken, "")
	call(http.MethodGet, "/order", pair.AccessToken, "")
	call(http.MethodGet, "/order/nope", pair.AccessToken, "")
	call(http.MethodPost, "/order", "", orderBody)
	call(http.MethodPost, "/order/"+o.ID+"/delivered", pair.AccessToken, "")
	call(http.MethodGet, "/order/status/Pending", pair.AccessToken, "")
	call(http.MethodGet, "/order/work", adminPair.AccessToken, "")
	call(http.MethodGet, "/order/breakers", adminPair.AccessToken, "")
	if _, err := set.DeliveryStartedEndpoint(context.Background(), DeliveryStartedRequest{OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	e.store.failGet = errors.New("disk on fire")
	call(http.MethodGet, "/order/"+o.ID, pair.AccessToken, "")

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kitshop_order_requests_total Calls of the order service, by method and outcome.
# TYPE kitshop_order_requests_total counter
kitshop_order_requests_total{method="Breakers",outcome="ok"} 1
kitshop_order_requests_total{method="CreateOrder",outcome="invalid_token"} 1
kitshop_order_requests_total{method="CreateOrder",outcome="ok"} 1
kitshop_order_requests_total{method="DeliveryDone",outcome="ok"} 0
kitshop_order_requests_total{method="DeliveryDone",outcome="permission_denied"} 1
kitshop_order_requests_total{method="DeliveryStarted",outcome="ok"} 1
kitshop_order_requests_total{method="GetOrder",outcome="error"} 1
kitshop_order_requests_total{method="GetOrder",outcome="not_found"} 1
kitshop_order_requests_total{method="GetOrder",outcome="ok"} 1
kitshop_order_requests_total{method="ListOrders",outcome="ok"} 1
kitshop_order_requests_total{method="ListOrdersByStatus",outcome="ok"} 0
kitshop_order_requests_total{method="ListOrdersByStatus",outcome="permission_denied"} 1
kitshop_order_requests_total{method="PendingWork",outcome="ok"} 1
`), "kitshop_order_requests_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "kitshop_order_request_duration_seconds"); err != nil || n != 13 {
		t.Errorf("%d duration series (%v), want one per requests_total series", n, err)
	}

	type line struct {
		Level, Msg, Method, Outcome, Error string
		UserID                             string `json:"user_id"`
		OrderID                            string `json:"order_id"`
		Status                             string
		Replayed                           *bool
		Orders                             *int
	}
	var lines []line
	for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		if l.Msg != "order service call" {
			continue
		}
		lines = append(lines, l)
	}
	want := []line{
		{Level: "INFO", Method: "CreateOrder", Outcome: "ok", UserID: alice, OrderID: o.ID, Status: "PaymentProcessed"},
		{Level: "DEBUG", Method: "GetOrder", Outcome: "ok", UserID: alice, OrderID: o.ID},
		{Level: "DEBUG", Method: "ListOrders", Outcome: "ok", UserID: alice},
		{Level: "DEBUG", Method: "GetOrder", Outcome: "not_found", UserID: alice, OrderID: "nope"},
		{Level: "INFO", Method: "CreateOrder", Outcome: "invalid_token"},
		{Level: "INFO", Method: "DeliveryDone", Outcome: "permission_denied", OrderID: o.ID},
		{Level: "DEBUG", Method: "ListOrdersByStatus", Outcome: "permission_denied", Status: "Pending"},
		{Level: "DEBUG", Method: "PendingWork", Outcome: "ok"},
		{Level: "DEBUG", Method: "Breakers", Outcome: "ok"},
		{Level: "INFO", Method: "DeliveryStarted", Outcome: "ok", OrderID: o.ID},
		{Level: "ERROR", Method: "GetOrder", Outcome: "error", OrderID: o.ID},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d call log lines, want %d:\n%s", len(lines), len(want), logs.String())
	}
	for i, w := range want {
		g := lines[i]
		if g.Level != w.Level || g.Method != w.Method || g.Outcome != w.Outcome || g.UserID != w.UserID ||
			g.OrderID != w.OrderID || g.Status != w.Status {
			t.Errorf("line %d: %+v, want %+v", i, g, w)
		}
		if (g.Outcome == "ok") == (g.Error != "") {
			t.Errorf("line %d: outcome %s with error %q", i, g.Outcome, g.Error)
		}
	}
	if r := lines[0].Replayed; r == nil || *r {
		t.Errorf("CreateOrder's line: replayed %v, want false", r)
	}
	if n := lines[2].Orders; n == nil || *n != 1 {
		t.Errorf("ListOrders' line: orders %v, want 1", n)
	}
	for _, secret := range []string{"4111", "900101", "alice@example.com", pair.AccessToken} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
}
