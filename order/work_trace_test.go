package order

import (
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// newTracer returns a provider recording every span into the returned recorder.
func newTracer(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	return tp, rec
}

// workSpans are the worker's spans rec ended, in order.
func workSpans(rec *tracetest.SpanRecorder) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == workSpanName {
			out = append(out, s)
		}
	}
	return out
}

// attr is the value of the attribute key of span s ("" when it has none).
func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestWorkContinuesTheRequestsTrace: on the real store, the work entry of an
// order created within a span stores that span's traceparent, and each
// round of the worker on it (a failed notification, then its retry) is a
// span of that trace, a child of the request's span, under which the
// notification is sent.
func TestWorkContinuesTheRequestsTrace(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		e := newEnv(t)
		tp, rec := newTracer(t)
		store := newTestMongoStore(t, m.Options()...)
		svc, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now, NotifyWithin: -1, Tracer: tp}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.notifier.failures = 1

		ctx, req := tp.Tracer("test").Start(t.Context(), "POST /order")
		o, _, err := svc.CreateOrder(ctx, alice, validOrder())
		req.End()
		if err != nil || o.Status != StatusPaymentProcessed {
			t.Fatalf("CreateOrder: %v %s, want PaymentProcessed with its notification queued", err, o.Status)
		}
		rsc := req.SpanContext()
		w, err := store.GetWork(t.Context(), o.ID)
		if want := "00-" + rsc.TraceID().String() + "-" + rsc.SpanID().String() + "-01"; err != nil || w.Trace != want {
			t.Fatalf("stored work %+v %v, want trace %s", w, err, want)
		}

		svc.DoDueWork(t.Context()) // the notification fails: due again later
		e.clock.Advance(DefaultOutboxBackoffMax)
		svc.DoDueWork(t.Context()) // sent, the delivery starts
		if got, _ := store.Get(t.Context(), o.ID); got.Status != StatusDeliveryStarted {
			t.Fatalf("order %s, want DeliveryStarted", got.Status)
		}

		spans := workSpans(rec)
		if len(spans) != 2 {
			t.Fatalf("%d work spans, want 2", len(spans))
		}
		for i, want := range []struct{ outcome, attempts string }{{outcomeLater, "0"}, {outcomeDone, "1"}} {
			s := spans[i]
			if s.SpanContext().TraceID() != rsc.TraceID() || s.Parent().SpanID() != rsc.SpanID() {
				t.Errorf("round %d: span %s parent %s, want a child of the request's %s", i, s.SpanContext().TraceID(), s.Parent().SpanID(), rsc.SpanID())
			}
			if s.SpanKind() != trace.SpanKindInternal || s.Status().Code == codes.Error {
				t.Errorf("round %d: kind %s status %v", i, s.SpanKind(), s.Status())
			}
			if got := attr(s, attrOutcome); got != want.outcome {
				t.Errorf("round %d: outcome %q, want %q", i, got, want.outcome)
			}
			if got := attr(s, attrAttempts); got != want.attempts {
				t.Errorf("round %d: attempts %q, want %q", i, got, want.attempts)
			}
			if got := e.notifier.spans[i]; !got.Equal(s.SpanContext()) {
				t.Errorf("round %d: the notification was sent under span %s/%s, want the work's %s/%s", i,
					got.TraceID(), got.SpanID(), s.SpanContext().TraceID(), s.SpanContext().SpanID())
			}
		}
	})
}

// TestWorkWithoutStoredTrace: an entry inserted without a span stores no
// trace, and an entry whose stored trace is missing or does not parse gets
// a root span, under which its work runs as usual.
func TestWorkWithoutStoredTrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, trace string }{
		{"none", ""},
		{"garbage", "not a traceparent"},
		{"zero ids", "00-00000000000000000000000000000000-0000000000000000-01"},
		{"bad version", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tp, rec := newTracer(t)
			e.svc.opts.Tracer = tp
			o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
			if err != nil {
				t.Fatal(err)
			}
			e.store.mu.Lock()
			w := e.store.work[o.ID]
			if w.Trace != "" {
				t.Errorf("an entry inserted without a span stored trace %q", w.Trace)
			}
			w.Trace = tc.trace
			e.store.work[o.ID] = w
			e.store.mu.Unlock()

			e.svc.DoDueWork(t.Context())
			if got, _ := e.store.Get(t.Context(), o.ID); got.Status != StatusDeliveryStarted {
				t.Fatalf("order %s, want DeliveryStarted", got.Status)
			}
			spans := workSpans(rec)
			if len(spans) != 1 {
				t.Fatalf("%d work spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Parent().IsValid() || !s.SpanContext().IsValid() {
				t.Errorf("work span %s with parent %v, want a root span", s.SpanContext().SpanID(), s.Parent())
			}
			if got := attr(s, attrOutcome); got != outcomeDone || s.Status().Code == codes.Error {
				t.Errorf("outcome %q status %v, want done", got, s.Status())
			}
			if got := e.notifier.spans; len(got) != 1 || !got[0].Equal(s.SpanContext()) {
				t.Errorf("notification sent under %v, want the work's span %v", got, s.SpanContext())
			}
		})
	}
}

// TestWorkSpanOutcomeError: a round that cannot read the order ends its
// span with the error.
func TestWorkSpanOutcomeError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tp, rec := newTracer(t)
	e.svc.opts.Tracer = tp
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
		t.Fatal(err)
	}
	e.store.mu.Lock()
	e.store.failGet = errors.New("store down")
	e.store.mu.Unlock()
	e.svc.DoDueWork(t.Context())
	spans := workSpans(rec)
	if len(spans) != 1 || attr(spans[0], attrOutcome) != outcomeError || spans[0].Status().Code != codes.Error {
		t.Fatalf("work spans %v, want one ending in error", spans)
	}
}

// TestRepeatLinksTheFirstRequest: a repeat of a keyed request whose first
// handler left the order (its settling failed, its hold ended) takes the
// order up within its own trace, linked to the first request's span.
func TestRepeatLinksTheFirstRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tp, rec := newTracer(t)
	svc, err := NewService(e.store, e.svc.deps, Options{Now: e.clock.Now, Tracer: tp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := validOrder()
	req.IdempotencyKey = "k-repeat"
	ctx, first := tp.Tracer("test").Start(t.Context(), "first POST /order")
	e.store.failNext = errors.New("store down") // its settling fails: the order stays Pending
	if _, _, err := svc.CreateOrder(ctx, alice, req); err == nil {
		t.Fatal("the first request succeeded; want its settling to fail")
	}
	first.End()
	e.clock.Advance(svc.holdFor() + time.Second)

	ctx, repeat := tp.Tracer("test").Start(t.Context(), "repeated POST /order")
	if _, replayed, err := svc.CreateOrder(ctx, alice, req); err != nil || !replayed {
		t.Fatalf("repeat: %v replayed %v", err, replayed)
	}
	repeat.End()
	for _, s := range rec.Ended() {
		if s.Name() != "repeated POST /order" {
			continue
		}
		if links := s.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != first.SpanContext().SpanID() {
			t.Errorf("the repeat's span has links %+v, want one to the first request's span %s", links, first.SpanContext().SpanID())
		}
		return
	}
	t.Fatal("no span of the repeat")
}
