// Package telemetrytest is a real OTLP trace receiver for tests: the
// collector's TraceService (go.opentelemetry.io/proto/otlp) on a loopback
// gRPC listener, and OTLP/HTTP (protobuf, POST /v1/traces) on a loopback
// HTTP one, keeping every span exported to either with its resource and
// instrumentation scope. A test points processes at it (-otel-endpoint
// GRPCEndpoint() with -otel-protocol grpc, HTTPEndpoint() with
// http/protobuf) and waits for the spans of a trace:
//
//	rcv := telemetrytest.Start(t)
//	// ... start processes exporting to rcv.GRPCEndpoint(), make a request ...
//	spans, err := rcv.Wait(ctx, func(all telemetrytest.Spans) error {
//		return check(all.Trace(traceID))
//	})
//
// Export is asynchronous (a batch span processor sends when its delay
// passes), so a test does not know when the spans arrive: Wait checks its
// condition again on each export received, until it holds or ctx ends.
package telemetrytest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // OTEL_EXPORTER_OTLP_COMPRESSION=gzip
	"google.golang.org/protobuf/proto"
)

// TracesPath is where OTLP/HTTP posts traces.
const TracesPath = "/v1/traces"

// maxExportBytes bounds an OTLP/HTTP request's body, decompressed.
const maxExportBytes = 64 << 20

// Receiver keeps every span exported to it. Its methods are safe for
// concurrent use.
type Receiver struct {
	grpcAddr, httpAddr string
	grpc               *grpc.Server
	http               *http.Server

	mu      sync.Mutex
	spans   Spans
	exports int
	// changed is closed, and replaced, on each export received.
	changed chan struct{}
}

// Start runs a Receiver on two 127.0.0.1 ports the kernel picks, until the
// test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// New runs a Receiver on two 127.0.0.1 ports the kernel picks, until Close:
// for a receiver shared by several tests (Start is for one).
func New() (*Receiver, error) {
	r := &Receiver{changed: make(chan struct{})}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, err
	}
	r.grpc = grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(r.grpc, traceService{r: r})
	go func() { _ = r.grpc.Serve(gl) }()
	r.grpcAddr = gl.Addr().String()

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TracesPath, r.serveHTTP)
	r.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.http.Serve(hl) }()
	r.httpAddr = hl.Addr().String()
	return r, nil
}

// Close stops both listeners.
func (r *Receiver) Close() {
	r.grpc.Stop()
	_ = r.http.Close()
}

// GRPCEndpoint is the base URL of the OTLP/gRPC listener (plaintext).
func (r *Receiver) GRPCEndpoint() string { return "http://" + r.grpcAddr }

// HTTPEndpoint is the base URL of the OTLP/HTTP listener (plaintext): the
// exporters post to it joined with TracesPath.
func (r *Receiver) HTTPEndpoint() string { return "http://" + r.httpAddr }

// Spans returns every span received so far, in the order received.
func (r *Receiver) Spans() Spans {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(Spans(nil), r.spans...)
}

// Wait returns the spans received once cond returns nil for them, checking
// it now and after each export received. When ctx ends first, it returns
// the spans and an error wrapping cond's last one.
func (r *Receiver) Wait(ctx context.Context, cond func(Spans) error) (Spans, error) {
	for {
		r.mu.Lock()
		spans, exports, changed := append(Spans(nil), r.spans...), r.exports, r.changed
		r.mu.Unlock()
		err := cond(spans)
		if err == nil {
			return spans, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return spans, fmt.Errorf("after %d exports (%d spans): %w", exports, len(spans), err)
		}
	}
}

// add keeps the spans of one export and wakes the waiters.
func (r *Receiver) add(req *coltracepb.ExportTraceServiceRequest) {
	var got Spans
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{Resource: rs.GetResource(), Scope: ss.GetScope(), Span: s})
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, got...)
	r.exports++
	close(r.changed)
	r.changed = make(chan struct{})
}

// traceService is the OTLP/gRPC TraceService of a Receiver.
type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.r.add(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// serveHTTP is OTLP/HTTP's POST /v1/traces, in its binary protobuf
// encoding, its body plain or gzip-compressed. JSON, the other encoding the
// specification allows, is answered 415: no kitshop exporter sends it.
func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, fmt.Sprintf("Content-Type %q: want application/x-protobuf", ct), http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, "gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	default:
		http.Error(w, fmt.Sprintf("Content-Encoding %q: want gzip or none", enc), http.StatusUnsupportedMediaType)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxExportBytes+1))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(raw) > maxExportBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var export coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &export); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&export)
	resp, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// Span is one span received, with the resource and the instrumentation
// scope it was exported with.
type Span struct {
	Resource *resourcepb.Resource
	Scope    *commonpb.InstrumentationScope
	*tracepb.Span
}

// Service is the span's service.name.
func (s Span) Service() string { return Attr(s.Resource.GetAttributes(), "service.name") }

// TraceID is the span's trace id in hex, as X-Trace-Id and traceparent
// carry it.
func (s Span) TraceID() string { return hex.EncodeToString(s.GetTraceId()) }

// ID is the span's id in hex.
func (s Span) ID() string { return hex.EncodeToString(s.GetSpanId()) }

// ParentID is the id of the span's parent in hex, empty for a root span.
func (s Span) ParentID() string { return hex.EncodeToString(s.GetParentSpanId()) }

// Attr is the span attribute key's value as a string (see Attr).
func (s Span) Attr(key string) string { return Attr(s.GetAttributes(), key) }

// String describes the span for failure messages.
func (s Span) String() string {
	return fmt.Sprintf("%s %q %s id=%s parent=%s", s.Service(), s.GetName(), s.GetKind(), s.ID(), s.ParentID())
}

// Attr returns the value of key among kvs as a string: a string value as it
// is, another value as its protobuf text; empty when key is not there.
func Attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() != key {
			continue
		}
		if v, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
			return v.StringValue
		}
		return kv.GetValue().String()
	}
	return ""
}

// Spans are spans received.
type Spans []Span

// Trace returns the spans of the trace id (hex).
func (ss Spans) Trace(id string) Spans {
	return ss.Filter(func(s Span) bool { return s.TraceID() == id })
}

// Filter returns the spans for which keep is true.
func (ss Spans) Filter(keep func(Span) bool) Spans {
	var out Spans
	for _, s := range ss {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// One returns the one span for which match is true, or an error naming
// what (and listing ss) when there is none or more than one.
func (ss Spans) One(what string, match func(Span) bool) (Span, error) {
	found := ss.Filter(match)
	if len(found) != 1 {
		return Span{}, fmt.Errorf("%d spans are %s, want 1; the trace has:\n%s", len(found), what, ss)
	}
	return found[0], nil
}

// Children returns the spans whose parent is p.
func (ss Spans) Children(p Span) Spans {
	return ss.Filter(func(s Span) bool { return s.ParentID() == p.ID() && bytes.Equal(s.GetTraceId(), p.GetTraceId()) })
}

// String lists the spans, one a line.
func (ss Spans) String() string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString("  " + s.String() + "\n")
	}
	return b.String()
}
