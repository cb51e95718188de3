package telemetry

import (
	"flag"
	"net/url"
	"os"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP protocols Config.Protocol takes (OTEL_EXPORTER_OTLP_PROTOCOL's
// values).
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Config is a process's tracing settings. RegisterFlags takes each default
// from the standard OpenTelemetry variable, so that OTEL_* configures a
// kitshop process as any other, and a flag (or its KITSHOP_* variable) wins.
type Config struct {
	// Endpoint is the OTLP collector's base URL, e.g. http://jaeger:4317 for
	// gRPC or http://jaeger:4318 for HTTP (-otel-endpoint,
	// OTEL_EXPORTER_OTLP_ENDPOINT); http:// sends in plaintext, https:// over
	// TLS. Empty: nothing is exported, unless
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, which then wins, as the
	// OpenTelemetry rules have it.
	Endpoint string
	// Protocol is grpc or http/protobuf (-otel-protocol,
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL).
	Protocol string
	// SampleRatio is the share of new traces recorded, from 0 to 1
	// (-otel-sample-ratio; from OTEL_TRACES_SAMPLER and its argument). The
	// sampler is parent-based: a call whose caller's trace is sampled is
	// recorded, one whose caller's is not is not.
	SampleRatio float64
	// ServiceName replaces the service.name of a process running one service
	// (-otel-service-name, OTEL_SERVICE_NAME); cmd/shop, which runs six,
	// names each itself.
	ServiceName string
	// Processors also receive every span, whether or not anything is
	// exported: for tests, e.g. a tracetest.SpanRecorder.
	Processors []sdktrace.SpanProcessor

	// single is set by RegisterFlags for a process of one service.
	single bool
}

// RegisterFlags defines -otel-endpoint, -otel-protocol and
// -otel-sample-ratio on fs, and -otel-service-name when the process runs one
// service (single).
func (c *Config) RegisterFlags(fs *flag.FlagSet, single bool) {
	c.single = single
	fs.StringVar(&c.Endpoint, "otel-endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
		"OTLP collector base URL for traces (http://host:4317 for grpc, http://host:4318 for http/protobuf; https:// for TLS); empty: nothing exported")
	fs.StringVar(&c.Protocol, "otel-protocol", firstSet("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", ProtocolGRPC),
		"OTLP protocol: grpc or http/protobuf")
	fs.Float64Var(&c.SampleRatio, "otel-sample-ratio", ratioFromEnv(),
		"share of new traces recorded, 0 to 1 (parent-based: a traced caller's choice is kept)")
	if single {
		fs.StringVar(&c.ServiceName, "otel-service-name", os.Getenv("OTEL_SERVICE_NAME"), "service.name of the process's traces (default: the service's name)")
	}
}

// Check reports, through bad, each flag of RegisterFlags set to a value the
// process refuses. The endpoint is never echoed: a URL may carry a secret.
func (c Config) Check(bad func(flagName, format string, args ...any)) {
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		switch {
		case err != nil:
			bad("otel-endpoint", "not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			bad("otel-endpoint", "scheme must be http or https")
		case u.Host == "":
			bad("otel-endpoint", "missing host")
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			bad("otel-endpoint", "want scheme://host:port[/path], without user, query or fragment (headers go in OTEL_EXPORTER_OTLP_HEADERS)")
		}
	}
	if c.Protocol != ProtocolGRPC && c.Protocol != ProtocolHTTP {
		bad("otel-protocol", "%q: want grpc or http/protobuf", c.Protocol)
	}
	if !(c.SampleRatio >= 0 && c.SampleRatio <= 1) {
		bad("otel-sample-ratio", "%v: must be from 0 to 1", c.SampleRatio)
	}
}

// exporting reports whether an endpoint is set.
func (c Config) exporting() bool { return c.Endpoint != "" || c.tracesEndpointFromEnv() }

func (c Config) tracesEndpointFromEnv() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// firstSet returns the first of the variables set, or def.
func firstSet(a, b, def string) string {
	for _, k := range []string{a, b} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return def
}

// ratioFromEnv is the sample ratio that OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG describe: the argument of a (parent-based) trace
// id ratio sampler, 0 for always_off, 1 otherwise. An argument that does not
// parse is -1, which Check refuses.
func ratioFromEnv() float64 {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER"))) {
	case "always_off", "parentbased_always_off":
		return 0
	case "traceidratio", "parentbased_traceidratio":
		arg := strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG"))
		if arg == "" {
			return 1
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return -1
		}
		return v
	}
	return 1
}
