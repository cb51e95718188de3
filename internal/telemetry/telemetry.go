// Package telemetry is kitshop's OpenTelemetry tracing: one tracer provider
// per service (its resource names the service), all sharing one exporter
// (OTLP over gRPC or HTTP) and one parent-based ratio sampler, and the W3C
// trace-context propagator every server and client uses.
//
// With no endpoint, nothing is recorded or exported: spans are the SDK's
// non-recording ones, which still carry a trace id, so that log lines
// (internal/logging) and responses (the X-Trace-Id header) name the request's
// trace, and a client's traceparent is passed on.
//
// The instrumentation finds its provider in one of two ways. A server or a
// client is given its service's provider (otelgrpc, otelhttp, Provider); what
// runs inside a call (the endpoint middleware of internal/observe, the store
// commands of internal/docstore, the client chain's events) starts its spans
// with the provider of the span in its context (FromContext), so that it
// needs no provider of its own and costs nothing outside a traced call.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Namespace is the service.namespace of every kitshop service's resource.
const Namespace = "kitshop"

// Propagator is the propagation of every kitshop server and client: W3C
// trace context only. Baggage is not taken from callers: the edge faces the
// internet, and nothing in kitshop reads it.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Telemetry is the tracing of one process: the providers of its services,
// sharing the exporter. Its methods are safe for concurrent use.
type Telemetry struct {
	cfg        Config
	sampler    sdktrace.Sampler
	processors []sdktrace.SpanProcessor
	base       *resource.Resource
	exporter   sdktrace.SpanExporter // nil when nothing is exported

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
}

// New returns the tracing that cfg configures (Config.Validate must have
// passed). It connects to no collector yet: the exporter connects when it
// first sends. Shutdown flushes and stops it.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	base, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	t := &Telemetry{cfg: cfg, base: base, providers: make(map[string]*sdktrace.TracerProvider)}
	exporter, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if exporter != nil {
		t.exporter = exporter
		t.processors = append(t.processors, sdktrace.NewBatchSpanProcessor(exporter))
	}
	t.processors = append(t.processors, cfg.Processors...)
	if len(t.processors) == 0 {
		// Nothing would receive a span: none is recorded, each keeps a trace id.
		t.sampler = sdktrace.NeverSample()
	} else {
		t.sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))
	}
	return t, nil
}

// newExporter returns the OTLP exporter of cfg, or nil when no endpoint is
// set (in cfg or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). The exporters read
// the other OTEL_EXPORTER_OTLP_* variables themselves (headers,
// certificates, timeout, compression).
func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	if !cfg.exporting() {
		return nil, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	switch cfg.Protocol {
	case ProtocolGRPC:
		var opts []otlptracegrpc.Option
		if cfg.Endpoint != "" && !cfg.tracesEndpointFromEnv() {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	default:
		var opts []otlptracehttp.Option
		if cfg.Endpoint != "" && !cfg.tracesEndpointFromEnv() {
			opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(cfg.Endpoint)))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	return exp, nil
}

// tracesURL is the URL the HTTP exporter posts traces to for the base
// endpoint u (OTEL_EXPORTER_OTLP_ENDPOINT's meaning): u's path joined with
// v1/traces.
func tracesURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u // Config.Validate refused it already
	}
	parsed.Path = strings.TrimSuffix(parsed.Path, "/") + "/v1/traces"
	return parsed.String()
}

// Exporting reports whether spans are exported.
func (t *Telemetry) Exporting() bool { return t.exporter != nil }

// Provider returns the tracer provider of service name (made on first use):
// its resource has service.name name, unless the process runs one service
// and Config.ServiceName (-otel-service-name, OTEL_SERVICE_NAME) names it,
// and service.namespace kitshop, with OTEL_RESOURCE_ATTRIBUTES. A nil
// Telemetry returns a provider that records nothing.
func (t *Telemetry) Provider(name string) trace.TracerProvider {
	if t == nil {
		return Disabled
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.providers[name]; ok {
		return p
	}
	serviceName := name
	if t.cfg.ServiceName != "" && t.cfg.single {
		serviceName = t.cfg.ServiceName
	}
	res, err := resource.Merge(t.base, resource.NewSchemaless(
		semconv.ServiceName(serviceName), semconv.ServiceNamespace(Namespace)))
	if err != nil {
		// Only a schema URL conflict fails, and NewSchemaless has none.
		res = resource.NewSchemaless(semconv.ServiceName(serviceName), attribute.String("service.namespace", Namespace))
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(t.sampler)}
	for _, sp := range t.processors {
		opts = append(opts, sdktrace.WithSpanProcessor(sp))
	}
	p := sdktrace.NewTracerProvider(opts...)
	t.providers[name] = p
	return p
}

// Shutdown ends every provider, exporting the spans they still hold, within
// ctx. A nil Telemetry has nothing to do.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, p := range t.providers {
		errs = append(errs, p.Shutdown(ctx))
	}
	if t.exporter != nil {
		errs = append(errs, t.exporter.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Disabled is a tracer provider whose spans are not recorded and carry a
// trace id, as New's without an endpoint: for a server or client given none.
var Disabled trace.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))

// FromContext returns the tracer provider of the span in ctx, for
// instrumentation inside a traced call: the provider of the server or worker
// that started the call, or one that makes no spans.
func FromContext(ctx context.Context) trace.TracerProvider {
	return trace.SpanFromContext(ctx).TracerProvider()
}
