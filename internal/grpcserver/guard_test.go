package grpcserver

import (
	"context"
	"crypto/ed25519"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/svcauth"
)

// callerService answers EmptyCall, and the first message of FullDuplexCall,
// only when the guard put the caller "order" in the context.
type callerService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (callerService) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	if c, _ := svcauth.Caller(ctx); c != "order" {
		return nil, status.Errorf(codes.Internal, "caller %q in the context", c)
	}
	return &testgrpc.Empty{}, nil
}

func (callerService) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	if c, _ := svcauth.Caller(stream.Context()); c != "order" {
		return status.Errorf(codes.Internal, "caller %q in the context", c)
	}
	return nil
}

// guarded serves callerService behind a guard (audience "product") that
// lets "order" call EmptyCall and FullDuplexCall, and nothing else.
func guarded(t *testing.T, reflection bool) (*grpc.ClientConn, ed25519.PrivateKey) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	g, err := svcauth.NewGuard("product", pub, svcauth.Policy{
		testgrpc.TestService_EmptyCall_FullMethodName:      svcauth.Callers("order"),
		testgrpc.TestService_FullDuplexCall_FullMethodName: svcauth.Callers("order"),
	}, svcauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Guard: g, Reflection: reflection})
	testgrpc.RegisterTestServiceServer(srv, callerService{})
	return serveOnLoopback(t, srv), key
}

func TestGuardUnaryAndStream(t *testing.T) {
	t.Parallel()
	conn, key := guarded(t, false)
	client := testgrpc.NewTestServiceClient(conn)
	withToken := func(caller string) context.Context {
		tok, err := svcauth.Sign(key, caller, "product", time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return metadata.AppendToOutgoingContext(t.Context(), svcauth.MetadataKey, tok)
	}
	stream := func(ctx context.Context) codes.Code {
		s, err := client.FullDuplexCall(ctx)
		if err != nil {
			return status.Code(err)
		}
		if _, err = s.Recv(); err == io.EOF { // the handler returned nil
			return codes.OK
		}
		return status.Code(err)
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no credential", t.Context(), codes.Unauthenticated},
		{"not allowed", withToken("payment"), codes.PermissionDenied},
		{"allowed", withToken("order"), codes.OK},
	} {
		if _, err := client.EmptyCall(c.ctx, &testgrpc.Empty{}); status.Code(err) != c.want {
			t.Errorf("unary %s: %v, want %v", c.name, err, c.want)
		}
		if got := stream(c.ctx); got != c.want {
			t.Errorf("stream %s: %v, want %v", c.name, got, c.want)
		}
	}
	// A method the table does not name is refused, even to an allowed caller.
	if _, err := client.UnaryCall(withToken("order"), &testgrpc.SimpleRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("method missing from the table: %v, want PermissionDenied", err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health behind the guard: %v", err)
	}
}

func TestReflectionFlag(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		conn, _ := guarded(t, on)
		s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err == nil {
			err = s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		}
		if err == nil {
			_, err = s.Recv()
		}
		want := codes.OK
		if !on {
			want = codes.Unimplemented
		}
		if status.Code(err) != want {
			t.Errorf("reflection %v, with no credential: %v, want %v", on, err, want)
		}
	}
}
