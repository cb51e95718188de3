package assembly

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/serve/servetest"
)

// runOf is cmd/<name>'s run.
func runOf(name string) servetest.RunFunc {
	return func(ctx context.Context, args []string, stderr io.Writer) error { return Run(ctx, name, args, stderr) }
}

// TestRunRejectsBadFlags: each bad setting of a service run alone fails its
// start, naming the flag's environment variable (or the flag).
func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for name, cases := range map[string]map[string][]string{
		config.User: {
			"KITSHOP_BCRYPT_COST":  {"-bcrypt-cost=99"},
			"KITSHOP_JWT_KEY_FILE": {"-jwt-key-file=/nonexistent/key.pem"},
			"KITSHOP_GRPC_ADDR":    {"-grpc-addr=nowhere"},
		},
		config.Product: {
			"KITSHOP_JWKS_URL":            {"-jwks-url=ftp://users/jwks"},
			"KITSHOP_JWT_PUBLIC_KEY_FILE": {"-jwt-public-key-file=/nonexistent/key.pem"},
			"KITSHOP_LOG_LEVEL":           {"-log-level=loud"},
		},
		config.Order: {
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
		},
		config.Payment: {
			"KITSHOP_PROCESSOR_TIMEOUT":   {"-processor-timeout=0"},
			"KITSHOP_JWKS_URL":            {"-jwks-url="},
			"KITSHOP_JWT_PUBLIC_KEY_FILE": {"-jwt-public-key-file=/nonexistent/key.pem", "-data-dir=" + t.TempDir()},
		},
		config.Notification: {
			"KITSHOP_SEND_TIMEOUT": {"-send-timeout=0"},
			"KITSHOP_SEND_LATENCY": {"-send-latency=20s"},
			"KITSHOP_SMTP_FROM":    {"-smtp-from=nobody"},
			"KITSHOP_JWKS_URL":     {"-jwks-url="},
		},
	} {
		t.Run(name, func(t *testing.T) { servetest.CheckRejected(t, runOf(name), cases) })
	}
}

// TestRunHelp: -h lists a service's flags, its own and those of a service
// alone, with their environment variables and defaults, and returns nil.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	for name, want := range map[string][]string{
		config.Order: {"-user-addr", "-product-addr", "-payment-addr", "-notification-addr", "-jwks-url",
			"-jwt-public-key-file", "-breaker-failures", "-breaker-open-timeout", "-breaker-half-open-requests",
			"-client-attempt-timeout", "-client-retry-budget", "-sweep-interval", "KITSHOP_ORDER_TIMEOUT", `default "127.0.0.1:50053"`, `default "127.0.0.1:8083"`,
			"-breaker-failures number", "KITSHOP_BREAKER_FAILURES, default 5)"},
		config.Notification: {"-smtp-addr", "-smtp-from", "-send-latency", "-jwks-url", "KITSHOP_SMTP_PASSWORD"},
		config.User:         {"-jwt-key-file", "-admin-emails", "-jwt-issuer", `default "127.0.0.1:8081"`},
	} {
		var out servetest.SyncBuffer
		if err := Run(context.Background(), name, []string{"-h"}, &out); err != nil {
			t.Fatalf("%s -h: %v", name, err)
		}
		for _, flag := range want {
			if !strings.Contains(out.String(), flag) {
				t.Errorf("%s: usage lacks %s", name, flag)
			}
		}
	}
}

// TestRunServesAndStops starts each service alone on loopback, with its
// dependencies down (the user service's JWK Set or the order service's
// peers: the connections are lazy, the keys are fetched in the
// background): it serves health and its routes, then stops cleanly when its
// context ends.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		args  []string
		paths map[string]int
	}{
		{config.User, nil, map[string]int{"/.well-known/jwks.json": http.StatusOK}},
		{config.Product, []string{servetest.DownJWKS}, map[string]int{"/product?pageSize=1": http.StatusOK}},
		{config.Order, []string{"-jwt-public-key-file=" + servetest.PublicKeyFile(t), "-user-addr=127.0.0.1:1",
			"-product-addr=127.0.0.1:1", "-payment-addr=127.0.0.1:1", "-notification-addr=127.0.0.1:1"},
			map[string]int{"/order": http.StatusUnauthorized, "/metrics": http.StatusOK}},
		{config.Payment, []string{"-jwt-public-key-file=" + servetest.PublicKeyFile(t)}, map[string]int{"/payment/o": http.StatusUnauthorized}},
		{config.Notification, []string{"-jwt-public-key-file=" + servetest.PublicKeyFile(t)}, map[string]int{"/notification?orderId=o": http.StatusUnauthorized}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			grpcAddr, httpAddr, stop := servetest.Start(t, runOf(tc.name), tc.args...)
			servetest.CheckServing(t, grpcAddr, httpAddr)
			for path, want := range tc.paths {
				if code := servetest.Get(t, httpAddr, path); code != want {
					t.Errorf("GET %s: %d, want %d", path, code, want)
				}
			}
			if err := stop(); err != nil {
				t.Errorf("run = %v after cancellation, want nil", err)
			}
		})
	}
}

// TestRunFailsBeforeOpening: a key file or public key that cannot be read
// fails the start before the store or the service key is made.
func TestRunFailsBeforeOpening(t *testing.T) {
	t.Parallel()
	for name, arg := range map[string]string{
		config.User:  "-jwt-key-file=/nonexistent/key.pem",
		config.Order: "-jwt-public-key-file=/nonexistent/key.pem",
	} {
		parent := t.TempDir()
		err := Run(context.Background(), name, []string{"-data-dir=" + filepath.Join(parent, "data"), arg}, io.Discard)
		if err == nil {
			t.Fatalf("%s %s: run = nil", name, arg)
		}
		if left, _ := os.ReadDir(parent); len(left) > 0 {
			t.Errorf("%s %s: the failed start left %v", name, arg, left)
		}
	}
}
