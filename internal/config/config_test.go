package config

import (
	"bytes"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/telemetry"
)

func newFlagSet(c *Service) (*flag.FlagSet, *bytes.Buffer) {
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	c.Register(fs, User, UserGRPCPort, UserHTTPPort)
	return fs, &out
}

// TestDefaultAddressesAreLoopback checks every service's default listen
// addresses: loopback, on its own ports.
func TestDefaultAddressesAreLoopback(t *testing.T) {
	for _, name := range ServiceNames() {
		p, _ := DefaultPorts(name)
		var c Service
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		c.Register(fs, name, p.GRPC, p.HTTP)
		if err := Parse(fs, nil); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("127.0.0.1:%d", p.GRPC); c.GRPCAddr != want {
			t.Errorf("%s: -grpc-addr defaults to %q, want %q", name, c.GRPCAddr, want)
		}
		if want := fmt.Sprintf("127.0.0.1:%d", p.HTTP); c.HTTPAddr != want {
			t.Errorf("%s: -http-addr defaults to %q, want %q", name, c.HTTPAddr, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	var c Service
	fs, _ := newFlagSet(&c)
	if err := Parse(fs, nil); err != nil {
		t.Fatal(err)
	}
	want := Service{
		Name: "user", GRPCAddr: "127.0.0.1:50051", HTTPAddr: "127.0.0.1:8081", DataDir: "./data",
		Process: Process{LogLevel: "info", LogFormat: "text", ShutdownTimeout: 10 * time.Second, MaxBodyBytes: 1 << 20},
		Auth:    ServiceAuth{Reflection: true},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	// The tracing defaults come from OTEL_* (internal/telemetry tests them);
	// without them: nothing exported, every new trace sampled.
	if tr := c.Tracing; tr.Endpoint != "" || tr.Protocol != "grpc" || tr.SampleRatio != 1 || tr.ServiceName != "" {
		t.Errorf("tracing defaults %+v", tr)
	}
	c.Tracing = want.Tracing
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestEnvFallbackAndFlagWins(t *testing.T) {
	t.Setenv("KITSHOP_GRPC_ADDR", "127.0.0.1:6000")
	t.Setenv("KITSHOP_HTTP_ADDR", "127.0.0.1:6001")
	t.Setenv("KITSHOP_SHUTDOWN_TIMEOUT", "3s")
	t.Setenv("KITSHOP_MAX_BODY_BYTES", "2048")
	t.Setenv("KITSHOP_LOG_LEVEL", "") // empty counts as unset

	var c Service
	fs, _ := newFlagSet(&c)
	if err := Parse(fs, []string{"-http-addr", "127.0.0.1:7001"}); err != nil {
		t.Fatal(err)
	}
	if c.GRPCAddr != "127.0.0.1:6000" {
		t.Errorf("grpc-addr from env: got %q", c.GRPCAddr)
	}
	if c.HTTPAddr != "127.0.0.1:7001" {
		t.Errorf("http-addr: command line must win over env, got %q", c.HTTPAddr)
	}
	if c.ShutdownTimeout != 3*time.Second || c.MaxBodyBytes != 2048 {
		t.Errorf("typed env values: got %v, %d", c.ShutdownTimeout, c.MaxBodyBytes)
	}
	if c.LogLevel != "info" {
		t.Errorf("empty env must keep the default, got %q", c.LogLevel)
	}
}

func TestParseBadEnvValueNamesVariable(t *testing.T) {
	t.Setenv("KITSHOP_SHUTDOWN_TIMEOUT", "soon")
	var c Service
	fs, _ := newFlagSet(&c)
	err := Parse(fs, nil)
	if err == nil || !strings.Contains(err.Error(), "KITSHOP_SHUTDOWN_TIMEOUT") {
		t.Fatalf("got %v, want an error naming KITSHOP_SHUTDOWN_TIMEOUT", err)
	}
}

func TestParseRejectsPositionalArguments(t *testing.T) {
	var c Service
	fs, _ := newFlagSet(&c)
	if err := Parse(fs, []string{"-log-level", "debug", "extra"}); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("got %v", err)
	}
}

func TestHelpListsEnvNamesAndDefaults(t *testing.T) {
	var c Service
	fs, out := newFlagSet(&c)
	err := Parse(fs, []string{"-h"})
	if err != flag.ErrHelp {
		t.Fatalf("got %v, want flag.ErrHelp itself", err)
	}
	help := out.String()
	for _, want := range []string{
		"Usage: user",
		"-grpc-addr string", "KITSHOP_GRPC_ADDR", `default "127.0.0.1:50051"`,
		"-http-addr string", "KITSHOP_HTTP_ADDR", `default "127.0.0.1:8081"`,
		"-mongo-uri string", "KITSHOP_MONGO_URI", `default ""`,
		"-data-dir string", "KITSHOP_DATA_DIR", `default "./data"`,
		"-log-level string", "KITSHOP_LOG_LEVEL", `default "info"`,
		"-log-format string", "KITSHOP_LOG_FORMAT", `default "text"`,
		"-shutdown-timeout duration", "KITSHOP_SHUTDOWN_TIMEOUT", "default 10s",
		"-max-body-bytes int", "KITSHOP_MAX_BODY_BYTES", "default 1048576",
		"-tls-cert string", "KITSHOP_TLS_CERT", "-tls-key string", "KITSHOP_TLS_KEY", "-tls-ca string", "KITSHOP_TLS_CA",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help output lacks %q:\n%s", want, help)
		}
	}
}

func TestValidateMessages(t *testing.T) {
	valid := func() Service {
		return Service{
			Name: "order", GRPCAddr: ":50053", HTTPAddr: ":8083", DataDir: "./data",
			Process: Process{LogLevel: "info", LogFormat: "json", ShutdownTimeout: time.Second, MaxBodyBytes: 1,
				Tracing: telemetry.Config{Protocol: telemetry.ProtocolGRPC, SampleRatio: 1}},
		}
	}
	tests := []struct {
		name   string
		mutate func(*Service)
		want   []string
	}{
		{"grpc addr without port", func(c *Service) { c.GRPCAddr = "localhost" }, []string{"-grpc-addr", "KITSHOP_GRPC_ADDR", `"localhost"`}},
		{"http addr bad port", func(c *Service) { c.HTTPAddr = ":http8" }, []string{"-http-addr", "KITSHOP_HTTP_ADDR", "0..65535"}},
		{"http addr port too big", func(c *Service) { c.HTTPAddr = ":70000" }, []string{"-http-addr", "KITSHOP_HTTP_ADDR"}},
		{"empty grpc addr", func(c *Service) { c.GRPCAddr = "" }, []string{"-grpc-addr", "KITSHOP_GRPC_ADDR", "empty"}},
		{"same addresses", func(c *Service) { c.HTTPAddr = ":50053" }, []string{"-http-addr", "KITSHOP_HTTP_ADDR", "-grpc-addr"}},
		{"mongo scheme", func(c *Service) { c.MongoURI = "postgres://u:secret@h/db" }, []string{"-mongo-uri", "KITSHOP_MONGO_URI", "mongodb://"}},
		{"no data dir", func(c *Service) { c.DataDir = "" }, []string{"-data-dir", "KITSHOP_DATA_DIR"}},
		{"log level", func(c *Service) { c.LogLevel = "verbose" }, []string{"-log-level", "KITSHOP_LOG_LEVEL", `"verbose"`}},
		{"log format", func(c *Service) { c.LogFormat = "xml" }, []string{"-log-format", "KITSHOP_LOG_FORMAT", `"xml"`}},
		{"zero timeout", func(c *Service) { c.ShutdownTimeout = 0 }, []string{"-shutdown-timeout", "KITSHOP_SHUTDOWN_TIMEOUT", "positive"}},
		{"negative body", func(c *Service) { c.MaxBodyBytes = -1 }, []string{"-max-body-bytes", "KITSHOP_MAX_BODY_BYTES", "positive"}},
		{"otel endpoint", func(c *Service) { c.Tracing.Endpoint = "collector:4317" }, []string{"-otel-endpoint", "KITSHOP_OTEL_ENDPOINT", "scheme"}},
		{"otel ratio", func(c *Service) { c.Tracing.SampleRatio = 2 }, []string{"-otel-sample-ratio", "KITSHOP_OTEL_SAMPLE_RATIO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted invalid settings")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("message leaks the Mongo password: %q", err)
			}
		})
	}

	t.Run("reports every problem", func(t *testing.T) {
		c := valid()
		c.LogLevel, c.ShutdownTimeout = "loud", -time.Second
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "-log-level") || !strings.Contains(err.Error(), "-shutdown-timeout") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("accepts mongo uri and port zero", func(t *testing.T) {
		c := valid()
		c.MongoURI, c.DataDir, c.GRPCAddr, c.HTTPAddr = "mongodb://mongo:27017/kitshop", "", "127.0.0.1:0", "127.0.0.1:0"
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("accepts the embedded store's socket uri", func(t *testing.T) {
		c := valid()
		c.MongoURI = "mongodb://%2Fvar%2Flib%2Fkitshop%2Fdocstore.sock/?maxPoolSize=1&retryWrites=false"
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDefaultPorts(t *testing.T) {
	seen := map[int]bool{}
	for _, name := range ServiceNames() {
		p, ok := DefaultPorts(name)
		if !ok {
			t.Fatalf("no ports for %q", name)
		}
		if seen[p.GRPC] || seen[p.HTTP] {
			t.Fatalf("%s reuses a port: %+v", name, p)
		}
		seen[p.GRPC], seen[p.HTTP] = true, true
	}
	if p, _ := DefaultPorts(Payment); p != (Ports{GRPC: 50054, HTTP: 8084}) {
		t.Fatalf("payment ports: %+v", p)
	}
	if _, ok := DefaultPorts("gateway"); ok {
		t.Fatal("unknown service has ports")
	}
}

func TestEveryFlagReadsItsEnvVar(t *testing.T) {
	if got := EnvVar("shutdown-timeout"); got != "KITSHOP_SHUTDOWN_TIMEOUT" {
		t.Fatalf("EnvVar: got %q", got)
	}
	values := map[string]string{
		"grpc-addr": "127.0.0.1:1", "http-addr": "127.0.0.1:2", "mongo-uri": "mongodb://m:27017",
		"data-dir": "/tmp/x", "log-level": "error", "log-format": "json", "shutdown-timeout": "1m0s",
		"max-body-bytes": "99", "tls-cert": "/etc/kitshop/tls.crt", "tls-key": "/etc/kitshop/tls.key",
		"tls-ca": "/etc/kitshop/ca.crt", "service-key-file": "/etc/kitshop/service/key.pem", "grpc-reflection": "false",
		"otel-endpoint": "http://jaeger:4317", "otel-protocol": "http/protobuf", "otel-sample-ratio": "0.1", "otel-service-name": "orders",
	}
	var c Service
	fs, _ := newFlagSet(&c)
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := values[f.Name]
		if !ok {
			t.Fatalf("flag -%s has no test value", f.Name)
		}
		t.Setenv(EnvVar(f.Name), v)
	})
	if err := Parse(fs, nil); err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if got := f.Value.String(); got != values[f.Name] {
			t.Errorf("-%s from %s: got %q, want %q", f.Name, EnvVar(f.Name), got, values[f.Name])
		}
	})
}

func TestServiceKeyPath(t *testing.T) {
	for _, c := range []struct{ dataDir, keyFile, want string }{
		{"data/user", "", "data/" + DefaultServiceKeyName},
		{"./data/order/", "", "data/" + DefaultServiceKeyName},
		{"/var/lib/kitshop/product", "", "/var/lib/kitshop/" + DefaultServiceKeyName},
		{"data/user", "/etc/kitshop/key.pem", "/etc/kitshop/key.pem"},
	} {
		s := Service{DataDir: c.dataDir, Auth: ServiceAuth{KeyFile: c.keyFile}}
		if got := s.Auth.KeyPath(s.ServiceKeyDir()); got != c.want {
			t.Errorf("-data-dir %q -service-key-file %q: %q, want %q", c.dataDir, c.keyFile, got, c.want)
		}
	}
}
