package main

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/edge"
)

// newEdge routes every public HTTP path to its service's handler, in process,
// with the routing table cmd/edge uses in front of separate processes. Each
// handler runs within a server span of its service's tracer provider
// (tracers), the child of the edge's span, as behind cmd/edge: what the
// service records while it handles the request (its endpoint's span, its
// store commands) is in the service's resource, not the edge's.
func newEdge(handlers map[string]http.Handler, tracers func(service string) trace.TracerProvider) http.Handler {
	traced := make(map[string]http.Handler, len(handlers))
	for name, h := range handlers {
		traced[name] = otelhttp.NewHandler(h, name, otelhttp.WithTracerProvider(tracers(name)),
			otelhttp.WithPropagators(inProcess), otelhttp.WithMeterProvider(noop.NewMeterProvider()))
	}
	return edge.New(traced)
}

// inProcess extracts nothing: the edge's span is in the request's context
// already, and a client's traceparent was the edge's to honour.
var inProcess = propagation.NewCompositeTextMapPropagator()
