// Package grpcserver builds the *grpc.Server every kitshop service uses: panic
// recovery, Prometheus server metrics per method, a log line per failed call,
// the caller check of internal/svcauth (Options.Guard), the standard
// grpc.health.v1 health service and, when asked, server reflection (so
// grpcurl can list and call every service).
//
// Typical use:
//
//	srv := grpcserver.New(grpcserver.Options{Logger: logger, Registerer: reg})
//	pb.RegisterUserServiceServer(srv, user.NewGRPCServer(endpoints))
//	srv.Ready() // metrics series and SERVING status for every registered service
//	// serve it with rungroup, which calls MarkNotServing before stopping it.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/callmetrics"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/telemetry"
)

// Options configures New.
type Options struct {
	// Logger receives one line per failed call. Nil discards.
	Logger *slog.Logger
	// Registerer receives the grpc_server_* metrics. Nil leaves them
	// unregistered. Servers sharing a registry (cmd/shop) should each get
	// prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, reg);
	// on the very same Registerer they share one set of series.
	Registerer prometheus.Registerer
	// ServerOptions are appended to the server's own options, e.g.
	// grpc.Creds for TLS or grpc.MaxRecvMsgSize.
	ServerOptions []grpc.ServerOption
	// Guard authorizes every call but those of the health and reflection
	// services against the service's table (svcauth.Guard.Authorize). Nil
	// checks no caller: only for tests of a transport; internal/serve
	// requires one.
	Guard *svcauth.Guard
	// Reflection registers the server reflection service.
	Reflection bool
	// TracerProvider traces every call but the health checks (a server span
	// continuing the caller's trace); nil: telemetry.Disabled.
	TracerProvider trace.TracerProvider
}

// Server is a *grpc.Server with its health service. Register services on it
// as on a *grpc.Server, then call Ready.
type Server struct {
	*grpc.Server
	// Health is the grpc.health.v1 service registered on Server. The overall
	// status ("") is NOT_SERVING until Ready.
	Health  *health.Server
	metrics *grpcprom.ServerMetrics
}

// New returns a server that traces every call (Options.TracerProvider) and
// whose interceptors are, outermost first: Prometheus metrics
// (grpc_server_handled_total by code, grpc_server_handling_seconds
// histogram, with the trace id as exemplar), failed-call logging, the caller check (Options.Guard:
// Unauthenticated, PermissionDenied), and panic recovery (a panic becomes
// codes.Internal and is logged with its stack; the process keeps serving).
// The health service, and reflection with Options.Reflection, are registered.
//
// New panics if the metrics cannot be registered for a reason other than
// being registered already (then the existing collector is reused), as
// prometheus.MustRegister does.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	if opts.Registerer != nil {
		metrics = register(opts.Registerer, metrics)
	}
	recoverOpt := recovery.WithRecoveryHandlerContext(recoverPanic)
	exemplar := grpcprom.WithExemplarFromContext(callmetrics.Exemplar)
	serverOpts := append([]grpc.ServerOption{
		telemetry.GRPCServerOption(opts.TracerProvider),
		grpc.ChainUnaryInterceptor(
			metrics.UnaryServerInterceptor(exemplar),
			UnaryLoggingInterceptor(logger),
			UnaryGuardInterceptor(opts.Guard),
			recovery.UnaryServerInterceptor(recoverOpt),
		),
		grpc.ChainStreamInterceptor(
			metrics.StreamServerInterceptor(exemplar),
			StreamLoggingInterceptor(logger),
			StreamGuardInterceptor(opts.Guard),
			recovery.StreamServerInterceptor(recoverOpt),
		),
	}, opts.ServerOptions...)

	s := &Server{
		Server:  grpc.NewServer(serverOpts...),
		Health:  health.NewServer(),
		metrics: metrics,
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthgrpc.RegisterHealthServer(s.Server, s.Health)
	if opts.Reflection {
		reflection.Register(s.Server)
	}
	return s
}

// unguarded reports whether fullMethod belongs to a service every caller
// may use: health (probes, load balancers) and reflection (registered only
// with Options.Reflection).
func unguarded(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+healthgrpc.Health_ServiceDesc.ServiceName+"/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// UnaryGuardInterceptor authorizes each unary call with g (nil: every call
// passes), the calls of the health and reflection services excepted; the
// handler sees the caller (svcauth.Caller).
func UnaryGuardInterceptor(g *svcauth.Guard) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if g == nil || unguarded(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := g.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamGuardInterceptor is UnaryGuardInterceptor for streaming calls.
func StreamGuardInterceptor(g *svcauth.Guard) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if g == nil || unguarded(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := g.Authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &guardedStream{ServerStream: ss, ctx: ctx})
	}
}

// guardedStream is a stream whose context carries the caller.
type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *guardedStream) Context() context.Context { return s.ctx }

// register registers c, or returns the identical collector registered before.
func register(reg prometheus.Registerer, c *grpcprom.ServerMetrics) *grpcprom.ServerMetrics {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(*grpcprom.ServerMetrics); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("grpcserver: registering metrics: %v", err))
}

// Ready must be called once every service is registered: it creates the
// metric series of every registered method (so /metrics shows them before
// any traffic) and marks the server ("") and every registered service
// SERVING.
func (s *Server) Ready() {
	s.metrics.InitializeMetrics(s.Server)
	for name := range s.GetServiceInfo() {
		s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
}

// MarkNotServing sets the server and every service NOT_SERVING for good, so
// health-checking clients move away before the server stops. rungroup calls
// it first thing at shutdown.
func (s *Server) MarkNotServing() {
	s.Health.Shutdown()
}

// panicError is what a recovered panic turns into: codes.Internal for the
// client, the panic value and stack for the logging interceptor.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// GRPCStatus makes the client see codes.Internal with a generic message.
func (e *panicError) GRPCStatus() *status.Status {
	return status.New(codes.Internal, "internal error")
}

func recoverPanic(_ context.Context, p any) error {
	return &panicError{value: p, stack: debug.Stack()}
}

// UnaryLoggingInterceptor logs each failed unary call in one line: method,
// code, duration and error. Client mistakes (InvalidArgument, NotFound, ...)
// are logged at debug level, unavailability and timeouts at warn, server
// faults (Internal, Unknown, ...) and panics at error level.
func UnaryLoggingInterceptor(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if err != nil {
			logFailure(ctx, logger, info.FullMethod, time.Since(start), err)
		}
		return resp, err
	}
}

// StreamLoggingInterceptor is UnaryLoggingInterceptor for streaming calls.
func StreamLoggingInterceptor(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		if err != nil {
			logFailure(ss.Context(), logger, info.FullMethod, time.Since(start), err)
		}
		return err
	}
}

func logFailure(ctx context.Context, logger *slog.Logger, method string, elapsed time.Duration, err error) {
	code := grpcprom.FromError(err).Code()
	attrs := []any{"method", method, "code", code.String(), "duration", elapsed, "error", err.Error()}
	var p *panicError
	if errors.As(err, &p) {
		attrs = append(attrs, "stack", string(p.stack))
	}
	logger.Log(ctx, levelFor(code, p != nil), "grpc call failed", attrs...)
}

func levelFor(code codes.Code, panicked bool) slog.Level {
	if panicked {
		return slog.LevelError
	}
	switch code {
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.FailedPrecondition, codes.OutOfRange, codes.Unauthenticated:
		return slog.LevelDebug
	case codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Unavailable:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
