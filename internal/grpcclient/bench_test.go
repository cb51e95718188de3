package grpcclient

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/cputime"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// bufconnPayment serves a paymentServer over an in-memory listener (a real
// gRPC server and HTTP/2 transport in this process, without the kernel's
// loopback) and returns two connections to it, dialed by Dial: plain, and
// with cfg.DialOption.
func bufconnPayment(b *testing.B, cfg Config) (plain, grpcDeadline *grpc.ClientConn) {
	b.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	paymentv1.RegisterPaymentServiceServer(srv, &paymentServer{})
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	dial := func(extra ...grpc.DialOption) *grpc.ClientConn {
		conn, err := Dial("passthrough:///bufnet", append(extra, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}))...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	return dial(), dial(cfg.DialOption())
}

// BenchmarkGetPayment calls GetPayment on a server in this process, five
// ways; the chain's overhead is its line's ns/op and allocs/op less bare's
// (allocations count the server's too, the same in every line but for the
// deadline's). cpu-ns/op is the CPU time of the process, the server's
// included, per call: on a shared machine it moves much less than ns/op.
//
//	bare                 the generated client: the baseline
//	bare_deadline        the generated client with a per-call
//	                     context.WithTimeout of the attempt timeout (client
//	                     timer, grpc-timeout header, the server's timer)
//	gokit                go-kit's gRPC client endpoint alone
//	chain                the endpoint as the order service builds it
//	                     (order.NewDependencies: default config, idempotent,
//	                     registered metrics) on a connection of plain Dial:
//	                     the chain sets each attempt's deadline
//	chain_grpc_deadline  the same on a connection dialed with
//	                     Config.DialOption: gRPC sets it
func BenchmarkGetPayment(b *testing.B) {
	plain, grpcDeadline := bufconnPayment(b, DefaultConfig())
	benchmarkGetPayment(b, b.Context(), plain, grpcDeadline)
}

// BenchmarkGetPaymentInOrder is BenchmarkGetPayment with a caller's context
// that carries a deadline later than the attempt's, as the order service's
// calls do (CreateOrder bounds them all by its OrderTimeout, 20 s by
// default): the bare client then sends a deadline too, so chain less bare is
// the chain's own cost there.
func BenchmarkGetPaymentInOrder(b *testing.B) {
	ctx, cancel := context.WithTimeout(b.Context(), time.Hour)
	defer cancel()
	plain, grpcDeadline := bufconnPayment(b, DefaultConfig())
	benchmarkGetPayment(b, ctx, plain, grpcDeadline)
}

// BenchmarkGetPaymentClientSide is BenchmarkGetPayment over a connection
// whose interceptor answers every call at once, without a transport nor a
// server: the client side alone, less noisy, but without what the call's
// options and deadline cost further down (go-kit's header and trailer
// copies; the grpc-timeout header and the server's timer). A deadline that
// gRPC would set is never set there, so chain_grpc_deadline is left out.
func BenchmarkGetPaymentClientSide(b *testing.B) {
	conn, err := Dial("passthrough:///nowhere", grpc.WithUnaryInterceptor(
		func(context.Context, string, any, any, *grpc.ClientConn, grpc.UnaryInvoker, ...grpc.CallOption) error {
			return nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	benchmarkGetPayment(b, b.Context(), conn, nil)
}

// measure runs loop, the benchmark's b.Loop loop, and reports beside ns/op
// the CPU time the process used per iteration ("cpu-ns/op", the server's
// included): on a machine whose cores other work shares, ns/op grows with
// the waits for a core, CPU time hardly.
func measure(b *testing.B, loop func()) {
	b.ReportAllocs()
	before, ok := cputime.Process()
	loop()
	if after, _ := cputime.Process(); ok && b.N > 0 {
		b.ReportMetric(float64(after-before)/float64(b.N), "cpu-ns/op")
	}
}

// benchmarkGetPayment runs the sub-benchmarks of BenchmarkGetPayment with the
// caller's context ctx; chain_grpc_deadline only when grpcDeadline is not nil.
func benchmarkGetPayment(b *testing.B, ctx context.Context, plain, grpcDeadline *grpc.ClientConn) {
	cfg := DefaultConfig()
	req := &paymentv1.GetPaymentRequest{OrderId: "o1"}
	bare := paymentv1.NewPaymentServiceClient(plain)
	gokit := grpctransport.NewClient(plain, paymentv1.PaymentService_ServiceDesc.ServiceName, "GetPayment",
		passThrough, passThrough, &paymentv1.GetPaymentResponse{}).Endpoint()
	m := NewMetrics(prometheus.NewRegistry())
	chain := func(conn *grpc.ClientConn) endpoint.Endpoint {
		c, err := New(conn, "payment", cfg, m, nil)
		if err != nil {
			b.Fatal(err)
		}
		return c.Endpoint(Method{
			Service:    paymentv1.PaymentService_ServiceDesc.ServiceName,
			Name:       "GetPayment",
			Idempotent: true,
			Reply:      &paymentv1.GetPaymentResponse{},
		})
	}

	b.Run("bare", func(b *testing.B) {
		measure(b, func() {
			for b.Loop() {
				if _, err := bare.GetPayment(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("bare_deadline", func(b *testing.B) {
		measure(b, func() {
			for b.Loop() {
				callCtx, cancel := context.WithTimeout(ctx, cfg.AttemptTimeout)
				_, err := bare.GetPayment(callCtx, req)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	endpoints := []string{"gokit", "chain", "chain_grpc_deadline"}
	if grpcDeadline == nil {
		endpoints = endpoints[:2]
	}
	for _, name := range endpoints {
		var e endpoint.Endpoint
		switch name {
		case "gokit":
			e = gokit
		case "chain":
			e = chain(plain)
		default:
			e = chain(grpcDeadline)
		}
		b.Run(name, func(b *testing.B) {
			measure(b, func() {
				for b.Loop() {
					if _, err := e(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkMiddlewareOnly is the chain's own middlewares (instrumenting,
// retry, breaker, deadline) around an endpoint that does nothing: their cost
// without the transport's noise, when the chain sets the attempt's deadline
// (the caller has none), when the caller's comes first, and when gRPC sets
// it (Config.DialOption).
func BenchmarkMiddlewareOnly(b *testing.B) {
	cfg := DefaultConfig()
	m := NewMetrics(prometheus.NewRegistry())
	noop := func(context.Context, any) (any, error) { return nil, nil }
	chain := func(grpcBounded bool) endpoint.Endpoint {
		bounded := func() bool { return grpcBounded }
		return instrument(m, "payment", "GetPayment")(retry(cfg)(newBreaker("payment", "GetPayment", cfg, slog.New(slog.DiscardHandler)).middleware(deadline(cfg.AttemptTimeout, bounded)(noop))))
	}
	for _, c := range []struct {
		name        string
		caller      time.Duration // the caller's deadline from the start; 0: none
		grpcBounded bool
	}{
		{"no_caller_deadline", 0, false},
		{"caller_deadline_sooner", cfg.AttemptTimeout / 2, false},
		{"deadline_left_to_grpc", 0, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := chain(c.grpcBounded)
			ctx := b.Context()
			if c.caller > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.caller)
				defer cancel()
			}
			measure(b, func() {
				for b.Loop() {
					if _, err := e(ctx, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
