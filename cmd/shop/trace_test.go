package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/telemetry"
)

// The tracing tests read what every part of cmd/shop recorded
// (system.spans, system.logs) once the system has stopped (system.stop),
// when every span has ended.

// The gRPC methods an order calls, as their client and server spans are named.
const (
	rpcGetUser     = "kitshop.user.v1.UserService/GetUserInfo"
	rpcGetProducts = "kitshop.product.v1.ProductService/GetProductsInfo"
	rpcReserve     = "kitshop.product.v1.ProductService/ReserveStock"
	rpcPay         = "kitshop.payment.v1.PaymentService/MakePayment"
	rpcNotify      = "kitshop.notification.v1.NotificationService/SendPaymentNotification"
)

// hangCard is the simulator's card whose first charge hangs until the
// caller's deadline; a retry gets the approval (payment.TestCardHang).
const hangCard = "4000000000005126"

// postOrder sends POST /order and returns the status, the body and the
// X-Trace-Id response header.
func (s *system) postOrder(t *testing.T, headers map[string]string, body any) (int, []byte, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", s.base+"/order", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw, resp.Header.Get(telemetry.TraceIDHeader)
}

// traceTree is the spans of one trace, by id and by parent.
type traceTree struct {
	spans    []sdktrace.ReadOnlySpan
	byID     map[trace.SpanID]sdktrace.ReadOnlySpan
	children map[trace.SpanID][]sdktrace.ReadOnlySpan
}

// traceOf returns the ended spans of trace id (hex), failing if it has none.
func traceOf(t *testing.T, rec *tracetest.SpanRecorder, id string) traceTree {
	t.Helper()
	tr := traceTree{byID: map[trace.SpanID]sdktrace.ReadOnlySpan{}, children: map[trace.SpanID][]sdktrace.ReadOnlySpan{}}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() != id {
			continue
		}
		tr.spans = append(tr.spans, s)
		tr.byID[s.SpanContext().SpanID()] = s
		tr.children[s.Parent().SpanID()] = append(tr.children[s.Parent().SpanID()], s)
	}
	if len(tr.spans) == 0 {
		t.Fatalf("no span of trace %q was recorded", id)
	}
	return tr
}

