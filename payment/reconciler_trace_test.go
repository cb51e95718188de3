package payment

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// spanSeer is a Processor that remembers the span context of each Lookup and Void, by key.
type spanSeer struct {
	*Simulator
	mu    sync.Mutex
	spans map[string][]trace.SpanContext
}

func (s *spanSeer) saw(ctx context.Context, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans[key] = append(s.spans[key], trace.SpanContextFromContext(ctx))
}

func (s *spanSeer) Lookup(ctx context.Context, key string) (ChargeResult, error) {
	s.saw(ctx, key)
	return s.Simulator.Lookup(ctx, key)
}

func (s *spanSeer) Void(ctx context.Context, key string) (ChargeResult, error) {
	s.saw(ctx, key)
	return s.Simulator.Void(ctx, key)
}

// TestReconcilerContinuesThePaymentsTrace: on the embedded store (both modes), the mark of a MakePayment
// made within a span stores its traceparent, and the Reconciler's span for the mark is a child of that
// span, under which the processor is asked; a mark without a trace, or with one that does not parse, gets
// a root span.
func TestReconcilerContinuesThePaymentsTrace(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, mode docstoretest.Mode) {
		ctx := t.Context()
		store := newTestMongoStore(t, newTestDB(t), mode.Options()...)
		seer := &spanSeer{Simulator: NewSimulator(SimulatorOptions{}), spans: map[string][]trace.SpanContext{}}
		clk := newClockAt(testNow)
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		opts := Options{CardKey: testCardKey, Now: clk.Now, ProcessorTimeout: time.Second, Tracer: tp}
		lost, err := NewService(store, lostProcessor{seer.Simulator}, opts)
		if err != nil {
			t.Fatal(err)
		}

		rctx, req := tp.Tracer("test").Start(ctx, "MakePayment")
		if _, err := lost.MakePayment(rctx, kakaoRequest("o-traced")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		req.End()
		if _, err := lost.MakePayment(ctx, kakaoRequest("o-untraced")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if _, err := store.Mark(ctx, Mark{OrderID: "o-garbage", At: testNow, Trace: "not a traceparent"}); err != nil {
			t.Fatal(err)
		}
		rsc := req.SpanContext()
		marks, err := store.Marks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"o-traced": "00-" + rsc.TraceID().String() + "-" + rsc.SpanID().String() + "-01",
			"o-untraced": "", "o-garbage": "not a traceparent"}
		for _, m := range marks {
			if m.Trace != want[m.OrderID] {
				t.Errorf("mark %s: trace %q, want %q", m.OrderID, m.Trace, want[m.OrderID])
			}
		}

		clk.Advance(DefaultVoidAfter)
		svc, err := NewService(store, seer, opts)
		if err != nil {
			t.Fatal(err)
		}
		NewReconciler(store, seer, svc, opts).Reconcile(ctx)

		byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			if s.Name() == "payment/reconcile" {
				byID[s.SpanContext().SpanID()] = s
			}
		}
		if len(byID) != 3 {
			t.Fatalf("%d reconcile spans, want 3", len(byID))
		}
		for id := range want {
			seen := seer.spans[id]
			if len(seen) == 0 {
				t.Fatalf("%s: the processor was not asked", id)
			}
			s, ok := byID[seen[0].SpanID()]
			if !ok || s.SpanContext().TraceID() != seen[0].TraceID() {
				t.Fatalf("%s: the processor was asked under span %v, not a reconcile span", id, seen[0])
			}
			if id == "o-traced" {
				if s.Parent().SpanID() != rsc.SpanID() || s.SpanContext().TraceID() != rsc.TraceID() {
					t.Errorf("%s: span parent %v, want the MakePayment span", id, s.Parent())
				}
			} else if s.Parent().IsValid() {
				t.Errorf("%s: span parent %v, want a root span", id, s.Parent())
			}
			outcome := ""
			for _, kv := range s.Attributes() {
				if kv.Key == "kitshop.outcome" {
					outcome = kv.Value.AsString()
				}
			}
			if outcome != "final" {
				t.Errorf("%s: outcome %q, want final", id, outcome)
			}
		}
		if marks, err := store.Marks(ctx); err != nil || len(marks) != 0 {
			t.Errorf("marks left %v %v", marks, err)
		}
	})
}
