package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// otlpSink is an OTLP/gRPC trace receiver that counts the spans the target
// exports to it and drops them (-otlp-sink): tracing's cost on the target is
// then measured with the export included, without a collector's CPU on the
// machine.
type otlpSink struct {
	coltracepb.UnimplementedTraceServiceServer
	spans atomic.Int64
	srv   *grpc.Server
	addr  string // bound
}

// startOTLPSink serves the sink on addr until stop.
func startOTLPSink(addr string) (*otlpSink, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("otlp sink: %w", err)
	}
	s := &otlpSink{srv: grpc.NewServer(), addr: lis.Addr().String()}
	coltracepb.RegisterTraceServiceServer(s.srv, s)
	go func() { _ = s.srv.Serve(lis) }()
	return s, nil
}

// Export implements the collector's trace service: it counts the spans.
func (s *otlpSink) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var n int64
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += int64(len(ss.GetSpans()))
		}
	}
	s.spans.Add(n)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// stop ends the sink and returns the spans it received.
func (s *otlpSink) stop() int64 {
	s.srv.Stop()
	return s.spans.Load()
}
