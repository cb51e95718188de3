package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/sony/gobreaker"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// paymentServer is a PaymentService whose answers the test sets, counting the
// calls that reach it.
type paymentServer struct {
	paymentv1.UnimplementedPaymentServiceServer
	hits   atomic.Int64
	answer atomic.Pointer[func(ctx context.Context) error] // nil: success
}

func (s *paymentServer) setAnswer(f func(ctx context.Context) error) { s.answer.Store(&f) }

func (s *paymentServer) fail(code codes.Code) {
	s.setAnswer(func(context.Context) error { return status.Error(code, "test "+code.String()) })
}

func (s *paymentServer) succeed() { s.answer.Store(nil) }

func (s *paymentServer) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	s.hits.Add(1)
	if f := s.answer.Load(); f != nil {
		if err := (*f)(ctx); err != nil {
			return nil, err
		}
	}
	return &paymentv1.GetPaymentResponse{Payment: &paymentv1.Payment{OrderId: req.GetOrderId(), Amount: 1000}}, nil
}

// startPayment serves a paymentServer on a loopback port and returns it with
// a connection made by Dial (a dns:/// target, as in production) with extra.
func startPayment(t testing.TB, extra ...grpc.DialOption) (*paymentServer, *grpc.ClientConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ps := &paymentServer{}
	paymentv1.RegisterPaymentServiceServer(srv, ps)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := Dial("dns:///"+lis.Addr().String(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return ps, conn
}

// testConfig has short times and no retries; tests change what they need.
func testConfig() Config {
	return Config{
		AttemptTimeout:          2 * time.Second,
		RetryBudget:             2 * time.Second,
		MaxAttempts:             1,
		BackoffBase:             time.Millisecond,
		BackoffMax:              2 * time.Millisecond,
		BreakerFailures:         3,
		BreakerOpenTimeout:      time.Minute,
		BreakerHalfOpenRequests: 1,
	}
}

func getPayment(t testing.TB, conn *grpc.ClientConn, cfg Config, m *Metrics, idempotent bool) func(context.Context) error {
	t.Helper()
	c, err := New(conn, "payment", cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Endpoint(Method{
		Service:    paymentv1.PaymentService_ServiceDesc.ServiceName,
		Name:       "GetPayment",
		Idempotent: idempotent,
		Reply:      &paymentv1.GetPaymentResponse{},
	})
	return func(ctx context.Context) error {
		resp, err := e(ctx, &paymentv1.GetPaymentRequest{OrderId: "o1"})
		if err != nil {
			return err
		}
		if got := resp.(*paymentv1.GetPaymentResponse).GetPayment().GetOrderId(); got != "o1" {
			t.Errorf("response for order %q, want o1", got)
		}
		return nil
	}
}

func requests(m *Metrics, outcome string) float64 {
	return testutil.ToFloat64(m.requests.WithLabelValues("payment", "GetPayment", outcome))
}

func breakerState(t *testing.T, m *Metrics) gobreaker.State {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.breakers)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["dependency"] == "payment" && labels["method"] == "GetPayment" {
				return gobreaker.State(metric.GetGauge().GetValue())
			}
		}
	}
	t.Fatal("no kitshop_circuit_breaker_state series for payment GetPayment")
	return 0
}

