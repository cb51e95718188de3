package grpcserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// testService panics in UnaryCall and fails CacheableUnaryCall with NotFound.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (testService) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

func (testService) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return nil, nil
}

func (testService) CacheableUnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return nil, status.Error(codes.NotFound, "no such user")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, rec)
	}
	return out
}

type fixture struct {
	srv  *Server
	conn *grpc.ClientConn
	logs *syncBuffer
	reg  *prometheus.Registry
}

func start(t *testing.T) fixture {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	srv := New(Options{
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
		Reflection: true,
	})
	testgrpc.RegisterTestServiceServer(srv, testService{})
	return fixture{srv: srv, conn: serveOnLoopback(t, srv), logs: logs, reg: reg}
}

// serveOnLoopback marks srv ready, serves it on a loopback port until the
// test ends, and returns a plaintext client connection to it.
func serveOnLoopback(t *testing.T, srv *Server) *grpc.ClientConn {
	t.Helper()
	srv.Ready()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func (f fixture) metrics(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func TestHealth(t *testing.T) {
	t.Parallel()
	f := start(t)
	client := healthgrpc.NewHealthClient(f.conn)
	for _, svc := range []string{"", "grpc.testing.TestService"} {
		resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("check %q: %v", svc, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("check %q: %v", svc, resp.GetStatus())
		}
	}

	f.srv.MarkNotServing()
	resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after MarkNotServing: %v %v", resp.GetStatus(), err)
	}
}

func TestNotServingBeforeReady(t *testing.T) {
	t.Parallel()
	srv := New(Options{})
	resp, err := srv.Health.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("got %v %v", resp.GetStatus(), err)
	}
}

func TestReflection(t *testing.T) {
	t.Parallel()
	f := start(t)
	stream, err := reflectionpb.NewServerReflectionClient(f.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"grpc.testing.TestService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Fatalf("reflection lists %v, missing %s", names, want)
		}
	}

	// grpcurl also needs the descriptors to call a method.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "grpc.testing.TestService"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("no descriptor for grpc.testing.TestService: %v", resp)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	t.Parallel()
	f := start(t)
	client := testgrpc.NewTestServiceClient(f.conn)

	_, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("got %v, want Internal with a generic message", err)
	}
	// The server survived and keeps serving.
	if _, err := client.EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatalf("after panic: %v", err)
	}

	recs := f.logs.records(t)
	if len(recs) != 1 {
		t.Fatalf("want one log line for the panic, got %v", recs)
	}
	r := recs[0]
	if r["level"] != "ERROR" || r["method"] != "/grpc.testing.TestService/UnaryCall" || r["code"] != "Internal" ||
		!strings.Contains(r["error"].(string), "nil map") || !strings.Contains(r["stack"].(string), "server_test.go") {
		t.Fatalf("log line %v", r)
	}
}

func TestFailedCallLoggedOnce(t *testing.T) {
	t.Parallel()
	f := start(t)
	client := testgrpc.NewTestServiceClient(f.conn)
	_, err := client.CacheableUnaryCall(t.Context(), &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("got %v", err)
	}
	if _, err := client.EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	recs := f.logs.records(t)
	if len(recs) != 1 {
		t.Fatalf("want one line (failed call only), got %v", recs)
	}
	if r := recs[0]; r["level"] != "DEBUG" || r["code"] != "NotFound" || r["method"] != "/grpc.testing.TestService/CacheableUnaryCall" || r["duration"] == nil {
		t.Fatalf("log line %v", r)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := start(t)
	// Ready created the series of every method before any traffic.
	before := f.metrics(t)
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="EmptyCall",grpc_service="grpc.testing.TestService",grpc_type="unary"} 0`,
		`grpc_server_started_total{grpc_method="UnaryCall",grpc_service="grpc.testing.TestService",grpc_type="unary"} 0`,
		`grpc_server_handling_seconds_count{grpc_method="EmptyCall",grpc_service="grpc.testing.TestService",grpc_type="unary"} 0`,
	} {
		if !strings.Contains(before, want) {
			t.Errorf("before traffic, /metrics lacks %s", want)
		}
	}
	client := testgrpc.NewTestServiceClient(f.conn)
	_, _ = client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{})
	_, _ = client.EmptyCall(t.Context(), &testgrpc.Empty{})
	after := f.metrics(t)
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="Internal",grpc_method="UnaryCall",grpc_service="grpc.testing.TestService",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="EmptyCall",grpc_service="grpc.testing.TestService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_count{grpc_method="UnaryCall",grpc_service="grpc.testing.TestService",grpc_type="unary"} 1`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("after traffic, /metrics lacks %s", want)
		}
	}
}

func TestSharedRegistererDoesNotPanic(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := New(Options{Registerer: reg})
	b := New(Options{Registerer: reg})
	if a.metrics != b.metrics {
		t.Fatal("second server did not reuse the registered metrics")
	}
}

func TestWrappedRegisterersKeepServersApart(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	for _, name := range []string{"user", "order"} {
		New(Options{Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, reg)}).Ready()
	}
	f := fixture{reg: reg}
	body := f.metrics(t)
	for _, name := range []string{"user", "order"} {
		want := `grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary",service="` + name + `"} 0`
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
