package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for want, args := range map[string][]string{
		"KITSHOP_ORDER_TIMEOUT":        {"-order-timeout=0"},
		"KITSHOP_SWEEP_INTERVAL":       {"-sweep-interval=-1s"},
		"KITSHOP_DISPATCH_CONCURRENCY": {"-dispatch-concurrency=0"},
		"KITSHOP_PAYMENT_ADDR":         {"-payment-addr="},
		"KITSHOP_JWKS_URL":             {"-jwks-url="},
		"client-retry-budget":          {"-client-retry-budget=1ms"},
		"breaker-failures":             {"-breaker-failures=0"},
		"KITSHOP_JWT_PUBLIC_KEY_FILE":  {"-jwt-public-key-file=/nonexistent/key.pem"},
	} {
		var out syncBuffer
		err := run(context.Background(), args, &out)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run(%v) = %v, want an error naming %s", args, err, want)
		}
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	if err := run(context.Background(), []string{"-h"}, &out); err != nil {
		t.Fatalf("run(-h) = %v", err)
	}
	for _, flag := range []string{"-user-addr", "-product-addr", "-payment-addr", "-notification-addr", "-jwks-url",
		"-jwt-public-key-file", "-breaker-failures", "-breaker-open-timeout", "-breaker-half-open-requests",
		"-client-attempt-timeout", "-client-retry-budget", "-sweep-interval", "KITSHOP_ORDER_TIMEOUT", `default ":50053"`, `default ":8083"`} {
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
	dir := t.TempDir()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "public.pem")
	if err = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + filepath.Join(dir, "data"),
			"-jwt-public-key-file=" + keyFile, "-user-addr=127.0.0.1:1", "-product-addr=127.0.0.1:1",
			"-payment-addr=127.0.0.1:1", "-notification-addr=127.0.0.1:1",
		}, &logs)
	}()

	httpAddr := regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)
	var addr string
	deadline := time.Now().Add(time.Minute)
	for addr == "" {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not start:\n%s", logs.String())
		}
		if m := httpAddr.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	for path, want := range map[string]int{"/readyz": http.StatusOK, "/order": http.StatusUnauthorized, "/metrics": http.StatusOK} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run = %v after cancellation, want nil\n%s", err, logs.String())
	}
}
