package httpserver

import (
	"io"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/telemetry"
)

// TestTracing: a request continues its caller's traceparent, is a server
// span named by its route, answers its trace id in X-Trace-Id, and leaves
// its trace id as the exemplar of its latency, which /metrics shows to an
// OpenMetrics scraper; the probes and the scrape make no span.
func TestTracing(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	srv, _, _ := newTestServer(t, Options{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/order", strings.NewReader(`{"amount":3000}`))
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(telemetry.TraceIDHeader); got != traceID {
		t.Errorf("X-Trace-Id %q, want the caller's %s", got, traceID)
	}
	resp, _ = do(t, http.MethodGet, srv.URL+"/healthz", "")
	fresh := resp.Header.Get(telemetry.TraceIDHeader)

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want the order's only", len(spans))
	}
	s := spans[0]
	if s.Name() != "POST /order" || s.SpanKind() != trace.SpanKindServer || s.SpanContext().TraceID().String() != traceID ||
		s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span %q kind %v trace %s parent %s", s.Name(), s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	if fresh != "" {
		t.Errorf("a probe, untraced, answers trace id %q", fresh)
	}

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `# {trace_id="`+traceID+`"}`) {
		t.Errorf("no exemplar with the trace id in the OpenMetrics exposition:\n%s", body)
	}
}
