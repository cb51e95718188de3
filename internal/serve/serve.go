// Package serve puts one kitshop service on the network inside a run group:
// its gRPC server (internal/grpcserver: the callers' check, health,
// reflection, recovery, metrics), its HTTP routes behind internal/httpserver (/healthz, /readyz,
// /metrics, error envelope, body limit) and its background workers.
// internal/assembly puts every service on the network through it, in two
// steps: Listen binds the gRPC address first (so a process running several
// services knows where each one listens before it builds their clients),
// Serve then registers the service and binds its HTTP address.
//
// A process running several services can also serve each one's gRPC in
// memory (Options.InProcess) and have its clients dial it there
// (InProcessDialer): the calls between services keep gRPC, its interceptors
// (the callers' check too), breakers, TLS and per-call credentials (service
// tokens), but skip the kernel. cmd/shop does (its measured gain is in
// docs/benchmarks-history.md).
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/grpcserver"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/svcauth"
)

// NewRegistry returns a registry with the Go runtime and process collectors,
// for one process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Registerer returns reg wrapped with the service label, which keeps the
// series of services sharing a registry (cmd/shop) apart.
func Registerer(reg prometheus.Registerer, service string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg)
}

// Options are what a service's servers need besides its own routes.
type Options struct {
	// Logger receives the servers' logs.
	Logger *slog.Logger
	// Registerer receives the server metrics, wrapped with the service
	// label (Registerer).
	Registerer prometheus.Registerer
	// Gatherer is served on GET /metrics.
	Gatherer prometheus.Gatherer
	// Ready is the readiness check of GET /readyz (e.g. the store's Ping).
	Ready func(context.Context) error
	// MaxBodyBytes is the largest HTTP request body.
	MaxBodyBytes int64
	// GRPCOptions are extra server options (e.g. TLS credentials).
	GRPCOptions []grpc.ServerOption
	// Guard authorizes every call to the service's gRPC (svcauth.NewGuard
	// with the service's table); required.
	Guard *svcauth.Guard
	// Reflection serves gRPC server reflection (-grpc-reflection).
	Reflection bool
	// InProcess also serves gRPC on an in-memory listener, which clients in
	// this process reach through InProcessDialer.
	InProcess bool
	// TracerProvider traces the service's gRPC and HTTP servers (the
	// service's own, internal/telemetry); nil: telemetry.Disabled.
	TracerProvider trace.TracerProvider
}

// inProcessBuffer is the size of each direction of an in-memory connection.
// gRPC's reader drains it continuously; a writer that fills it waits.
const inProcessBuffer = 256 << 10

// Server is one service's servers, bound in a run group.
type Server struct {
	name     string
	group    *rungroup.Group
	grpc     *grpcserver.Server
	opts     Options
	grpcAddr string
	// mem is the in-memory listener (Options.InProcess), or nil.
	mem *bufconn.Listener
	// stopping is set when the group's shutdown begins: /readyz fails from
	// then on, while the requests in flight finish.
	stopping atomic.Bool
}

// ErrStopping is what GET /readyz reports once the shutdown has begun.
var ErrStopping = errors.New("shutting down")

// ready is the readiness check of GET /readyz: not ready once stopping,
// else Options.Ready.
func (s *Server) ready(ctx context.Context) error {
	if s.stopping.Load() {
		return ErrStopping
	}
	if s.opts.Ready == nil {
		return nil
	}
	return s.opts.Ready(ctx)
}

// Listen creates the gRPC server of service name and binds addr in g. The
// server answers only once Serve has registered the service and g runs.
// When g's shutdown begins, GET /readyz answers 503 (ErrStopping) and the
// gRPC health service NOT_SERVING, before the servers stop.
func Listen(g *rungroup.Group, name, addr string, opts Options) (*Server, error) {
	if opts.Guard == nil {
		return nil, fmt.Errorf("serve: %s: no svcauth.Guard: every service checks its callers", name)
	}
	srv := grpcserver.New(grpcserver.Options{Logger: opts.Logger, Registerer: opts.Registerer, ServerOptions: opts.GRPCOptions,
		Guard: opts.Guard, Reflection: opts.Reflection, TracerProvider: opts.TracerProvider})
	bound, err := g.GRPC(name, addr, srv)
	if err != nil {
		return nil, err
	}
	s := &Server{name: name, group: g, grpc: srv, opts: opts, grpcAddr: bound}
	g.Stopping(func() { s.stopping.Store(true) })
	if opts.InProcess {
		// google.golang.org/grpc/test/bufconn: gRPC's own in-memory
		// net.Listener. It is made for tests, but it is a plain pipe that
		// serves here as well, and gRPC keeps it; we need no copy of our own.
		s.mem = bufconn.Listen(inProcessBuffer)
		g.GRPCOn(name+" in-process", s.mem, srv)
	}
	return s, nil
}

// InProcessDialer is a dial option that connects to each of servers
// listening in memory (Options.InProcess) there, when dialled at its
// GRPCAddr; any other address is dialled over TCP.
func InProcessDialer(servers ...*Server) grpc.DialOption {
	mem := make(map[string]*bufconn.Listener, len(servers))
	for _, s := range servers {
		if s.mem != nil {
			mem[s.grpcAddr] = s.mem
		}
	}
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		if l, ok := mem[addr]; ok {
			return l.DialContext(ctx)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
}

// GRPCAddr is the bound gRPC address.
func (s *Server) GRPCAddr() string { return s.grpcAddr }

// Serve registers the service's gRPC services (register), marks them
// serving, binds its HTTP routes (routes, wrapped by httpserver.New) on
// httpAddr and adds its background workers to the group. It returns the
// bound HTTP address.
func (s *Server) Serve(register func(grpc.ServiceRegistrar), routes http.Handler, background []func(context.Context) error, httpAddr string) (string, error) {
	register(s.grpc)
	s.grpc.Ready()
	h := httpserver.New(routes, httpserver.Options{
		Logger:         s.opts.Logger,
		Registerer:     s.opts.Registerer,
		Gatherer:       s.opts.Gatherer,
		Ready:          s.ready,
		MaxBodyBytes:   s.opts.MaxBodyBytes,
		TracerProvider: s.opts.TracerProvider,
	})
	bound, err := s.group.HTTP(s.name, httpAddr, h)
	if err != nil {
		return "", err
	}
	for i, fn := range background {
		s.group.Background(fmt.Sprintf("%s-%d", s.name, i), fn)
	}
	return bound, nil
}
