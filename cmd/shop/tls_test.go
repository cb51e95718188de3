package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

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
	args := append(tlstest.Args(ca.Files(t, ca.Issue(t, tlstest.IssueOptions{}))),
		"-data-dir", t.TempDir(), "-edge-addr", "127.0.0.1:0", "-log-level", "warn")
	for _, name := range config.ServiceNames() {
		args = append(args, "-"+name+"-grpc-addr", "127.0.0.1:0", "-"+name+"-http-addr", "127.0.0.1:0")
	}
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var s settings
	if err := s.register(fs); err != nil {
		t.Fatal(err)
	}
	if err := config.Parse(fs, args); err != nil {
		t.Fatal(err)
	}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sh, err := start(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sh.group.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	sys := &system{base: "http://" + sh.edgeAddr, http: &http.Client{Timeout: 30 * time.Second}}

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
