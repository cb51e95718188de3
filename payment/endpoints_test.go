package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// endpointService is a Service whose calls go through a Set's endpoints, as the transports' do.
type endpointService struct{ set Set }

func (s endpointService) MakePayment(ctx context.Context, req PaymentRequest) (Payment, error) {
	resp, err := s.set.MakePaymentEndpoint(ctx, MakePaymentRequest{Payment: req})
	if err != nil {
		return Payment{}, err
	}
	r := resp.(MakePaymentResponse)
	return r.Payment, r.Err
}

func (s endpointService) RefundPayment(ctx context.Context, orderID string) (Payment, error) {
	resp, err := s.set.RefundPaymentEndpoint(ctx, RefundPaymentRequest{OrderID: orderID})
	if err != nil {
		return Payment{}, err
	}
	r := resp.(RefundPaymentResponse)
	return r.Payment, r.Err
}

func (s endpointService) GetPayment(ctx context.Context, orderID string) (Payment, error) {
	resp, err := s.set.GetPaymentEndpoint(ctx, GetPaymentRequest{OrderID: orderID})
	if err != nil {
		return Payment{}, err
	}
	r := resp.(GetPaymentResponse)
	return r.Payment, r.Err
}

// switchProcessor is a Processor whose charges fail as an unreachable network's once broken is set.
type switchProcessor struct {
	Processor
	broken atomic.Bool
}

func (p *switchProcessor) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if p.broken.Load() {
		return ChargeResult{}, errNetwork
	}
	return p.Processor.Charge(ctx, req)
}

// observedService returns a Service that calls the observed endpoints (NewSet) of the service it is given,
// logging on logger. It keeps the old middleware's name for store_test.go's TestSecretsNeverStoredOrLogged,
// which reads the log lines of the calls it makes, now the endpoints' lines.
func observedService(logger *slog.Logger) func(Service) Service {
	return func(inner Service) Service { return endpointService{set: NewSet(inner, nil, logger, nil)} }
}

