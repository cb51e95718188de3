package order

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/telemetry"
)

// A work entry carries the trace of the request that caused it: its insert
// stores the W3C traceparent of the span in the inserter's context
// (Work.Trace), and the worker's span for the entry (workSpan) is a child of
// it, so that a side effect delivered later by the outbox, or an order
// settled by the sweep, is in the same trace as the POST /order behind it,
// with the calls and store commands it makes. The traceparent holds ids and
// flags only; the sampling decision of the request is kept with it.

// Attributes and outcomes of the worker's span.
const (
	workSpanName = "order/work"
	attrAttempts = "kitshop.work.attempts" // failed rounds of the entry's side effects before this one
	attrOutcome  = "kitshop.outcome"
	outcomeDone  = "done"          // this replica is finished with the entry: deleted, or taken over by another
	outcomeLater = "later"         // released, due again later (a payment still pending, a side effect failed)
	outcomeError = "error"         // the order could not be read or settled: left for a later round
	attrLink     = "kitshop.link"  // why a span is linked to another
	linkFirst    = "first request" // a repeat's link to the request that made the order
)

// workSpan starts the worker's span for the entry w: a child of the span
// whose traceparent w stores, or a root span when it stores none or one that
// does not parse (never an error: the work is done either way). The span's
// context replaces any span ctx holds.
func (s *Orders) workSpan(ctx context.Context, w Work) (context.Context, trace.Span) {
	return s.opts.Tracer.Tracer("github.com/kitshop/kitshop/order").Start(telemetry.Continue(ctx, w.Trace), workSpanName,
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attribute.Int(attrAttempts, w.Attempts)))
}

// endWorkSpan records the outcome of the work on an entry and ends its span.
func endWorkSpan(span trace.Span, outcome string, err error) {
	span.SetAttributes(attribute.String(attrOutcome, outcome))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// linkFirstRequest links the span of ctx, a repeat's, to the span whose
// traceparent the order's work entry stores, when that is another trace: the
// first request's, whose handler left the order that this repeat takes up.
func linkFirstRequest(ctx context.Context, traceparent string) {
	span := trace.SpanFromContext(ctx)
	first := trace.SpanContextFromContext(telemetry.Continue(ctx, traceparent))
	if !span.IsRecording() || !first.IsValid() || first.TraceID() == span.SpanContext().TraceID() {
		return
	}
	span.AddLink(trace.Link{SpanContext: first, Attributes: []attribute.KeyValue{attribute.String(attrLink, linkFirst)}})
}