func TestBreakerOpensFailsFastAndCloses(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.BreakerOpenTimeout = 100 * time.Millisecond
	m := NewMetrics(nil)
	call := getPayment(t, conn, cfg, m, false)
	ctx := t.Context()

	ps.fail(codes.Unavailable)
	for i := range 3 {
		if err := call(ctx); status.Code(err) != codes.Unavailable {
			t.Fatalf("call %d: %v, want Unavailable", i, err)
		}
	}
	if got := breakerState(t, m); got != gobreaker.StateOpen {
		t.Fatalf("after 3 failures breaker is %v, want open", got)
	}

	ps.succeed() // the dependency recovers, but the open breaker must not try it
	err := call(ctx)
	var open *OpenError
	if !errors.As(err, &open) {
		t.Fatalf("call on open breaker: %v, want *OpenError", err)
	}
	if open.RetryAfter <= 0 || open.RetryAfter > cfg.BreakerOpenTimeout {
		t.Errorf("RetryAfter = %v, want in (0, %v]", open.RetryAfter, cfg.BreakerOpenTimeout)
	}
	if status.Code(err) != codes.Unavailable || !errors.Is(err, gobreaker.ErrOpenState) {
		t.Errorf("open error code %v, Is(ErrOpenState) %v", status.Code(err), errors.Is(err, gobreaker.ErrOpenState))
	}
	if got := ps.hits.Load(); got != 3 {
		t.Errorf("server hits = %d, want 3 (the refused call must not reach it)", got)
	}
	if requests(m, "unavailable") != 3 || requests(m, "breaker_open") != 1 {
		t.Errorf("requests unavailable=%v breaker_open=%v, want 3 and 1", requests(m, "unavailable"), requests(m, "breaker_open"))
	}

	// After the open time the breaker is half-open and lets one probe through.
	for breakerState(t, m) != gobreaker.StateHalfOpen {
		time.Sleep(10 * time.Millisecond)
	}
	if err := call(ctx); err != nil {
		t.Fatalf("half-open probe: %v", err)
	}
	if got := breakerState(t, m); got != gobreaker.StateClosed {
		t.Errorf("after a successful probe breaker is %v, want closed", got)
	}
	if got := ps.hits.Load(); got != 4 {
		t.Errorf("server hits = %d, want 4", got)
	}
	if requests(m, "ok") != 1 {
		t.Errorf("requests ok = %v, want 1", requests(m, "ok"))
	}
	if n := testutil.CollectAndCount(m.duration); n != 3 {
		t.Errorf("duration series = %d, want 3 (unavailable, breaker_open, ok)", n)
	}
}

func TestFailedProbeReopens(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.BreakerFailures = 1
	cfg.BreakerOpenTimeout = 50 * time.Millisecond
	m := NewMetrics(nil)
	call := getPayment(t, conn, cfg, m, false)

	ps.fail(codes.DeadlineExceeded)
	_ = call(t.Context())
	for breakerState(t, m) != gobreaker.StateHalfOpen {
		time.Sleep(10 * time.Millisecond)
	}
	if err := call(t.Context()); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("probe: %v, want DeadlineExceeded from the server", err)
	}
	if got := breakerState(t, m); got != gobreaker.StateOpen {
		t.Errorf("after a failed probe breaker is %v, want open", got)
	}
}

// TestBreakersReportsEachBreaker: Metrics.Breakers lists the breaker of
// every endpoint made with the Metrics, sorted by dependency and method,
// open with the time it stays so once tripped and half-open once that time
// has passed; kitshop_circuit_breaker_state says the same.
func TestBreakersReportsEachBreaker(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.BreakerFailures = 1
	cfg.BreakerOpenTimeout = 2 * time.Second // margin for a loaded machine between the trip and the reads
	m := NewMetrics(nil)
	call := getPayment(t, conn, cfg, m, false)
	other, err := New(conn, "audit", cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Scan", "Read"} {
		other.Endpoint(Method{Service: paymentv1.PaymentService_ServiceDesc.ServiceName, Name: name, Reply: &paymentv1.GetPaymentResponse{}})
	}
	got := func() string {
		var s []string
		for _, b := range m.Breakers() {
			s = append(s, fmt.Sprintf("%s.%s %v", b.Dependency, b.Method, b.State))
		}
		return strings.Join(s, ", ")
	}
	if g := got(); g != "audit.Read closed, audit.Scan closed, payment.GetPayment closed" {
		t.Errorf("Breakers() = %s, want the three closed, sorted", g)
	}

	ps.fail(codes.Unavailable)
	_ = call(t.Context())
	states := m.Breakers()
	open := states[len(states)-1]
	if open.Method != "GetPayment" || open.State != gobreaker.StateOpen || open.RetryAfter <= 0 || open.RetryAfter > cfg.BreakerOpenTimeout {
		t.Errorf("after a failure: %+v, want GetPayment open for at most %v", open, cfg.BreakerOpenTimeout)
	}
	for _, b := range states[:2] {
		if b.State != gobreaker.StateClosed || b.RetryAfter != 0 {
			t.Errorf("%+v, want closed with no wait", b)
		}
	}
	if s := breakerState(t, m); s != open.State {
		t.Errorf("kitshop_circuit_breaker_state says %v, Breakers %v", s, open.State)
	}
	time.Sleep(cfg.BreakerOpenTimeout)
	if b := m.Breakers()[2]; b.State != gobreaker.StateHalfOpen || b.RetryAfter != 0 {
		t.Errorf("after the open time: %+v, want half-open with no wait", b)
	}
}

