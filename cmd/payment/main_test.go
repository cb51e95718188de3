package main

import (
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/internal/serve/servetest"
)

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	servetest.CheckRejected(t, run, map[string][]string{
		"KITSHOP_PROCESSOR_TIMEOUT":   {"-processor-timeout=0"},
		"KITSHOP_JWKS_URL":            {"-jwks-url="},
		"KITSHOP_JWT_PUBLIC_KEY_FILE": {"-jwt-public-key-file=/nonexistent/key.pem", "-data-dir=" + t.TempDir()},
	})
}

// TestRunServesAndStops starts the service with a card key generated in its
// data directory: it serves health and answers 401 without a token, then
// stops cleanly when its context ends.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	grpcAddr, httpAddr, stop := servetest.Start(t, run, "-jwt-public-key-file="+servetest.PublicKeyFile(t))
	servetest.CheckServing(t, grpcAddr, httpAddr)
	if code := servetest.Get(t, httpAddr, "/payment/o"); code != http.StatusUnauthorized {
		t.Errorf("GET /payment/o without a token: %d, want 401", code)
	}
	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}
