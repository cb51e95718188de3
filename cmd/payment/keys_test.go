package main

import (
	"net/http"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/serve/servetest"
	"github.com/kitshop/kitshop/internal/token"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// TestRunWithoutTheUserService starts the service while its JWK Set URL is
// down: it listens at once, its internal RPCs work for the order service,
// and the admin route is 401 without a token and 503 + Retry-After with a
// well-formed one.
func TestRunWithoutTheUserService(t *testing.T) {
	t.Parallel()
	keyFlag, asOrder := servetest.ServiceKey(t, config.Order)
	grpcAddr, httpAddr, stop := servetest.Start(t, run, servetest.DownJWKS, keyFlag)
	servetest.CheckServing(t, grpcAddr, httpAddr)

	if resp := servetest.Call(t, http.MethodGet, httpAddr, "/payment/o1", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /payment/o1 without a token: %d, want 401", resp.StatusCode)
	}
	tok := servetest.AccessToken(t, "admin-1", token.RoleAdmin)
	if resp := servetest.Call(t, http.MethodGet, httpAddr, "/payment/o1", tok, ""); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("GET /payment/o1 with a token: %d Retry-After %q, want 503 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), asOrder)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = paymentv1.NewPaymentServiceClient(conn).GetPayment(t.Context(), &paymentv1.GetPaymentRequest{OrderId: "o1"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetPayment of an unknown order: %v, want NotFound", err)
	}

	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}