func TestBusinessErrorsNeverOpenTheBreakerNorRetry(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.BreakerFailures = 2
	cfg.MaxAttempts = 5
	m := NewMetrics(nil)
	call := getPayment(t, conn, cfg, m, true)

	for _, code := range []codes.Code{codes.NotFound, codes.FailedPrecondition, codes.InvalidArgument, codes.AlreadyExists} {
		ps.fail(code)
		for range 3 {
			if err := call(t.Context()); status.Code(err) != code {
				t.Fatalf("got %v, want %v", err, code)
			}
		}
	}
	if got := ps.hits.Load(); got != 12 {
		t.Errorf("server hits = %d, want 12 (no retries, no refusals)", got)
	}
	if got := breakerState(t, m); got != gobreaker.StateClosed {
		t.Errorf("breaker is %v, want closed", got)
	}
	if got := requests(m, "not_found"); got != 3 {
		t.Errorf("requests not_found = %v, want 3", got)
	}
}

func TestInternalCountsButIsNotRetried(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.BreakerFailures = 2
	cfg.MaxAttempts = 5
	m := NewMetrics(nil)
	call := getPayment(t, conn, cfg, m, true)

	ps.fail(codes.Internal)
	_ = call(t.Context())
	_ = call(t.Context())
	if got := ps.hits.Load(); got != 2 {
		t.Errorf("server hits = %d, want 2 (Internal is not retried)", got)
	}
	if got := breakerState(t, m); got != gobreaker.StateOpen {
		t.Errorf("breaker is %v, want open after 2 Internal", got)
	}
}

func TestRetryOnlyIdempotent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		idempotent bool
		code       codes.Code
		wantHits   int64
	}{
		{"idempotent unavailable", true, codes.Unavailable, 3},
		{"idempotent resource exhausted", true, codes.ResourceExhausted, 3},
		{"not idempotent", false, codes.Unavailable, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps, conn := startPayment(t)
			cfg := testConfig()
			cfg.MaxAttempts = 3
			cfg.BreakerFailures = 100
			m := NewMetrics(nil)
			call := getPayment(t, conn, cfg, m, tc.idempotent)
			ps.fail(tc.code)
			if err := call(t.Context()); status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
			if got := ps.hits.Load(); got != tc.wantHits {
				t.Errorf("server hits = %d, want %d", got, tc.wantHits)
			}
			// One logical call, one series sample, whatever the attempts.
			if got := requests(m, codeName(tc.code)); got != 1 {
				t.Errorf("requests %s = %v, want 1", codeName(tc.code), got)
			}
		})
	}
}

func TestRetrySucceedsAfterTransientFailure(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.MaxAttempts = 3
	m := NewMetrics(nil)
	call := getPayment(t, conn, cfg, m, true)
	ps.setAnswer(func(context.Context) error {
		if ps.hits.Load() == 1 {
			return status.Error(codes.Unavailable, "first attempt lost")
		}
		return nil
	})
	if err := call(t.Context()); err != nil {
		t.Fatalf("call: %v", err)
	}
	if got := ps.hits.Load(); got != 2 {
		t.Errorf("server hits = %d, want 2", got)
	}
	if requests(m, "ok") != 1 || requests(m, "unavailable") != 0 {
		t.Errorf("requests ok=%v unavailable=%v, want 1 and 0", requests(m, "ok"), requests(m, "unavailable"))
	}
}

func TestRetryStopsAtBudget(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.MaxAttempts = 1000
	// The first attempt has a whole budget of its own, so a slow machine cannot
	// turn it into a DeadlineExceeded; later attempts end with the budget.
	cfg.AttemptTimeout = 500 * time.Millisecond
	cfg.RetryBudget = 500 * time.Millisecond
	cfg.BackoffBase = 20 * time.Millisecond
	cfg.BackoffMax = 20 * time.Millisecond
	cfg.BreakerFailures = 10000
	call := getPayment(t, conn, cfg, NewMetrics(nil), true)
	ps.fail(codes.Unavailable)
	if err := call(t.Context()); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	// Waits of 10..20 ms in a 500 ms budget: at most 51 attempts, far fewer than MaxAttempts.
	if got := ps.hits.Load(); got < 2 || got > 51 {
		t.Errorf("server hits = %d, want 2..51 within the budget", got)
	}
}

