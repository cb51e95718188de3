package main

import (
	"net/http"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/tlsconfig/tlstest"
)

// TestPurchaseOverMutualTLS runs the whole system with -tls-cert, -tls-key
// and -tls-ca: a purchase reaches DeliveryStarted, so order's calls to user,
// product, payment and notification all went over mutual TLS, and a
// plaintext client is refused by every service.
func TestPurchaseOverMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	sys := startSystem(t, tlstest.Args(ca.Files(t, ca.Issue(t, tlstest.IssueOptions{})))...)
	sh := sys.shop

	alice := sys.signUp(t, "alice@example.com")
	var o orderJSON
	if code, raw := sys.call(t, "POST", "/order", bearer(alice), orderBody([]string{"sample-1"}, approvedCard, 1000), &o); code != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", code, raw)
	}
	if o.Status != "DeliveryStarted" || o.Customer.Email != "alice@example.com" {
		t.Fatalf("created order = %+v", o)
	}
	sys.waitStatus(t, alice, o.ID, "DeliveryStarted")

	for _, name := range config.ServiceNames() {
		conn, err := grpc.NewClient(sh.grpcAddrs[name], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: plaintext health check: %v, want Unavailable", name, err)
		}
		_ = conn.Close()
	}
}
