package rungroup

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/internal/grpcserver"
)

// events is an ordered, concurrency-safe log of what happened.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// runAsync starts g.Run and returns its result channel.
func runAsync(ctx context.Context, g *Group) <-chan error {
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("Run did not return")
		return nil
	}
}

// waitClosed waits until addr refuses connections, i.e. its listener is closed.
func waitClosed(t *testing.T, addr string) {
	t.Helper()
	for range 2000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections", addr)
}

func refuses(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return true
	}
	_ = c.Close()
	return false
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestRunStopsOnContextCancel(t *testing.T) {
	t.Parallel()
	g := New(nil, 5*time.Second)
	srv := grpcserver.New(grpcserver.Options{})
	srv.Ready()
	grpcAddr, err := g.GRPC("test", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, err := g.HTTP("test", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(grpcAddr, ":0") || strings.HasSuffix(httpAddr, ":0") {
		t.Fatalf("addresses not bound: %s %s", grpcAddr, httpAddr)
	}
	var ev events
	g.Background("ticker", func(ctx context.Context) error {
		<-ctx.Done()
		ev.add("background cancelled")
		return ctx.Err()
	})
	g.Cleanup("store", func(context.Context) error { ev.add("cleanup"); return nil })

	ctx, cancel := context.WithCancel(t.Context())
	done := runAsync(ctx, g)

	// Both servers serve.
	if code, body, err := get("http://" + httpAddr + "/"); err != nil || code != 200 || body != "hello" {
		t.Fatalf("http: %d %q %v", code, body, err)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthgrpc.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health: %v %v", resp.GetStatus(), err)
	}

	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if got := ev.get(); !slices.Equal(got, []string{"background cancelled", "cleanup"}) {
		t.Fatalf("events %v", got)
	}
	if !refuses(httpAddr) || !refuses(grpcAddr) {
		t.Fatal("a listener is still open after Run")
	}
}

func TestInFlightRequestCompletesDuringShutdown(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var ev events
	g := New(nil, 10*time.Second)
	addr, err := g.HTTP("slow", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
		ev.add("request finished")
	}))
	if err != nil {
		t.Fatal(err)
	}
	g.Background("worker", func(ctx context.Context) error {
		<-ctx.Done()
		ev.add("background cancelled")
		return nil
	})
	g.Cleanup("first", func(context.Context) error { ev.add("cleanup first"); return nil })
	g.Cleanup("second", func(context.Context) error {
		if !refuses(addr) {
			ev.add("cleanup ran while the listener was open")
		}
		ev.add("cleanup second")
		return nil
	})

	ctx, cancel := context.WithCancel(t.Context())
	done := runAsync(ctx, g)

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, body, err := get("http://" + addr + "/")
		res <- result{code, body, err}
	}()
	<-entered
	cancel()
	waitClosed(t, addr) // the shutdown has begun: no new connections
	select {
	case err := <-done:
		t.Fatalf("Run returned with a request in flight: %v", err)
	default:
	}
	close(release)

	r := <-res
	if r.err != nil || r.code != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"request finished", "background cancelled", "cleanup second", "cleanup first"}
	if got := ev.get(); !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// fakeGRPC records the calls rungroup makes; GracefulStop hangs until Stop
// when hang is set, like a server with a call that never ends.
type fakeGRPC struct {
	ev      *events
	hang    bool
	stopped chan struct{}
	once    sync.Once
}

func newFakeGRPC(ev *events, hang bool) *fakeGRPC {
	return &fakeGRPC{ev: ev, hang: hang, stopped: make(chan struct{})}
}

func (f *fakeGRPC) Serve(lis net.Listener) error {
	<-f.stopped
	return lis.Close()
}

func (f *fakeGRPC) MarkNotServing() { f.ev.add("mark not serving") }

func (f *fakeGRPC) GracefulStop() {
	f.ev.add("graceful stop")
	if !f.hang {
		f.once.Do(func() { close(f.stopped) })
	}
	<-f.stopped
}

func (f *fakeGRPC) Stop() {
	f.ev.add("stop")
	f.once.Do(func() { close(f.stopped) })
}

