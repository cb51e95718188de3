package telemetrytest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/telemetry"
	"github.com/kitshop/kitshop/internal/telemetry/telemetrytest"
)

// TestReceiverKeepsExportedSpans exports a parent and a child span through
// kitshop's exporters (telemetry.New: otlptracegrpc or otlptracehttp), over
// each protocol, plain and gzip-compressed, and finds both in the receiver,
// with their resource, scope, attributes and link.
func TestReceiverKeepsExportedSpans(t *testing.T) {
	for _, tc := range []struct {
		name, protocol string
		gzip           bool
	}{
		{"grpc", telemetry.ProtocolGRPC, false},
		{"grpc-gzip", telemetry.ProtocolGRPC, true},
		{"http", telemetry.ProtocolHTTP, false},
		{"http-gzip", telemetry.ProtocolHTTP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // ms: the batch leaves on its own, before any Shutdown
			if tc.gzip {
				t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
			}
			rcv := telemetrytest.Start(t)
			endpoint := rcv.GRPCEndpoint()
			if tc.protocol == telemetry.ProtocolHTTP {
				endpoint = rcv.HTTPEndpoint()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			tel, err := telemetry.New(ctx, telemetry.Config{Endpoint: endpoint, Protocol: tc.protocol, SampleRatio: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := tel.Shutdown(ctx); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			}()

			tracer := tel.Provider("demo").Tracer("kitshop/test")
			pctx, parent := tracer.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("kitshop.outcome", "ok")))
			_, child := tracer.Start(pctx, "child")
			child.End()
			parent.End()
			traceID := parent.SpanContext().TraceID().String()

			spans, err := rcv.Wait(ctx, func(all telemetrytest.Spans) error {
				if n := len(all.Trace(traceID)); n != 2 {
					return errors.New("not both spans yet")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			tr := spans.Trace(traceID)
			p, err := tr.One("the parent", func(s telemetrytest.Span) bool { return s.GetName() == "parent" })
			if err != nil {
				t.Fatal(err)
			}
			if p.ID() != parent.SpanContext().SpanID().String() || p.ParentID() != "" || p.GetKind().String() != "SPAN_KIND_SERVER" {
				t.Errorf("parent received as %s, want id %s, a root, kind server", p, parent.SpanContext().SpanID())
			}
			if got := p.Attr("kitshop.outcome"); got != "ok" {
				t.Errorf("parent's kitshop.outcome %q, want ok", got)
			}
			if kids := tr.Children(p); len(kids) != 1 || kids[0].GetName() != "child" {
				t.Errorf("children of the parent: %v, want the child", kids)
			}
			for _, s := range tr {
				if s.Service() != "demo" || telemetrytest.Attr(s.Resource.GetAttributes(), "service.namespace") != telemetry.Namespace {
					t.Errorf("%s: resource %v, want service.name demo in namespace %s", s, s.Resource, telemetry.Namespace)
				}
				if s.Scope.GetName() != "kitshop/test" {
					t.Errorf("%s: scope %q, want kitshop/test", s, s.Scope.GetName())
				}
			}
		})
	}
}

// TestReceiverRefusesBadHTTPExports: a JSON body, an unknown encoding and
// bytes that are not an export request are refused with a 4xx, and keep no
// span.
func TestReceiverRefusesBadHTTPExports(t *testing.T) {
	t.Parallel()
	rcv := telemetrytest.Start(t)
	for _, tc := range []struct {
		name, contentType, encoding, body string
		want                              int
	}{
		{"json", "application/json", "", `{"resourceSpans":[]}`, http.StatusUnsupportedMediaType},
		{"brotli", "application/x-protobuf", "br", "\x00", http.StatusUnsupportedMediaType},
		{"not gzip", "application/x-protobuf", "gzip", "plain", http.StatusBadRequest},
		{"not protobuf", "application/x-protobuf", "", "\xff\xff\xff", http.StatusBadRequest},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rcv.HTTPEndpoint()+telemetrytest.TracesPath, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tc.contentType)
		if tc.encoding != "" {
			req.Header.Set("Content-Encoding", tc.encoding)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if n := len(rcv.Spans()); n != 0 {
		t.Errorf("%d spans kept from refused exports", n)
	}
}

// TestWaitEndsWithTheCondition: when ctx ends before the condition holds,
// Wait returns the condition's last error.
func TestWaitEndsWithTheCondition(t *testing.T) {
	t.Parallel()
	rcv := telemetrytest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	errMissing := errors.New("span missing")
	if _, err := rcv.Wait(ctx, func(telemetrytest.Spans) error { return errMissing }); !errors.Is(err, errMissing) {
		t.Errorf("Wait = %v, want the condition's error", err)
	}
}
