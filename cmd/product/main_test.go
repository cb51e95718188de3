package main

import (
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/internal/serve/servetest"
)

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	servetest.CheckRejected(t, run, map[string][]string{
		"KITSHOP_JWKS_URL":            {"-jwks-url=ftp://users/jwks"},
		"KITSHOP_JWT_PUBLIC_KEY_FILE": {"-jwt-public-key-file=/nonexistent/key.pem"},
		"KITSHOP_LOG_LEVEL":           {"-log-level=loud"},
	})
}

// TestRunServesAndStops starts the service while its JWK Set cannot be
// fetched: the public routes serve at once, the fetch keeps retrying in the
// background, and the service stops cleanly when its context ends.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	grpcAddr, httpAddr, stop := servetest.Start(t, run, "-jwks-url=http://127.0.0.1:1/.well-known/jwks.json")
	servetest.CheckServing(t, grpcAddr, httpAddr)
	if code := servetest.Get(t, httpAddr, "/product?pageSize=1"); code != http.StatusOK {
		t.Errorf("GET /product: %d, want 200", code)
	}
	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}