func TestGRPCMarkedNotServingThenStopped(t *testing.T) {
	t.Parallel()
	var ev events
	g := New(nil, 5*time.Second)
	if _, err := g.GRPC("fake", "127.0.0.1:0", newFakeGRPC(&ev, false)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := runAsync(ctx, g)
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if got := ev.get(); !slices.Equal(got, []string{"mark not serving", "graceful stop"}) {
		t.Fatalf("calls %v", got)
	}
}

// TestStoppingRunsBeforeServersStop: the Stopping functions run once, after
// MarkNotServing and before any server stops or background unit ends.
func TestStoppingRunsBeforeServersStop(t *testing.T) {
	t.Parallel()
	var ev events
	g := New(nil, 5*time.Second)
	if _, err := g.GRPC("fake", "127.0.0.1:0", newFakeGRPC(&ev, false)); err != nil {
		t.Fatal(err)
	}
	g.Stopping(func() { ev.add("stopping") })
	g.Background("worker", func(ctx context.Context) error {
		<-ctx.Done()
		ev.add("background cancelled")
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := runAsync(ctx, g)
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	want := []string{"mark not serving", "stopping", "graceful stop", "background cancelled"}
	if got := ev.get(); !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestShutdownTimeoutForcesStop(t *testing.T) {
	t.Parallel()
	var ev events
	g := New(nil, 100*time.Millisecond)
	if _, err := g.GRPC("stuck", "127.0.0.1:0", newFakeGRPC(&ev, true)); err != nil {
		t.Fatal(err)
	}
	testDone := make(chan struct{})
	t.Cleanup(func() { close(testDone) })
	g.Background("deaf", func(context.Context) error {
		<-testDone // ignores cancellation
		return nil
	})
	var cleanupCtxDone bool
	g.Cleanup("store", func(ctx context.Context) error {
		cleanupCtxDone = ctx.Err() != nil
		return errors.New("disconnect failed")
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := runAsync(ctx, g)
	cancel()
	err := wait(t, done)
	if err == nil {
		t.Fatal("Run hid a forced shutdown")
	}
	for _, want := range []string{"grpc stuck: graceful stop timed out", "background deaf: did not stop", "cleanup store: disconnect failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got := ev.get(); !slices.Equal(got, []string{"mark not serving", "graceful stop", "stop"}) {
		t.Fatalf("calls %v", got)
	}
	if !cleanupCtxDone {
		t.Error("cleanup context should carry the (expired) shutdown deadline")
	}
}

func TestFailingUnitStopsTheOthers(t *testing.T) {
	t.Parallel()
	boom := errors.New("queue connection lost")
	var ev events
	g := New(nil, 5*time.Second)
	addr, err := g.HTTP("api", "127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	failNow := make(chan struct{})
	g.Background("consumer", func(ctx context.Context) error {
		select {
		case <-failNow:
			return boom
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	g.Background("sweeper", func(ctx context.Context) error {
		<-ctx.Done()
		ev.add("sweeper cancelled")
		return ctx.Err()
	})
	g.Cleanup("store", func(context.Context) error { ev.add("cleanup"); return nil })

	done := runAsync(t.Context(), g) // never cancelled: only the failure stops it
	if code, _, err := get("http://" + addr + "/"); err != nil || code != 404 {
		t.Fatalf("http: %d %v", code, err)
	}
	close(failNow)
	err = wait(t, done)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "background consumer") {
		t.Fatalf("Run: %v, want the consumer's error", err)
	}
	if !refuses(addr) {
		t.Fatal("HTTP server still serving")
	}
	if got := ev.get(); !slices.Equal(got, []string{"sweeper cancelled", "cleanup"}) {
		t.Fatalf("events %v", got)
	}
}

func TestBackgroundReturningNilDoesNotStopTheGroup(t *testing.T) {
	t.Parallel()
	g := New(nil, 5*time.Second)
	addr, err := g.HTTP("api", "127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	finished := make(chan struct{})
	g.Background("seed", func(context.Context) error { close(finished); return nil })
	ctx, cancel := context.WithCancel(t.Context())
	done := runAsync(ctx, g)
	<-finished
	if code, _, err := get("http://" + addr + "/"); err != nil || code != 404 {
		t.Fatalf("http after the one-shot unit ended: %d %v", code, err)
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestListenErrorsSurfaceBeforeRun(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	g := New(nil, time.Second)
	if _, err := g.HTTP("api", taken.Addr().String(), http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "http api") {
		t.Fatalf("HTTP on a taken port: %v", err)
	}
	if _, err := g.GRPC("api", taken.Addr().String(), grpc.NewServer()); err == nil || !strings.Contains(err.Error(), "grpc api") {
		t.Fatalf("GRPC on a taken port: %v", err)
	}
}

// TestAbortClosesListenersAndRunsCleanups: a group whose start failed frees
// its addresses and runs its cleanups, last first, and no background unit.
func TestAbortClosesListenersAndRunsCleanups(t *testing.T) {
	g := New(nil, time.Second)
	addr, err := g.HTTP("web", "127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	g.Background("worker", func(context.Context) error { ev.add("worker"); return nil })
	g.Cleanup("first", func(context.Context) error { ev.add("first"); return nil })
	g.Cleanup("second", func(context.Context) error { ev.add("second"); return errors.New("boom") })
	err = g.Abort(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cleanup second: boom") {
		t.Errorf("Abort = %v, want the second cleanup's error", err)
	}
	if got := ev.get(); !slices.Equal(got, []string{"second", "first"}) {
		t.Errorf("ran %v, want [second first]", got)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s still bound after Abort: %v", addr, err)
	}
	_ = lis.Close()
}
