package serve

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/svcauth"
)

func TestListenServe(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := NewRegistry()
	g := rungroup.New(logger, 5*time.Second)
	var failing atomic.Bool
	if _, err := Listen(g, "demo", "127.0.0.1:0", Options{Logger: logger}); err == nil {
		t.Fatal("Listen without a Guard succeeded")
	}
	srv, err := Listen(g, "demo", "127.0.0.1:0", Options{
		Guard:  testGuard(t),
		Logger: logger, Registerer: Registerer(reg, "demo"), Gatherer: reg, MaxBodyBytes: 1 << 10,
		Ready: func(context.Context) error {
			if failing.Load() {
				return errors.New("store down")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	registered := false
	workerRan := make(chan struct{})
	routes := http.NewServeMux()
	routes.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") })
	httpAddr, err := srv.Serve(func(grpc.ServiceRegistrar) { registered = true }, routes,
		[]func(context.Context) error{func(ctx context.Context) error { close(workerRan); <-ctx.Done(); return nil }},
		"127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !registered {
		t.Fatal("Serve did not call register")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/hello"); code != 200 || body != "hi" {
		t.Errorf("/hello: %d %q", code, body)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz while ready: %d", code)
	}
	failing.Store(true)
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the check fails: %d, want 503", code)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `service="demo"`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics lacks the service label or the Go collector")
	}

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health: %v %v", hc, err)
	}
	select {
	case <-workerRan:
	case <-time.After(10 * time.Second):
		t.Fatal("the background worker never ran")
	}
}

// TestNotReadyOnceStopping: from the start of the group's shutdown the
// readiness check fails, while a request in flight is still served.
func TestNotReadyOnceStopping(t *testing.T) {
	g := rungroup.New(nil, 5*time.Second)
	srv, err := Listen(g, "demo", "127.0.0.1:0", Options{Registerer: Registerer(NewRegistry(), "demo"), MaxBodyBytes: 1 << 10, Guard: testGuard(t)})
	if err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{})
	g.Stopping(func() { close(stopping) }) // after Listen's own
	entered, release := make(chan struct{}), make(chan struct{})
	var readyInFlight error
	routes := http.NewServeMux()
	routes.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		readyInFlight = srv.ready(r.Context())
		io.WriteString(w, "done")
	})
	httpAddr, err := srv.Serve(func(grpc.ServiceRegistrar) {}, routes, nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ready(t.Context()); err != nil {
		t.Fatalf("ready before the stop: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + httpAddr + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	<-entered
	cancel()
	<-stopping
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	if !errors.Is(readyInFlight, ErrStopping) {
		t.Errorf("ready during the stop: %v, want ErrStopping", readyInFlight)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestInProcessDialer checks that InProcessDialer reaches a server that
// listens in memory there, and any other over TCP, and that the in-memory
// listener stops with the group.
func TestInProcessDialer(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	g := rungroup.New(logger, 5*time.Second)
	networks := make(chan string, 4)
	recordPeer := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if p, ok := peer.FromContext(ctx); ok {
			networks <- p.Addr.Network()
		}
		return h(ctx, req)
	})
	guard := testGuard(t)
	listen := func(name string, inProcess bool) *Server {
		srv, err := Listen(g, name, "127.0.0.1:0", Options{Logger: logger, Guard: guard, GRPCOptions: []grpc.ServerOption{recordPeer}, InProcess: inProcess})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Serve(func(grpc.ServiceRegistrar) {}, http.NewServeMux(), nil, "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	mem, tcp := listen("mem", true), listen("tcp", false)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	dialer := InProcessDialer(mem, tcp)
	for _, c := range []struct {
		srv  *Server
		want string
	}{{mem, "bufconn"}, {tcp, "tcp"}} {
		conn, err := grpc.NewClient(c.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), dialer)
		if err != nil {
			t.Fatal(err)
		}
		hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%s: gRPC health: %v %v", c.srv.name, hc, err)
		}
		if got := <-networks; got != c.want {
			t.Errorf("%s: the call came over %q, want %q", c.srv.name, got, c.want)
		}
		conn.Close()
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := mem.mem.DialContext(t.Context()); err == nil {
		t.Error("the in-memory listener still accepts after the group stopped")
	}
}

// testGuard is a guard that lets no service call anything (health stays
// open).
func testGuard(t *testing.T) *svcauth.Guard {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := svcauth.NewGuard("product", pub, nil, svcauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
