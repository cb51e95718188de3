package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// TraceIDHeader is the response header of every kitshop HTTP server that
// names the request's trace: what a user hands to support, and what finds
// the trace in Jaeger and the request's log lines.
const TraceIDHeader = "X-Trace-Id"

// The instrumentation records no metrics of its own: kitshop's are
// Prometheus' (internal/callmetrics, internal/grpcserver).
var noMeter = noop.NewMeterProvider()

// grpcOptions are the otelgrpc options of a server or client traced by tp:
// no span for the health checks, which probes and load balancers make every
// few seconds.
func grpcOptions(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tp), otelgrpc.WithMeterProvider(noMeter), otelgrpc.WithPropagators(Propagator),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	}
}

// GRPCServerOption traces every call a gRPC server serves with tp (nil:
// Disabled), continuing the caller's trace.
func GRPCServerOption(tp trace.TracerProvider) grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(grpcOptions(orDisabled(tp))...))
}

// GRPCDialOption traces every call made on a client connection with tp
// (nil: Disabled): a client span per attempt, its context sent to the callee.
func GRPCDialOption(tp trace.TracerProvider) grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(grpcOptions(orDisabled(tp))...))
}

// HTTPHandler traces every request h serves with tp (nil: Disabled), but
// the probes and the scrape (GET /healthz, /readyz, /metrics): a server span
// named by the method and the route pattern that matched, continuing a
// caller's traceparent.
func HTTPHandler(h http.Handler, tp trace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(h, "http", otelhttp.WithTracerProvider(orDisabled(tp)),
		otelhttp.WithMeterProvider(noMeter), otelhttp.WithPropagators(Propagator), otelhttp.WithFilter(notProbe))
}

// notProbe reports whether r is traced: anything but the GET of a probe or
// of the metrics.
func notProbe(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return true
	}
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return false
	}
	return true
}

// HTTPChild runs h, one service's share of a request that another server of
// the process (cmd/shop's edge) traces already, within a server span of tp
// (nil: Disabled), the child of that server's span. It reads no trace
// context from the request: that server honoured the caller's, and reading
// it again would give the trace a second root.
func HTTPChild(h http.Handler, tp trace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(h, "http", otelhttp.WithTracerProvider(orDisabled(tp)),
		otelhttp.WithMeterProvider(noMeter), otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()))
}

// HTTPTransport traces every request sent through rt with tp (nil:
// Disabled), sending the trace context along.
func HTTPTransport(rt http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(orDisabled(tp)),
		otelhttp.WithMeterProvider(noMeter), otelhttp.WithPropagators(Propagator))
}

func orDisabled(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return Disabled
	}
	return tp
}
