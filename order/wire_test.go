package order

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/token"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	comp, err := Build(t.Context(), Deps{
		DB:           newTestDB(t),
		Registerer:   reg,
		Verifier:     signer.Verifier(),
		Dependencies: e.svc.deps,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(comp.Background) != 1 {
		t.Errorf("%d background workers, want 1 (the worker)", len(comp.Background))
	}
	gs := grpc.NewServer()
	comp.RegisterGRPC(gs)
	if _, ok := gs.GetServiceInfo()["kitshop.order.v1.OrderService"]; !ok {
		t.Error("OrderService not registered")
	}

	hs := httptest.NewServer(comp.HTTPHandler)
	defer hs.Close()
	pair, err := signer.IssuePair(alice, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, hs.URL+"/order", strings.NewReader(orderBody))
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /order: %d", resp.StatusCode)
	}
	want := `
# HELP kitshop_orders_total Orders that reached a status (Pending when stored, then the statuses they moved to).
# TYPE kitshop_orders_total counter
kitshop_orders_total{status="DeliveryDone"} 0
kitshop_orders_total{status="DeliveryStarted"} 1
kitshop_orders_total{status="Pending"} 1
kitshop_orders_total{status="PaymentCancelled"} 0
kitshop_orders_total{status="PaymentFailed"} 0
kitshop_orders_total{status="PaymentProcessed"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kitshop_orders_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "kitshop_order_requests_total"); err != nil || n < 4 {
		t.Errorf("kitshop_order_requests_total series: %d %v", n, err)
	}
	if _, err := Build(t.Context(), Deps{Verifier: signer.Verifier()}); err == nil {
		t.Error("Build without a database succeeded")
	}
}
