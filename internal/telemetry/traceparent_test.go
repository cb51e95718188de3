package telemetry

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceparentContinue: the traceparent of a span, continued, is that
// span as remote parent, replacing the span in ctx; none, or one that does
// not parse, leaves no parent at all.
func TestTraceparentContinue(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, req := tp.Tracer("test").Start(t.Context(), "request")
	defer req.End()
	if got := Traceparent(t.Context()); got != "" {
		t.Errorf("Traceparent without a span = %q, want empty", got)
	}
	tpHeader := Traceparent(ctx)
	want := "00-" + req.SpanContext().TraceID().String() + "-" + req.SpanContext().SpanID().String() + "-01"
	if tpHeader != want {
		t.Fatalf("Traceparent = %q, want %q", tpHeader, want)
	}
	_, other := tp.Tracer("test").Start(t.Context(), "other worker span")
	defer other.End()
	inOther := trace.ContextWithSpan(t.Context(), other)
	if sc := trace.SpanContextFromContext(Continue(inOther, tpHeader)); !sc.IsRemote() || sc.SpanID() != req.SpanContext().SpanID() {
		t.Errorf("Continue = %v, want the request's span as remote parent", sc)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-0000000000000000-01"} {
		if sc := trace.SpanContextFromContext(Continue(inOther, bad)); sc.IsValid() {
			t.Errorf("Continue(%q) = %v, want no parent", bad, sc)
		}
	}
}
