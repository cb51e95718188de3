package grpcclient

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/telemetry"
)

const getPaymentSpan = "kitshop.payment.v1.PaymentService/GetPayment"

// tracedCall runs call within a span of a recorded provider, whose client
// connection is traced too, and returns the ended spans and the caller's.
func tracedCall(t *testing.T, cfg Config, answer func(ps *paymentServer), calls int) ([]sdktrace.ReadOnlySpan, sdktrace.ReadOnlySpan) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ps, conn := startPayment(t, telemetry.GRPCDialOption(tp))
	answer(ps)
	call := getPayment(t, conn, cfg, NewMetrics(nil), true)
	ctx, span := tp.Tracer("test").Start(t.Context(), "caller")
	for range calls {
		_ = call(ctx)
	}
	span.End()
	ended := rec.Ended()
	return ended[:len(ended)-1], ended[len(ended)-1]
}

func TestRetriedCallShowsItsAttempts(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxAttempts = 3
	spans, caller := tracedCall(t, cfg, func(ps *paymentServer) {
		ps.setAnswer(func(context.Context) error {
			if ps.hits.Load() == 1 {
				return status.Error(codes.Unavailable, "first attempt lost")
			}
			return nil
		})
	}, 1)
	if len(spans) != 2 {
		t.Fatalf("%d client spans, want one per attempt (2)", len(spans))
	}
	for i, s := range spans {
		if s.Name() != getPaymentSpan || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("attempt %d: span %q kind %v, want %s client", i+1, s.Name(), s.SpanKind(), getPaymentSpan)
		}
		if s.Parent().SpanID() != caller.SpanContext().SpanID() {
			t.Errorf("attempt %d: not a child of the caller's span", i+1)
		}
	}
	events := caller.Events()
	if len(events) != 1 || events[0].Name != "retry" {
		t.Fatalf("caller's events %v, want one retry", events)
	}
	attrs := map[string]string{}
	for _, a := range events[0].Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["kitshop.attempt"] != "2" || attrs["kitshop.previous"] != "unavailable" {
		t.Errorf("retry event attributes %v, want attempt 2 after unavailable", attrs)
	}
}

func TestBreakerRefusalIsAnEvent(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BreakerFailures = 1
	spans, caller := tracedCall(t, cfg, func(ps *paymentServer) { ps.fail(codes.Unavailable) }, 2)
	if len(spans) != 1 {
		t.Fatalf("%d client spans, want 1: the refused call never leaves the process", len(spans))
	}
	events := caller.Events()
	if len(events) != 1 || events[0].Name != "breaker_open" {
		t.Fatalf("caller's events %v, want one breaker_open", events)
	}
}
