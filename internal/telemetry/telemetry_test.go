package telemetry

import (
	"context"
	"flag"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// flags parses args with the tracing flags of a process of one service
// (single) or several, under env.
func flags(t *testing.T, single bool, env map[string]string, args ...string) Config {
	t.Helper()
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, env[k])
	}
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs, single)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c
}

func problems(c Config) []string {
	var out []string
	c.Check(func(name, format string, args ...any) { out = append(out, name) })
	return out
}

func TestFlagsTakeTheStandardVariables(t *testing.T) {
	c := flags(t, true, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_SERVICE_NAME": "orders-eu",
	})
	if c.Endpoint != "http://collector:4318" || c.Protocol != ProtocolHTTP || c.SampleRatio != 0.25 || c.ServiceName != "orders-eu" {
		t.Errorf("from the environment: %+v", c)
	}
	c = flags(t, true, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
		"-otel-endpoint", "https://other:4317", "-otel-protocol", "grpc", "-otel-sample-ratio", "0.5")
	if c.Endpoint != "https://other:4317" || c.Protocol != ProtocolGRPC || c.SampleRatio != 0.5 {
		t.Errorf("flags do not win: %+v", c)
	}
	if c := flags(t, false, nil); c.Endpoint != "" || c.Protocol != ProtocolGRPC || c.SampleRatio != 1 || c.exporting() {
		t.Errorf("defaults: %+v, exporting %v", c, c.exporting())
	}
	if c := flags(t, false, map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}); c.SampleRatio != 0 {
		t.Errorf("always_off: ratio %v", c.SampleRatio)
	}
	if c := flags(t, false, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4318/v1/traces"}); !c.exporting() {
		t.Error("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT alone does not export")
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Endpoint: "collector:4317", Protocol: ProtocolGRPC, SampleRatio: 1}, "otel-endpoint"},
		{Config{Endpoint: "http://user:pw@collector:4317", Protocol: ProtocolGRPC, SampleRatio: 1}, "otel-endpoint"},
		{Config{Endpoint: "http://", Protocol: ProtocolGRPC, SampleRatio: 1}, "otel-endpoint"},
		{Config{Protocol: "http/json", SampleRatio: 1}, "otel-protocol"},
		{Config{Protocol: ProtocolGRPC, SampleRatio: 1.5}, "otel-sample-ratio"},
		{Config{Protocol: ProtocolGRPC, SampleRatio: -1}, "otel-sample-ratio"},
		{Config{Endpoint: "https://collector:4317/", Protocol: ProtocolGRPC, SampleRatio: 0}, ""},
	} {
		got := strings.Join(problems(tc.c), ",")
		if got != tc.want {
			t.Errorf("%+v: refused %q, want %q", tc.c, got, tc.want)
		}
	}
	c := flags(t, false, map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"})
	if got := problems(c); len(got) != 1 || got[0] != "otel-sample-ratio" {
		t.Errorf("an argument that does not parse: refused %v", got)
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://c:4318":   "http://c:4318/v1/traces",
		"http://c:4318/":  "http://c:4318/v1/traces",
		"https://c/otlp":  "https://c/otlp/v1/traces",
		"https://c/otlp/": "https://c/otlp/v1/traces",
	} {
		if got := tracesURL(in); got != want {
			t.Errorf("tracesURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWithoutEndpoint: nothing is recorded, and every span still has a
// trace id, kept from a remote parent.
func TestWithoutEndpoint(t *testing.T) {
	tel, err := New(t.Context(), flags(t, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if tel.Exporting() {
		t.Error("exporting without an endpoint")
	}
	for _, tp := range []trace.TracerProvider{tel.Provider("order"), Disabled} {
		_, span := tp.Tracer("t").Start(t.Context(), "root")
		if span.IsRecording() || !span.SpanContext().IsValid() {
			t.Errorf("root span recording %v, valid %v: want not recording, with a trace id", span.IsRecording(), span.SpanContext().IsValid())
		}
		remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})
		_, child := tp.Tracer("t").Start(trace.ContextWithRemoteSpanContext(t.Context(), remote), "child")
		if child.IsRecording() || child.SpanContext().TraceID() != remote.TraceID() {
			t.Errorf("child of a sampled remote parent: recording %v, trace %s", child.IsRecording(), child.SpanContext().TraceID())
		}
	}
}

// TestProviders: each service's spans carry its name, the namespace and
// OTEL_RESOURCE_ATTRIBUTES; the service name flag renames a process of one
// service only; the sampler keeps the parent's choice and the ratio.
func TestProviders(t *testing.T) {
	for _, tc := range []struct {
		single bool
		want   string
	}{{true, "orders-eu"}, {false, "order"}} {
		rec := tracetest.NewSpanRecorder()
		cfg := flags(t, tc.single, map[string]string{"OTEL_SERVICE_NAME": "orders-eu", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test"})
		cfg.Processors = []sdktrace.SpanProcessor{rec}
		tel, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tel.Provider("order") != tel.Provider("order") {
			t.Error("a second Provider call makes a second provider")
		}
		_, span := tel.Provider("order").Tracer("t").Start(t.Context(), "x")
		span.End()
		_ = tel.Shutdown(t.Context())
		attrs := map[string]string{}
		for _, a := range rec.Ended()[0].Resource().Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["service.name"] != tc.want || attrs["service.namespace"] != Namespace || attrs["deployment.environment.name"] != "test" {
			t.Errorf("single %v: resource %v, want service.name %s", tc.single, attrs, tc.want)
		}
	}

	rec := tracetest.NewSpanRecorder()
	cfg := flags(t, false, nil, "-otel-sample-ratio", "0")
	cfg.Processors = []sdktrace.SpanProcessor{rec}
	tel, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := tel.Provider("edge").Tracer("t")
	if _, s := tr.Start(t.Context(), "new trace"); s.IsRecording() {
		t.Error("ratio 0 records a new trace")
	}
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{3}, SpanID: trace.SpanID{4}, TraceFlags: trace.FlagsSampled, Remote: true})
	if _, s := tr.Start(trace.ContextWithRemoteSpanContext(t.Context(), sampled), "sampled caller"); !s.IsRecording() {
		t.Error("ratio 0 drops the trace of a sampled caller: the sampler is not parent-based")
	}
}
