package main

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/serve/servetest"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/tlsconfig/tlstest"
)

// TestRunServesMutualTLS runs the service with -tls-cert, -tls-key and
// -tls-ca: gRPC health answers a client with a certificate of the CA and
// refuses a plaintext one; HTTP stays plain.
func TestRunServesMutualTLS(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	args := append(tlstest.Args(ca.Files(t, ca.Issue(t, tlstest.IssueOptions{}))),
		"-jwt-public-key-file="+servetest.PublicKeyFile(t))
	grpcAddr, httpAddr, stop := servetest.Start(t, run, args...)

	client, err := tlsconfig.Load(ca.Files(t, ca.Issue(t, tlstest.IssueOptions{})), nil)
	if err != nil {
		t.Fatal(err)
	}
	servetest.CheckServing(t, grpcAddr, httpAddr, client.DialOptions()...)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext health check: %v, want Unavailable", err)
	}
	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}

func TestRunRejectsPartialTLSFlags(t *testing.T) {
	t.Parallel()
	var out servetest.SyncBuffer
	err := run(context.Background(), []string{"-tls-cert=/etc/kitshop/tls.crt", "-tls-ca=/etc/kitshop/ca.crt"}, &out)
	if err == nil || !strings.Contains(err.Error(), "-tls-key (KITSHOP_TLS_KEY)") {
		t.Fatalf("run = %v, want an error naming -tls-key and KITSHOP_TLS_KEY", err)
	}
	err = run(context.Background(), []string{"-tls-cert=/nonexistent/tls.crt", "-tls-key=/nonexistent/tls.key",
		"-tls-ca=/nonexistent/ca.crt", "-jwt-public-key-file=" + servetest.PublicKeyFile(t)}, &out)
	if err == nil || !strings.Contains(err.Error(), "KITSHOP_TLS_CA") {
		t.Fatalf("run = %v, want an error naming KITSHOP_TLS_CA", err)
	}
}
