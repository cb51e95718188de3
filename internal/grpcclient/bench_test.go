package grpcclient

import (
	"context"
	"log/slog"
	"net"
	"testing"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// bufconnPayment serves a paymentServer over an in-memory listener.
func bufconnPayment(b *testing.B) *grpc.ClientConn {
	b.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	paymentv1.RegisterPaymentServiceServer(srv, &paymentServer{})
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	conn, err := Dial("passthrough:///bufnet", grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

// BenchmarkBareClient is the generated client alone: the baseline.
func BenchmarkBareClient(b *testing.B) {
	client := paymentv1.NewPaymentServiceClient(bufconnPayment(b))
	ctx := b.Context()
	req := &paymentv1.GetPaymentRequest{OrderId: "o1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.GetPayment(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareClientDeadline adds the per-call deadline any client should
// set, to tell its cost (client timer, grpc-timeout header, server-side
// timer) from the rest of the chain's.
func BenchmarkBareClientDeadline(b *testing.B) {
	client := paymentv1.NewPaymentServiceClient(bufconnPayment(b))
	ctx := b.Context()
	req := &paymentv1.GetPaymentRequest{OrderId: "o1"}
	b.ReportAllocs()
	for b.Loop() {
		callCtx, cancel := context.WithTimeout(ctx, DefaultConfig().AttemptTimeout)
		_, err := client.GetPayment(callCtx, req)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoKitClient is go-kit's gRPC client endpoint alone, without the
// middlewares.
func BenchmarkGoKitClient(b *testing.B) {
	e := grpctransport.NewClient(bufconnPayment(b), paymentv1.PaymentService_ServiceDesc.ServiceName, "GetPayment",
		passThrough, passThrough, &paymentv1.GetPaymentResponse{}).Endpoint()
	ctx := b.Context()
	req := &paymentv1.GetPaymentRequest{OrderId: "o1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChain is the same call through the whole middleware chain
// (instrumenting, retry, breaker, deadline, go-kit client) with registered
// metrics; its difference from BenchmarkBareClient is the chain's overhead.
func BenchmarkChain(b *testing.B) {
	c, err := New(bufconnPayment(b), "payment", DefaultConfig(), NewMetrics(prometheus.NewRegistry()), nil)
	if err != nil {
		b.Fatal(err)
	}
	e := c.Endpoint(Method{
		Service:    paymentv1.PaymentService_ServiceDesc.ServiceName,
		Name:       "GetPayment",
		Idempotent: true,
		Reply:      &paymentv1.GetPaymentResponse{},
	})
	ctx := b.Context()
	req := &paymentv1.GetPaymentRequest{OrderId: "o1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddlewareOnly is the chain's own middlewares (instrumenting,
// retry, breaker, deadline) around an endpoint that does nothing: their cost
// without the transport's noise.
func BenchmarkMiddlewareOnly(b *testing.B) {
	cfg := DefaultConfig()
	m := NewMetrics(prometheus.NewRegistry())
	noop := func(context.Context, any) (any, error) { return nil, nil }
	e := instrument(m, "payment", "GetPayment")(retry(cfg)(newBreaker("payment", "GetPayment", cfg, slog.New(slog.DiscardHandler)).middleware(deadline(cfg.AttemptTimeout)(noop))))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
