package observe

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/internal/errtable"
)

// TestEndpointSpans checks that each call is a span of the provider of the
// span in its context, child of that span, with the outcome, the status
// Error only for a dependency failure or an unexplained error, and that the
// endpoint runs within it.
func TestEndpointSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	table := errtable.New(
		errtable.Entry{Err: errOutOfStock, GRPC: codes.FailedPrecondition, HTTP: http.StatusConflict, Code: "out_of_stock", Business: true},
		errtable.Entry{Err: errDown, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable, Code: "unavailable"},
	)
	o := New("demo", table, nil, prometheus.NewRegistry())
	var inner []string // the span the endpoint ran in, by call
	e := o.Endpoint("Buy", slog.LevelInfo, func(ctx context.Context, req any) (any, error) {
		inner = append(inner, spanIDOf(ctx))
		switch req.(request).id {
		case "sold-out":
			return response{err: errOutOfStock}, nil
		case "down":
			return nil, errDown
		case "broken":
			return nil, errors.New("disk on fire")
		}
		return response{}, nil
	})

	ids := []string{"ok", "sold-out", "down", "broken"}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "server")
	for _, id := range ids {
		_, _ = e(ctx, request{id: id})
	}
	parent.End()

	want := map[string]struct {
		outcome string
		status  otelcodes.Code
	}{
		"ok": {"ok", otelcodes.Unset}, "sold-out": {"out_of_stock", otelcodes.Unset},
		"down": {"unavailable", otelcodes.Error}, "broken": {"error", otelcodes.Error},
	}
	spans := rec.Ended()
	if len(spans) != len(ids)+1 {
		t.Fatalf("%d spans ended, want %d", len(spans), len(ids)+1)
	}
	for i, id := range ids {
		s := spans[i]
		if s.Name() != "demo/Buy" {
			t.Errorf("%s: span %q, want demo/Buy", id, s.Name())
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%s: span is not the child of the server's", id)
		}
		if inner[i] != s.SpanContext().SpanID().String() {
			t.Errorf("%s: the endpoint ran in span %s, not in its own %s", id, inner[i], s.SpanContext().SpanID())
		}
		if got := attrOf(s.Attributes(), OutcomeKey); got != want[id].outcome {
			t.Errorf("%s: outcome %q, want %q", id, got, want[id].outcome)
		}
		if s.Status().Code != want[id].status {
			t.Errorf("%s: status %v, want %v", id, s.Status().Code, want[id].status)
		}
	}

	// Without a span in the context, nothing is recorded.
	before := len(rec.Ended())
	_, _ = e(context.Background(), request{id: "ok"})
	if got := len(rec.Ended()); got != before {
		t.Errorf("a call outside any trace recorded %d spans", got-before)
	}
}

func spanIDOf(ctx context.Context) string {
	return trace.SpanContextFromContext(ctx).SpanID().String()
}

func attrOf(attrs []attribute.KeyValue, k attribute.Key) string {
	for _, a := range attrs {
		if a.Key == k {
			return a.Value.Emit()
		}
	}
	return ""
}