func TestRetryAttemptDeadline(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxAttempts = 2
	cfg.AttemptTimeout = 50 * time.Millisecond
	cfg.BreakerFailures = 100
	for _, tc := range []struct {
		name string
		dial []grpc.DialOption
	}{
		{"set by the chain", nil},
		{"set by gRPC", []grpc.DialOption{cfg.DialOption()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps, conn := startPayment(t, tc.dial...)
			call := getPayment(t, conn, cfg, NewMetrics(nil), true)
			// A first call puts the connection's service config in force.
			if err := call(t.Context()); err != nil {
				t.Fatal(err)
			}
			ps.setAnswer(func(ctx context.Context) error {
				if ps.hits.Load() == 2 {
					<-ctx.Done() // the first attempt hangs until its deadline
					return ctx.Err()
				}
				return nil
			})
			// Without an attempt deadline the attempt would last the
			// caller's 10 s and not be retried.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := call(ctx); err != nil {
				t.Fatalf("call: %v (a timed-out attempt of an idempotent call is retried)", err)
			}
			if got := ps.hits.Load(); got != 3 {
				t.Errorf("server hits = %d, want 3", got)
			}
		})
	}
}

func TestDialOptionLeavesTheDeadlineToGRPC(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.AttemptTimeout = 1500 * time.Millisecond
	const method = "/kitshop.payment.v1.PaymentService/GetPayment"
	_, plain := startPayment(t)
	_, bounded := startPayment(t, cfg.DialOption())
	for _, conn := range []*grpc.ClientConn{plain, bounded} {
		// The default service config is in force from the first resolution,
		// which the first call waits for.
		if err := getPayment(t, conn, cfg, NewMetrics(nil), false)(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if boundedByGRPC(plain, method, cfg.AttemptTimeout) {
		t.Error("plain Dial: calls bounded by gRPC, want the chain's deadline")
	}
	if got := bounded.GetMethodConfig(method).Timeout; got == nil || *got != cfg.AttemptTimeout {
		t.Fatalf("Dial with DialOption: method timeout %v, want %v", got, cfg.AttemptTimeout)
	}
	if !boundedByGRPC(bounded, method, cfg.AttemptTimeout) {
		t.Error("Dial with DialOption: calls not bounded by gRPC")
	}
	if boundedByGRPC(bounded, method, cfg.AttemptTimeout-time.Millisecond) {
		t.Error("a gRPC timeout longer than the attempt timeout taken as bounding")
	}
}

func TestNoRetryWhenCallerGivesUp(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.MaxAttempts = 5
	cfg.BreakerFailures = 100
	call := getPayment(t, conn, cfg, NewMetrics(nil), true)
	ctx, cancel := context.WithCancel(t.Context())
	ps.setAnswer(func(context.Context) error {
		cancel()
		return status.Error(codes.Unavailable, "down")
	})
	_ = call(ctx)
	if got := ps.hits.Load(); got != 1 {
		t.Errorf("server hits = %d, want 1 (caller canceled)", got)
	}
}

func TestNoRetryOnOpenBreaker(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.MaxAttempts = 5
	cfg.BreakerFailures = 2
	call := getPayment(t, conn, cfg, NewMetrics(nil), true)
	ps.fail(codes.Unavailable)
	err := call(t.Context())
	var open *OpenError
	if errors.As(err, &open) || status.Code(err) != codes.Unavailable {
		// Attempts reached the server, so the call may have had an effect:
		// it must not look refused (an OpenError says "certainly no effect").
		t.Fatalf("got %v, want the last attempt's Unavailable, not *OpenError", err)
	}
	if got := ps.hits.Load(); got != 2 {
		t.Errorf("server hits = %d, want 2 (the breaker opened after the second)", got)
	}
	if err := call(t.Context()); !errors.As(err, &open) {
		t.Fatalf("next call: got %v, want *OpenError at once", err)
	}
	if got := ps.hits.Load(); got != 2 {
		t.Errorf("server hits = %d after a refused call, want still 2", got)
	}
}

func TestBreakersArePerMethod(t *testing.T) {
	t.Parallel()
	ps, conn := startPayment(t)
	cfg := testConfig()
	cfg.BreakerFailures = 1
	m := NewMetrics(nil)
	c, err := New(conn, "payment", cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := c.Endpoint(Method{Service: paymentv1.PaymentService_ServiceDesc.ServiceName, Name: "GetPayment", Reply: &paymentv1.GetPaymentResponse{}})
	refund := c.Endpoint(Method{Service: paymentv1.PaymentService_ServiceDesc.ServiceName, Name: "RefundPayment", Reply: &paymentv1.RefundPaymentResponse{}})
	ps.fail(codes.Unavailable)
	_, _ = get(t.Context(), &paymentv1.GetPaymentRequest{OrderId: "o"})
	// RefundPayment is unimplemented on the test server: its breaker is its own.
	if _, err := refund(t.Context(), &paymentv1.RefundPaymentRequest{OrderId: "o"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("refund: %v, want Unimplemented from the server", err)
	}
	want := `
# HELP kitshop_circuit_breaker_state State of the circuit breaker of a dependency's method: 0 closed, 1 half-open, 2 open.
# TYPE kitshop_circuit_breaker_state gauge
kitshop_circuit_breaker_state{dependency="payment",method="GetPayment"} 2
kitshop_circuit_breaker_state{dependency="payment",method="RefundPayment"} 0
`
	if err := testutil.CollectAndCompare(m.breakers, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestMetricsRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m1 := NewMetrics(reg)
	m2 := NewMetrics(reg) // same registry: reuses the first collectors
	m1.requests.WithLabelValues("user", "GetUserInfo", "ok").Inc()
	if got := testutil.ToFloat64(m2.requests.WithLabelValues("user", "GetUserInfo", "ok")); got != 1 {
		t.Errorf("second NewMetrics sees %v, want the shared series (1)", got)
	}
	if m1.breakers != m2.breakers {
		t.Error("breaker state collector not shared")
	}
}

func TestOutcomeAndClassifier(t *testing.T) {
	t.Parallel()
	open := &OpenError{Dependency: "d", Method: "m", Err: gobreaker.ErrOpenState}
	for _, tc := range []struct {
		err     error
		outcome string
		infra   bool
	}{
		{nil, "ok", false},
		{status.Error(codes.Unavailable, "x"), "unavailable", true},
		{status.Error(codes.DeadlineExceeded, "x"), "deadline_exceeded", true},
		{status.Error(codes.ResourceExhausted, "x"), "resource_exhausted", true},
		{status.Error(codes.Internal, "x"), "internal", true},
		{status.Error(codes.NotFound, "x"), "not_found", false},
		{status.Error(codes.FailedPrecondition, "x"), "failed_precondition", false},
		{status.Error(codes.Canceled, "x"), "canceled", false},
		{context.DeadlineExceeded, "deadline_exceeded", true},
		{errors.New("decode"), "unknown", false},
		{status.Error(codes.Code(99), "x"), "unknown", false},
		{open, "breaker_open", false},
		{fmt.Errorf("get payment: %w", status.Error(codes.NotFound, "x")), "not_found", false},
		{fmt.Errorf("get payment: %w", status.Error(codes.Unavailable, "x")), "unavailable", true},
		{fmt.Errorf("get payment: %w", open), "breaker_open", false},
	} {
		if got := Outcome(tc.err); got != tc.outcome {
			t.Errorf("Outcome(%v) = %q, want %q", tc.err, got, tc.outcome)
		}
		if got := IsInfrastructureFailure(tc.err); got != tc.infra {
			t.Errorf("IsInfrastructureFailure(%v) = %v, want %v", tc.err, got, tc.infra)
		}
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	t.Parallel()
	_, conn := startPayment(t)
	if _, err := New(nil, "payment", testConfig(), nil, nil); err == nil {
		t.Error("nil connection accepted")
	}
	if _, err := New(conn, "", testConfig(), nil, nil); err == nil {
		t.Error("empty dependency accepted")
	}
	bad := testConfig()
	bad.MaxAttempts = 0
	if _, err := New(conn, "payment", bad, nil, nil); err == nil {
		t.Error("invalid config accepted")
	}
}

func TestMethodSeriesByOutcome(t *testing.T) {
	t.Parallel()
	m := NewMetrics(nil)
	s := m.method("payment", "GetPayment")
	// Two goroutines make each outcome's first call at once: both must count
	// in the one exported series.
	done := make(chan struct{})
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range numOutcomes {
				s.observe(t.Context(), i, time.Now())
			}
		}()
	}
	<-done
	<-done
	for i := range numOutcomes {
		if got := requests(m, outcomeName(i)); got != 2 {
			t.Errorf("requests %s = %v, want 2", outcomeName(i), got)
		}
	}
	if n := testutil.CollectAndCount(m.requests); n != numOutcomes {
		t.Errorf("%d request series, want %d, one per distinct outcome", n, numOutcomes)
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	const d = time.Minute
	var got context.Context
	grpcBounded := false
	e := deadline(d, func() bool { return grpcBounded })(func(ctx context.Context, _ any) (any, error) {
		got = ctx
		return nil, nil
	})
	attemptDeadline := func(caller context.Context) (dl, lo, hi time.Time) {
		t.Helper()
		lo = time.Now().Add(d)
		if _, err := e(caller, nil); err != nil {
			t.Fatal(err)
		}
		hi = time.Now().Add(d)
		dl, ok := got.Deadline()
		if !ok {
			t.Fatal("attempt without a deadline")
		}
		return dl, lo, hi
	}

	if dl, lo, hi := attemptDeadline(t.Context()); dl.Before(lo) || dl.After(hi) {
		t.Errorf("no caller deadline: attempt deadline %v, want in [%v, %v]", dl, lo, hi)
	}
	later, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	if dl, lo, hi := attemptDeadline(later); dl.Before(lo) || dl.After(hi) {
		t.Errorf("caller deadline later: attempt deadline %v, want in [%v, %v]", dl, lo, hi)
	}
	if got.Err() == nil {
		t.Error("attempt context not canceled when the attempt returned")
	}
	sooner, cancel := context.WithTimeout(t.Context(), d/2)
	defer cancel()
	callerDeadline, _ := sooner.Deadline()
	if dl, _, _ := attemptDeadline(sooner); !dl.Equal(callerDeadline) {
		t.Errorf("caller deadline sooner: attempt deadline %v, want the caller's %v", dl, callerDeadline)
	}
	if got != sooner {
		t.Error("caller deadline sooner: the attempt runs on a derived context, want the caller's")
	}

	grpcBounded = true
	if _, err := e(later, nil); err != nil {
		t.Fatal(err)
	}
	if got != later {
		t.Error("deadline left to gRPC: the attempt runs on a derived context, want the caller's")
	}
}

// TestRetryBudgetEndReportedByTheServer: an attempt that the budget's end cuts
// short, reported as DeadlineExceeded a moment before the budget's context is
// done (the server's timer fired first), still answers the dependency's own
// failure, not the deadline.
func TestRetryBudgetEndReportedByTheServer(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxAttempts = 10
	cfg.AttemptTimeout = 200 * time.Millisecond
	cfg.RetryBudget = 200 * time.Millisecond
	cfg.BackoffBase = time.Millisecond
	cfg.BackoffMax = time.Millisecond
	calls := 0
	next := func(ctx context.Context, _ any) (any, error) {
		calls++
		if calls == 1 {
			return nil, status.Error(codes.Unavailable, "down")
		}
		deadline, _ := ctx.Deadline()
		time.Sleep(time.Until(deadline) - 20*time.Millisecond) // "the server's timer"
		return nil, status.Error(codes.DeadlineExceeded, "deadline exceeded on the server")
	}
	_, err := retry(cfg)(next)(t.Context(), nil)
	if status.Code(err) != codes.Unavailable || calls != 2 {
		t.Errorf("got %v after %d attempts, want the first attempt's Unavailable after 2", err, calls)
	}
}

// TestClientDurationExemplar: a call made within a sampled span leaves its
// trace id as the exemplar of its duration; one outside a span leaves none.
func TestClientDurationExemplar(t *testing.T) {
	t.Parallel()
	m := NewMetrics(nil)
	s := m.method("payment", "GetPayment")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4}, TraceFlags: trace.FlagsSampled})
	s.observe(t.Context(), outcomeOK, time.Now())
	s.observe(trace.ContextWithSpanContext(t.Context(), sc), outcomeOK, time.Now())
	ch := make(chan prometheus.Metric, 10)
	m.duration.Collect(ch)
	close(ch)
	var exemplars []string
	for metric := range ch {
		var pb dto.Metric
		if err := metric.Write(&pb); err != nil {
			t.Fatal(err)
		}
		for _, b := range pb.GetHistogram().GetBucket() {
			if e := b.GetExemplar(); e != nil {
				for _, l := range e.GetLabel() {
					exemplars = append(exemplars, l.GetName()+"="+l.GetValue())
				}
			}
		}
	}
	if want := "trace_id=" + sc.TraceID().String(); len(exemplars) != 1 || exemplars[0] != want {
		t.Errorf("exemplars %v, want one %s", exemplars, want)
	}
}
