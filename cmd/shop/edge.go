package main

import (
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/edge"
	"github.com/kitshop/kitshop/internal/telemetry"
)

// newEdge routes every public HTTP path to its service's handler, in process,
// with the routing table cmd/edge uses in front of separate processes. Each
// handler runs within a server span of its service's tracer provider
// (tracers), the child of the edge's span, as behind cmd/edge: what the
// service records while it handles the request (its endpoint's span, its
// store commands) is in the service's resource, not the edge's.
func newEdge(handlers map[string]http.Handler, tracers func(service string) trace.TracerProvider, opts edge.Options) (http.Handler, error) {
	traced := make(map[string]http.Handler, len(handlers))
	for name, h := range handlers {
		traced[name] = telemetry.HTTPChild(h, tracers(name))
	}
	return edge.New(traced, opts)
}
