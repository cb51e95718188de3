// Package servetest runs a kitshop command's run function in a test: on
// loopback ":0" addresses with a temporary data directory, until the test
// ends, with checks of its health endpoints.
package servetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// RunFunc is a command's run function: it serves until ctx ends, logging to
// stderr.
type RunFunc func(ctx context.Context, args []string, stderr io.Writer) error

// SyncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// started matches the start-up line every cmd/<service> logs.
var started = regexp.MustCompile(`grpc=(127\.0\.0\.1:\d+) http=(127\.0\.0\.1:\d+)`)

// Start runs run with args after loopback ":0" addresses and a temporary
// data directory, and waits until it logs its bound addresses. stop cancels
// run and returns its error; it also runs when the test ends.
func Start(t *testing.T, run RunFunc, args ...string) (grpcAddr, httpAddr string, stop func() error) {
	t.Helper()
	args = append([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + t.TempDir()}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	var logs SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &logs) }()
	stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() })

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Minute)
	for {
		if m := started.FindStringSubmatch(logs.String()); m != nil {
			return m[1], m[2], stop
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, logs.String())
		case <-timeout:
			t.Fatalf("not serving after a minute:\n%s", logs.String())
		case <-tick.C:
		}
	}
}

// CheckRejected runs run with each set of arguments of cases and fails the test unless it returns an error
// naming the key (typically the flag's KITSHOP_* environment variable): how every command reports a bad setting.
func CheckRejected(t *testing.T, run RunFunc, cases map[string][]string) {
	t.Helper()
	for want, args := range cases {
		var out SyncBuffer
		if err := run(t.Context(), args, &out); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run(%v) = %v, want an error naming %s", args, err, want)
		}
	}
}

// CheckServing checks that GET /readyz answers 200 and the gRPC health check
// SERVING. The gRPC connection is plaintext unless opts say otherwise (e.g.
// tlsconfig.Credentials.DialOptions for mutual TLS).
func CheckServing(t *testing.T, grpcAddr, httpAddr string, opts ...grpc.DialOption) {
	t.Helper()
	if code := Get(t, httpAddr, "/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz: %d, want 200", code)
	}
	conn, err := grpc.NewClient(grpcAddr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health: %v, %v; want SERVING", hc.GetStatus(), err)
	}
}

// Get returns the status code of GET path.
func Get(t *testing.T, httpAddr, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// PublicKeyFile writes the PEM public key of a new Ed25519 key pair and
// returns its path, for -jwt-public-key-file.
func PublicKeyFile(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "public.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
