package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/serve/servetest"
)

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"KITSHOP_SEND_TIMEOUT": {"-send-timeout=0"},
		"KITSHOP_SEND_LATENCY": {"-send-latency=20s"},
		"KITSHOP_SMTP_FROM":    {"-smtp-from=nobody"},
		"KITSHOP_JWKS_URL":     {"-jwks-url="},
	}
	servetest.CheckRejected(t, run, tests)
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out servetest.SyncBuffer
	if err := run(context.Background(), []string{"-h"}, &out); err != nil {
		t.Fatalf("run(-h) = %v", err)
	}
	for _, flag := range []string{"-smtp-addr", "-smtp-from", "-send-latency", "-jwks-url", "KITSHOP_SMTP_PASSWORD"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("usage lacks %s", flag)
		}
	}
}

// TestRunServesAndStops starts the service: it serves health and answers 401
// without a token, then stops cleanly when its context ends.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	grpcAddr, httpAddr, stop := servetest.Start(t, run, "-jwt-public-key-file="+servetest.PublicKeyFile(t))
	servetest.CheckServing(t, grpcAddr, httpAddr)
	if code := servetest.Get(t, httpAddr, "/notification?orderId=o"); code != http.StatusUnauthorized {
		t.Errorf("GET /notification without a token: %d, want 401", code)
	}
	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}
