package main

import (
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestOTLPSinkCountsExportedSpans(t *testing.T) {
	sink, err := startOTLPSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpointURL("http://"+sink.addr))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	for range 3 {
		_, span := tp.Tracer("t").Start(t.Context(), "x")
		span.End()
	}
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := sink.stop(); got != 3 {
		t.Errorf("sink received %d spans, want 3", got)
	}
}
