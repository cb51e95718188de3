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
	servetest.CheckRejected(t, run, map[string][]string{
		"KITSHOP_ORDER_TIMEOUT":         {"-order-timeout=0"},
		"KITSHOP_SWEEP_INTERVAL":        {"-sweep-interval=-1s"},
		"KITSHOP_DISPATCH_CONCURRENCY":  {"-dispatch-concurrency=0"},
		"KITSHOP_MAX_CONCURRENT_ORDERS": {"-max-concurrent-orders=0"},
		"KITSHOP_ADMISSION_WAIT":        {"-admission-wait=0"},
		"KITSHOP_PAYMENT_ADDR":          {"-payment-addr="},
		"KITSHOP_JWKS_URL":              {"-jwks-url="},
		"client-retry-budget":           {"-client-retry-budget=1ms"},
		"breaker-failures":              {"-breaker-failures=0"},
		"KITSHOP_JWT_PUBLIC_KEY_FILE":   {"-jwt-public-key-file=/nonexistent/key.pem"},
	})
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out servetest.SyncBuffer
	if err := run(context.Background(), []string{"-h"}, &out); err != nil {
		t.Fatalf("run(-h) = %v", err)
	}
	for _, flag := range []string{"-user-addr", "-product-addr", "-payment-addr", "-notification-addr", "-jwks-url",
		"-jwt-public-key-file", "-breaker-failures", "-breaker-open-timeout", "-breaker-half-open-requests",
		"-client-attempt-timeout", "-client-retry-budget", "-sweep-interval", "KITSHOP_ORDER_TIMEOUT", `default "127.0.0.1:50053"`, `default "127.0.0.1:8083"`,
		"-breaker-failures number", "KITSHOP_BREAKER_FAILURES, default 5)"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("usage lacks %s", flag)
		}
	}
}

// TestRunServesAndStops starts the service with its dependencies down (the
// connections are lazy): it serves health and answers 401 without a token,
// then stops cleanly when its context ends.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	grpcAddr, httpAddr, stop := servetest.Start(t, run, "-jwt-public-key-file="+servetest.PublicKeyFile(t), "-user-addr=127.0.0.1:1",
		"-product-addr=127.0.0.1:1", "-payment-addr=127.0.0.1:1", "-notification-addr=127.0.0.1:1")
	servetest.CheckServing(t, grpcAddr, httpAddr)
	for path, want := range map[string]int{"/order": http.StatusUnauthorized, "/metrics": http.StatusOK} {
		if code := servetest.Get(t, httpAddr, path); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}