// root returns the trace's one span whose parent is not in the trace: the
// trace is one tree, no span of it hangs apart.
func (tr traceTree) root(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	var roots []sdktrace.ReadOnlySpan
	for _, s := range tr.spans {
		if _, ok := tr.byID[s.Parent().SpanID()]; !ok {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 {
		t.Fatalf("trace has %d roots, want 1: %s", len(roots), describe(roots))
	}
	return roots[0]
}

// named returns the children of parent called name, of kind kind.
func (tr traceTree) named(parent sdktrace.ReadOnlySpan, name string, kind trace.SpanKind) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tr.children[parent.SpanContext().SpanID()] {
		if s.Name() == name && s.SpanKind() == kind {
			out = append(out, s)
		}
	}
	return out
}

// child returns the one child of parent called name, of kind kind, in the
// resource of service.
func (tr traceTree) child(t *testing.T, parent sdktrace.ReadOnlySpan, name string, kind trace.SpanKind, service string) sdktrace.ReadOnlySpan {
	t.Helper()
	found := tr.named(parent, name, kind)
	if len(found) != 1 {
		t.Fatalf("%d %v spans %q under %s, want 1; its children: %s", len(found), kind, name, describe([]sdktrace.ReadOnlySpan{parent}),
			describe(tr.children[parent.SpanContext().SpanID()]))
	}
	if got := serviceOf(found[0]); got != service {
		t.Errorf("span %q is in service %q's resource, want %q", name, got, service)
	}
	return found[0]
}

// callee checks one attempt of caller's call of rpc (a client span): it is in
// caller's resource, names its method, and has the callee's server span as
// child, whose child is the callee's endpoint span "<callee>/<Method>".
func (tr traceTree) callee(t *testing.T, client sdktrace.ReadOnlySpan, caller, callee, rpc string) {
	t.Helper()
	if got := serviceOf(client); got != caller {
		t.Errorf("client span %q is in service %q's resource, want %q", rpc, got, caller)
	}
	if got := attr(client.Attributes(), "rpc.method"); got != rpc {
		t.Errorf("client span %q has rpc.method %q", rpc, got)
	}
	server := tr.child(t, client, rpc, trace.SpanKindServer, callee)
	tr.child(t, server, callee+"/"+rpc[strings.LastIndex(rpc, "/")+1:], trace.SpanKindInternal, callee)
}

// serviceOf is the service.name of a span's resource; attr a value by key.
func serviceOf(s sdktrace.ReadOnlySpan) string {
	return attr(s.Resource().Attributes(), "service.name")
}

func attr(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func describe(spans []sdktrace.ReadOnlySpan) string {
	var parts []string
	for _, s := range spans {
		parts = append(parts, fmt.Sprintf("%q (%v, %s)", s.Name(), s.SpanKind(), serviceOf(s)))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// orderTrace places one order of sample-1 paid with card, stops the system
// and returns the order's trace and its endpoint's span, checking the way
// from the root there: the edge's server span, the order service's, the
// endpoint's.
func orderTrace(t *testing.T, sys *system, card string) (traceTree, sdktrace.ReadOnlySpan) {
	t.Helper()
	code, raw, id := sys.postOrder(t, bearer(sys.signUp(t, "alice@example.com")), orderBody([]string{"sample-1"}, card, 1000))
	if code != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", code, raw)
	}
	sys.stop()
	tr := traceOf(t, sys.spans, id)
	root := tr.root(t)
	if root.SpanKind() != trace.SpanKindServer || serviceOf(root) != "edge" || root.Name() != "POST /order" {
		t.Fatalf("root span %s, want the edge's server span", describe([]sdktrace.ReadOnlySpan{root}))
	}
	servers := tr.children[root.SpanContext().SpanID()]
	if len(servers) != 1 || servers[0].SpanKind() != trace.SpanKindServer || serviceOf(servers[0]) != config.Order {
		t.Fatalf("under the edge's span %s, want the order service's server span", describe(servers))
	}
	ep := tr.child(t, servers[0], "order/CreateOrder", trace.SpanKindInternal, config.Order)
	if got := attr(ep.Attributes(), "kitshop.outcome"); got != "ok" {
		t.Errorf("order/CreateOrder outcome %q, want ok", got)
	}
	return tr, ep
}

// TestTraceOfAnOrder: one POST /order is one trace, rooted at the edge, in
// which the order endpoint calls user, product (prices, reserve), payment and
// notification, each call a client span of the order service whose child is
// the callee's server span, in the callee's resource.
func TestTraceOfAnOrder(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	tr, ep := orderTrace(t, sys, approvedCard)
	if root := tr.root(t); root.Parent().IsValid() {
		t.Errorf("the edge's span has a parent %v, though the request carried no traceparent", root.Parent())
	}
	for _, c := range []struct{ callee, rpc string }{
		{config.User, rpcGetUser}, {config.Product, rpcGetProducts}, {config.Product, rpcReserve},
		{config.Payment, rpcPay}, {config.Notification, rpcNotify},
	} {
		tr.callee(t, tr.child(t, ep, c.rpc, trace.SpanKindClient, config.Order), config.Order, c.callee, c.rpc)
	}
}

// TestTraceparentIsHonoured: a request carrying a W3C traceparent is handled
// in that trace, whose id comes back in X-Trace-Id, and every service's log
// lines about it carry that trace_id (at debug level: the user and product
// services log their successful calls at Debug).
func TestTraceparentIsHonoured(t *testing.T) {
	t.Parallel()
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	sys := startSystem(t)
	hdr := bearer(sys.signUp(t, "kim@example.com"))
	hdr["traceparent"] = "00-" + traceID + "-" + parentID + "-01"
	code, raw, got := sys.postOrder(t, hdr, orderBody([]string{"sample-1"}, approvedCard, 1000))
	if code != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", code, raw)
	}
	if got != traceID {
		t.Errorf("X-Trace-Id %q, want the traceparent's %s", got, traceID)
	}
	var o orderJSON
	_ = json.Unmarshal(raw, &o) // 201: an order
	sys.stop()
	tr := traceOf(t, sys.spans, traceID)
	if root := tr.root(t); root.Parent().SpanID().String() != parentID || !root.Parent().IsRemote() {
		t.Errorf("the edge's span's parent is %v, want the caller's span %s", root.Parent(), parentID)
	}

	// Each service logs its endpoint calls as "<service> service call"
	// (internal/observe); every line naming the order is in its trace.
	logged := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(sys.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["trace_id"] == traceID {
			if sid, err := trace.SpanIDFromHex(fmt.Sprint(rec["span_id"])); err != nil || tr.byID[sid] == nil {
				t.Errorf("log line %q names span %v, which is not in the trace", line, rec["span_id"])
			}
			if msg, _ := rec["msg"].(string); strings.HasSuffix(msg, " service call") {
				logged[strings.TrimSuffix(msg, " service call")] = true
			}
		} else if strings.Contains(line, o.ID) {
			t.Errorf("a line about order %s is not in its trace: %s", o.ID, line)
		}
	}
	for _, name := range config.ServiceNames() {
		if !logged[name] {
			t.Errorf("no line of the %s service carries trace_id %s", name, traceID)
		}
	}
}

// TestTraceShowsRetries: the payment's first answer is lost (the hang card),
// so the order service's idempotent MakePayment is tried twice: two client
// spans under the endpoint's, the first failed by its deadline, each with
// the payment service's server span, and a "retry" event between them.
func TestTraceShowsRetries(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "-client-attempt-timeout", "1s")
	tr, ep := orderTrace(t, sys, hangCard)
	attempts := tr.named(ep, rpcPay, trace.SpanKindClient)
	if len(attempts) != 2 {
		t.Fatalf("%d %s client spans under order/CreateOrder, want 2 attempts", len(attempts), rpcPay)
	}
	for _, a := range attempts {
		tr.callee(t, a, config.Order, config.Payment, rpcPay)
	}
	first, second := attempts[0], attempts[1]
	if first.StartTime().After(second.StartTime()) {
		first, second = second, first
	}
	if a, b := attr(first.Attributes(), "rpc.response.status_code"), attr(second.Attributes(), "rpc.response.status_code"); a != "DEADLINE_EXCEEDED" || b != "OK" {
		t.Errorf("the attempts ended %s then %s, want DEADLINE_EXCEEDED then OK", a, b)
	}
	var retries []sdktrace.Event
	for _, e := range ep.Events() {
		if e.Name == "retry" {
			retries = append(retries, e)
		}
	}
	if len(retries) != 1 {
		t.Fatalf("order/CreateOrder has %d retry events, want 1: %v", len(retries), ep.Events())
	}
	e := retries[0]
	if attr(e.Attributes, "kitshop.attempt") != "2" || attr(e.Attributes, "kitshop.previous") != "deadline_exceeded" {
		t.Errorf("retry event %v, want attempt 2 after deadline_exceeded", e.Attributes)
	}
	if e.Time.Before(first.EndTime()) || e.Time.After(second.StartTime()) {
		t.Errorf("retry event at %v, not between the first attempt's end %v and the second's start %v", e.Time, first.EndTime(), second.StartTime())
	}
}

// TestTraceOfAnOutboxDelivery: with -notify-within negative, the order's
// notification is left to the outbox; the worker that delivers it later
// (span "order/work") continues the request's trace, so the delivery's call
// and the notification service's spans are in it, under the one root.
func TestTraceOfAnOutboxDelivery(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "-notify-within", "-1ns")
	tok := sys.signUp(t, "alice@example.com")
	var o orderJSON
	code, raw, id := sys.postOrder(t, bearer(tok), orderBody([]string{"sample-1"}, approvedCard, 1000))
	if code != http.StatusCreated || json.Unmarshal(raw, &o) != nil || o.Status != "PaymentProcessed" {
		t.Fatalf("POST /order: %d %s, want 201 PaymentProcessed", code, raw)
	}
	sys.waitStatus(t, tok, o.ID, "DeliveryStarted")
	sys.stop()
	tr := traceOf(t, sys.spans, id)
	tr.root(t) // the work's spans hang in the request's tree
	var delivered int
	for _, s := range tr.spans {
		if s.Name() != "order/work" {
			continue
		}
		if got := serviceOf(s); got != config.Order {
			t.Errorf("order/work span in service %q's resource", got)
		}
		for _, c := range tr.named(s, rpcNotify, trace.SpanKindClient) {
			tr.callee(t, c, config.Order, config.Notification, rpcNotify)
			delivered++
		}
	}
	if delivered != 1 {
		t.Fatalf("%d deliveries by the outbox in the order's trace, want 1; its spans: %s", delivered, describe(tr.spans))
	}
}
