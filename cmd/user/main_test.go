package main

import (
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/internal/serve/servetest"
)

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	servetest.CheckRejected(t, run, map[string][]string{
		"KITSHOP_BCRYPT_COST":  {"-bcrypt-cost=99"},
		"KITSHOP_JWT_KEY_FILE": {"-jwt-key-file=/nonexistent/key.pem"},
		"KITSHOP_GRPC_ADDR":    {"-grpc-addr=nowhere"},
	})
}

// TestRunServesAndStops starts the service with a signing key generated in
// its data directory: it serves health and its JWK Set, then stops cleanly
// when its context ends.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	grpcAddr, httpAddr, stop := servetest.Start(t, run)
	servetest.CheckServing(t, grpcAddr, httpAddr)
	if code := servetest.Get(t, httpAddr, "/.well-known/jwks.json"); code != http.StatusOK {
		t.Errorf("GET /.well-known/jwks.json: %d, want 200", code)
	}
	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}
