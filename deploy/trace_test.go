package deploy

import (
	"context"
	"fmt"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kitshop/kitshop/internal/telemetry/telemetrytest"
)

// TestTraceAcrossProcesses: the first paid order of the running system is
// one trace in the test's OTLP receiver, exported by two processes over
// both protocols: cmd/edge's server span (OTLP/HTTP) → its proxy's client
// span → the order service's HTTP server span in cmd/shop (OTLP/gRPC) → the
// order endpoint → a client span per call to user, product, payment and
// notification, each the parent of the callee's server span in the callee's
// service.
func TestTraceAcrossProcesses(t *testing.T) {
	s := runningSystem(t)
	if s.paidTrace == "" {
		t.Fatal("the paid order's response had no X-Trace-Id")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.traces.Wait(ctx, func(all telemetrytest.Spans) error {
		return checkOrderTree(all.Trace(s.paidTrace))
	}); err != nil {
		t.Fatal(err)
	}
}

// checkOrderTree says what the trace of an order lacks, nil when complete.
func checkOrderTree(spans telemetrytest.Spans) error {
	is := func(service string, kind tracepb.Span_SpanKind, name string) func(telemetrytest.Span) bool {
		return func(s telemetrytest.Span) bool {
			return s.Service() == service && s.GetKind() == kind && (name == "" || s.GetName() == name)
		}
	}
	root, err := spans.Filter(func(s telemetrytest.Span) bool { return len(s.GetParentSpanId()) == 0 }).
		One("the root", is("edge", tracepb.Span_SPAN_KIND_SERVER, "POST /order"))
	if err != nil {
		return err
	}
	proxy, err := spans.Children(root).One("the edge's proxy request", is("edge", tracepb.Span_SPAN_KIND_CLIENT, ""))
	if err != nil {
		return err
	}
	server, err := spans.Children(proxy).One("the order service's HTTP server span", is("order", tracepb.Span_SPAN_KIND_SERVER, "POST /order"))
	if err != nil {
		return err
	}
	endpoint, err := spans.Children(server).One("the order endpoint", is("order", tracepb.Span_SPAN_KIND_INTERNAL, "order/CreateOrder"))
	if err != nil {
		return err
	}
	for _, call := range []struct{ callee, method string }{
		{"user", "kitshop.user.v1.UserService/GetUserInfo"},
		{"product", "kitshop.product.v1.ProductService/ReserveStock"},
		{"payment", "kitshop.payment.v1.PaymentService/MakePayment"},
		{"notification", "kitshop.notification.v1.NotificationService/SendPaymentNotification"},
	} {
		client, err := spans.Children(endpoint).One("order's call "+call.method, is("order", tracepb.Span_SPAN_KIND_CLIENT, call.method))
		if err != nil {
			return err
		}
		if _, err := spans.Children(client).One(call.callee+"'s server span", is(call.callee, tracepb.Span_SPAN_KIND_SERVER, call.method)); err != nil {
			return fmt.Errorf("under %s: %w", call.method, err)
		}
	}
	return nil
}