// TestObservedEndpoints checks the metrics and the log line of every kind of call: the outcomes (declined
// for a rejected payment), the levels (writes at Info, reads at Debug, a processor outage at Warn, other
// infrastructure failures at Error) and the attributes.
func TestObservedEndpoints(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	reg := prometheus.NewPedanticRegistry()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	proc := &switchProcessor{Processor: NewSimulator(SimulatorOptions{})}
	svc := endpointService{set: NewSet(newTestService(t, store, proc), nil, logger, reg)}
	// A second Set on the same registry shares the collectors.
	_ = NewSet(newTestService(t, store, proc), nil, nil, reg)
	ctx := context.Background()

	mustPay(t, svc, cardRequest("order-1", TestCardApproved))
	mustPay(t, svc, cardRequest("order-2", TestCardInsufficientFunds))
	other := cardRequest("order-1", TestCardApproved)
	other.Amount = 1
	_, _ = svc.MakePayment(ctx, other)
	_, _ = svc.MakePayment(ctx, cardRequest("", TestCardApproved))
	_, _ = svc.GetPayment(ctx, "order-1")
	_, _ = svc.GetPayment(ctx, "order-x")
	_, _ = svc.RefundPayment(ctx, "order-2")
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	<-short.Done()
	_, _ = svc.RefundPayment(short, "order-1")
	proc.broken.Store(true)
	_, _ = svc.MakePayment(ctx, cardRequest("order-3", TestCardApproved))
	store.fail = errors.New("store down")
	_, _ = svc.GetPayment(ctx, "order-1")

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kitshop_payment_requests_total Calls of the payment service, by method and outcome.
# TYPE kitshop_payment_requests_total counter
kitshop_payment_requests_total{method="GetPayment",outcome="error"} 1
kitshop_payment_requests_total{method="GetPayment",outcome="not_found"} 1
kitshop_payment_requests_total{method="GetPayment",outcome="ok"} 1
kitshop_payment_requests_total{method="MakePayment",outcome="already_exists"} 1
kitshop_payment_requests_total{method="MakePayment",outcome="declined"} 1
kitshop_payment_requests_total{method="MakePayment",outcome="invalid_argument"} 1
kitshop_payment_requests_total{method="MakePayment",outcome="ok"} 1
kitshop_payment_requests_total{method="MakePayment",outcome="unavailable"} 1
kitshop_payment_requests_total{method="RefundPayment",outcome="deadline_exceeded"} 1
kitshop_payment_requests_total{method="RefundPayment",outcome="failed_precondition"} 1
kitshop_payment_requests_total{method="RefundPayment",outcome="ok"} 0
`), "kitshop_payment_requests_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "kitshop_payment_request_duration_seconds"); err != nil || n != 11 {
		t.Errorf("%d duration series (%v), want 11", n, err)
	}

	type line struct {
		Level, Method, Outcome, Card, Status, Error string
		OrderID                                     string `json:"order_id"`
		Amount                                      int64
	}
	var lines []line
	for l := range strings.Lines(logs.String()) {
		var m line
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	want := []line{
		{Level: "INFO", Method: "MakePayment", Outcome: "ok", OrderID: "order-1", Amount: 9500, Card: "**** **** **** 4242", Status: "Approved"},
		{Level: "INFO", Method: "MakePayment", Outcome: "declined", OrderID: "order-2", Amount: 9500, Card: "**** **** **** 9995", Status: "Rejected"},
		{Level: "INFO", Method: "MakePayment", Outcome: "already_exists", OrderID: "order-1", Amount: 1, Card: "**** **** **** 4242", Error: ErrConflict.Error()},
		{Level: "INFO", Method: "MakePayment", Outcome: "invalid_argument", Amount: 9500, Card: "**** **** **** 4242", Error: "orderId is required"},
		{Level: "DEBUG", Method: "GetPayment", Outcome: "ok", OrderID: "order-1", Status: "Approved"},
		{Level: "DEBUG", Method: "GetPayment", Outcome: "not_found", OrderID: "order-x", Error: ErrNotFound.Error()},
		{Level: "INFO", Method: "RefundPayment", Outcome: "failed_precondition", OrderID: "order-2",
			Error: "the payment cannot be refunded: it was rejected (insufficient_funds), nothing was charged"},
		{Level: "WARN", Method: "RefundPayment", Outcome: "deadline_exceeded", OrderID: "order-1", Error: context.DeadlineExceeded.Error()},
		{Level: "WARN", Method: "MakePayment", Outcome: "unavailable", OrderID: "order-3", Amount: 9500, Card: "**** **** **** 4242",
			Error: ErrProcessorUnavailable.Error() + ": " + errNetwork.Error()},
		{Level: "ERROR", Method: "GetPayment", Outcome: "error", OrderID: "order-1", Error: "store down"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines for %d calls:\n%s", len(lines), len(want), logs.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, lines[i], want[i])
		}
	}
}

// TestObservedEndpointsNeverLogCardData makes payments of every kind through the observed endpoints and
// fails if a log line holds card data other than the masked number (see also TestSecretsNeverStoredOrLogged,
// on the embedded store).
func TestObservedEndpointsNeverLogCardData(t *testing.T) {
	t.Parallel()
	const (
		number   = "4242424242424242"
		birth    = "9912314321"
		password = "83"
	)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := newMemStore()
	svc := observedService(logger)(newTestService(t, store, NewSimulator(SimulatorOptions{})))
	ctx := context.Background()
	for i, n := range []string{number, "4242 4242 4242 4242", "4242-4242-4242-4241", TestCardStolen} {
		r := cardRequest(fmt.Sprintf("order-%d", i), n)
		r.Card.BirthOrRegistration, r.Card.PasswordTwoDigits = birth, password
		_, _ = svc.MakePayment(ctx, r)
	}
	r := kakaoRequest("order-k")
	r.Card.PasswordTwoDigits = password
	_, _ = svc.MakePayment(ctx, r)
	_, _ = svc.GetPayment(ctx, "order-0")
	_, _ = svc.RefundPayment(ctx, "order-0")
	out := logs.String()
	if !strings.Contains(out, "**** **** **** 4242") {
		t.Fatalf("the masked number is not logged; is this test reading the right output?\n%s", out)
	}
	for _, secret := range []string{"424242424242", "4242 4242 4242", "4242-4242-4242", birth, "password=", "birth"} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs hold %q:\n%s", secret, out)
		}
	}
	if strings.Contains(out, "="+password+" ") || strings.Contains(out, `"`+password+`"`) {
		t.Errorf("the logs hold passwordTwoDigits:\n%s", out)
	}
}
