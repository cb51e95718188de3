package product

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/kitshop/kitshop/internal/token"
)

// TestBuild assembles the service on the embedded store with the key set
// served by a stand-in user service, and drives its HTTP routes.
func TestBuild(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	signer := newSigner(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(signer.JWKS())
	}))
	t.Cleanup(jwks.Close)

	keys, err := token.NewJWKSFetcher(jwks.URL, jwks.Client(), nil, token.Options{})
	if err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	comp, err := Build(ctx, Deps{DB: newTestDB(t), Registerer: reg, Verifier: keys.Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	if len(comp.Background) != 1 {
		t.Fatalf("%d background units, want the mark flusher", len(comp.Background))
	}
	srv := httptest.NewServer(comp.HTTPHandler)
	t.Cleanup(srv.Close)
	post := func(path, tok, body string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if got := post("/product/sample", "", ""); got != 200 {
		t.Fatalf("POST /product/sample = %d", got)
	}
	resp, err := srv.Client().Get(srv.URL + "/product")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Products []map[string]any `json:"products"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Products) != 5 {
		t.Fatalf("GET /product = %d products, %v; want 5", len(list.Products), err)
	}

	admin := issue(t, signer, "admin-1", token.RoleAdmin)
	body := `{"name":"Tea","price":2500,"stock":1}`
	if got := post("/product", admin, body); got != http.StatusServiceUnavailable {
		t.Fatalf("admin call before the keys = %d, want 503", got)
	}
	if err := keys.Fetch(ctx); err != nil {
		t.Fatalf("key set fetch: %v", err)
	}
	if got := post("/product", admin, body); got != http.StatusCreated {
		t.Fatalf("admin call with the keys = %d, want 201", got)
	}

	if got := counterValue(t, reg, "kitshop_product_requests_total", "CreateSamples", "ok"); got != 1 {
		t.Errorf("CreateSamples ok count = %v, want 1", got)
	}
	if got := counterValue(t, reg, "kitshop_product_requests_total", "CreateProduct", "ok"); got != 1 {
		t.Errorf("CreateProduct ok count = %v, want 1", got)
	}

	// A second Build on the same registry reuses the metrics.
	if _, err := Build(ctx, Deps{DB: newTestDB(t), Registerer: reg, Verifier: signer.Verifier()}); err != nil {
		t.Errorf("second Build: %v", err)
	}
}

// TestBuildFlushesMarks: the component's background unit clears the marks
// of its reservations in one command, at the latest when it stops.
func TestBuildFlushesMarks(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	comp, err := Build(t.Context(), Deps{DB: db, Verifier: newSigner(t).Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	if len(comp.Background) != 1 {
		t.Fatalf("%d background units, want the mark flusher", len(comp.Background))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- comp.Background[0](ctx) }()

	if _, err := comp.Service.CreateSamples(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Until the unit has started, calls clear their own marks: no matter.
	for i := range 20 {
		items := []Item{{"sample-1", 1}, {"sample-2", 2}}
		if _, err := comp.Service.ReserveStock(t.Context(), fmt.Sprintf("o%d", i), items); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the flusher returned %v", err)
	}
	var leftover []productDoc
	cur, err := db.Collection(productsCollection).Find(t.Context(), bson.D{})
	if err == nil {
		err = cur.All(t.Context(), &leftover)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range leftover {
		if len(d.Inflight) != 0 || len(d.Returning) != 0 {
			t.Errorf("product %s keeps marks %v %v after the flusher stopped", d.ID, d.Inflight, d.Returning)
		}
	}
	if ps, err := comp.Service.GetProductsInfo(t.Context(), []string{"sample-1", "sample-2"}); err != nil ||
		ps[0].Stock != DefaultSampleStock-20 || ps[1].Stock != DefaultSampleStock-40 {
		t.Errorf("stocks = %+v, %v", ps, err)
	}
}

func TestBuildChecksDeps(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	for name, d := range map[string]Deps{
		"no database":      {Verifier: newSigner(t).Verifier()},
		"no verifier":      {DB: db},
		"bad sample stock": {DB: db, Verifier: newSigner(t).Verifier(), Options: Options{SampleStock: -1}},
	} {
		if _, err := Build(t.Context(), d); err == nil {
			t.Errorf("%s: Build succeeded", name)
		}
	}
}

func counterValue(t *testing.T, g prometheus.Gatherer, name, method, outcome string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "method") == method && label(m, "outcome") == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestObservedEndpoints checks the log lines of the endpoints: one per
// call, with the method, the outcome, the call's attributes and the level
// of its kind, and the admin check's refusals counted.
func TestObservedEndpoints(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := newFakeStore()
	seed(t, store, 1)
	signer := newSigner(t)
	reg := prometheus.NewRegistry()
	set := NewSet(newTestService(t, store, newClock()), signer.Verifier(), logger, reg)
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("Authorization", "Bearer "+issue(t, signer, "admin-1", token.RoleAdmin))
	admin := token.HTTPToContext(t.Context(), req)

	if resp, err := set.ReserveStockEndpoint(t.Context(), ReserveStockRequest{OrderID: "o1", Items: []Item{{"p1", 2}}}); err != nil || resp.(endpoint.Failer).Failed() == nil {
		t.Fatalf("reservation of 2 from 1: %v, %v", resp, err)
	}
	if _, err := set.AdjustStockEndpoint(admin, AdjustStockRequest{ProductID: "p1", Delta: 4}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per call:\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["method"] != "ReserveStock" || first["outcome"] != "insufficient_stock" || first["level"] != "DEBUG" || first["order"] != "o1" {
		t.Errorf("reserve line = %v", first)
	}
	if second["method"] != "AdjustStock" || second["outcome"] != "ok" || second["level"] != "INFO" ||
		second["stock"] != 5.0 || second["product"] != "p1" || second["delta"] != 4.0 {
		t.Errorf("adjust line = %v", second)
	}

	// The admin check's refusals are observed too.
	if _, err := set.AdjustStockEndpoint(t.Context(), AdjustStockRequest{ProductID: "p1", Delta: 1}); !errors.Is(err, token.ErrMissingToken) {
		t.Errorf("adjust without a token: %v, want ErrMissingToken", err)
	}
	if got := counterValue(t, reg, "kitshop_product_requests_total", "AdjustStock", "invalid_token"); got != 1 {
		t.Errorf("AdjustStock invalid_token count = %v, want 1", got)
	}

	// Infrastructure failures are errors.
	buf.Reset()
	store.err = errors.New("store down")
	_, _ = set.GetProductEndpoint(t.Context(), GetProductRequest{ProductID: "p1"})
	if !strings.Contains(buf.String(), `"level":"ERROR"`) || !strings.Contains(buf.String(), `"outcome":"error"`) {
		t.Errorf("store failure line = %s", buf.String())
	}
}
