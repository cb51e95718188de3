package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceparentKey is the carrier key of the W3C trace context.
const traceparentKey = "traceparent"

// Traceparent returns the W3C traceparent of the span in ctx (ids and the
// sampled flag, nothing else), "" when ctx has no valid span: what a piece
// of background work stores with itself, so that whoever does it later
// continues the trace of the request that caused it (Continue).
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	Propagator.Inject(ctx, c)
	return c[traceparentKey]
}

// Continue returns ctx with the span that traceparent (from Traceparent)
// names as the remote parent of the spans started in it, in place of any
// span ctx holds; with no parent at all when traceparent is empty or does
// not parse, so that they are root spans. A bad traceparent is never an
// error: the work goes on untraced by its cause.
func Continue(ctx context.Context, traceparent string) context.Context {
	ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	if traceparent == "" {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier{traceparentKey: traceparent})
}
