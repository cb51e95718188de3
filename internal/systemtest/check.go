package systemtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/audit"
)

// Databases returns the five service databases, read through a client of the
// harness's own (the checker only reads).
func (s *System) Databases() audit.Databases { return audit.FromClient(s.reader) }

// InitialStock is the stock of every product before any order (audit.Baseline
// at Start), the reference of the stock invariant.
func (s *System) InitialStock() map[string]int64 {
	m := make(map[string]int64, len(s.initial))
	for k, v := range s.initial {
		m[k] = v
	}
	return m
}

// Audit runs the invariant checker (internal/audit) over the five databases,
// with the stock baseline of Start unless opts has one.
func (s *System) Audit(ctx context.Context, opts audit.Options) (audit.Report, error) {
	if opts.InitialStock == nil {
		opts.InitialStock = s.InitialStock()
	}
	return audit.Check(ctx, s.Databases(), opts)
}

// quietTimeout bounds how long CheckInvariants waits for the side effects
// still due (the order service's outbox) to be done.
const quietTimeout = 10 * time.Second

// CheckInvariants runs Audit and fails the test with every violation. The
// system must be settled: with opts.PendingLimit zero, any order still Pending
// is a violation. The side effects of the last transitions (stock releases,
// refunds, notifications) are delivered after the fact, so a violation may be
// one still on its way: Audit is repeated until it is clean, for at most 10s,
// and the violations of the last one are reported. It returns that report.
func (s *System) CheckInvariants(t testing.TB, opts audit.Options) audit.Report {
	t.Helper()
	if opts.PendingLimit == 0 {
		opts.PendingLimit = time.Nanosecond
	}
	var r audit.Report
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var err error
		r, err = s.Audit(ctx, opts)
		cancel()
		if err != nil {
			t.Fatalf("systemtest: invariant check: %v", err)
		}
		if r.Clean() || time.Since(start) > quietTimeout {
			break
		}
		time.Sleep(pollInterval)
	}
	if !r.StockChecked {
		t.Errorf("systemtest: the stock invariant was not checked")
	}
	for _, v := range r.Violations {
		t.Errorf("invariant violated: %s", v)
	}
	t.Logf("invariant check after %s: %d orders %v, %d payments, %d notifications, %d reservations, %d violations",
		time.Since(start).Round(time.Millisecond), r.Orders, r.OrdersByStatus, r.Payments, r.Notifications, r.Reservations, len(r.Violations))
	return r
}

// WaitSettled waits until no order is Pending, for at most timeout, and fails
// the test with the orders still Pending if some are.
func (s *System) WaitSettled(t testing.TB, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "every order settled (none Pending)", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := s.Audit(ctx, audit.Options{})
		if err != nil {
			return false, err.Error()
		}
		n := r.OrdersByStatus["Pending"]
		return n == 0, fmt.Sprintf("%d Pending, orders by status %v", n, r.OrdersByStatus)
	})
}

// WaitDelivered waits until every order of ids has reached DeliveryStarted or
// later, for at most timeout, and fails the test with those that have not.
func (s *System) WaitDelivered(t testing.TB, timeout time.Duration, ids []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	left, err := audit.WaitDelivered(ctx, s.Databases().Order, ids, 20*time.Millisecond)
	if err != nil {
		t.Fatalf("systemtest: waiting for deliveries: %v", err)
	}
	if len(left) > 0 {
		t.Fatalf("systemtest: %d of %d orders not DeliveryStarted after %s: %v", len(left), len(ids), timeout, left)
	}
}

// pollInterval is how often Eventually looks.
const pollInterval = 20 * time.Millisecond

// Eventually calls cond every 20ms until it reports done, for at most
// timeout, and then fails the test naming what and cond's last state. It is
// the only way scenarios wait: on an outcome they can observe.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s; last state: %s", timeout, what, state)
		}
		time.Sleep(pollInterval)
	}
}

// sample is one series of a metric.
type sample struct {
	labels map[string]string
	value  float64
}

func (m sample) has(labels map[string]string) bool {
	for k, v := range labels {
		if m.labels[k] != v {
			return false
		}
	}
	return true
}

// samples gathers the series of the metric named name of the running
// instance of service.
func (s *System) samples(service, name string) []sample {
	g := s.Gatherer(service)
	if g == nil {
		return nil
	}
	families, err := g.Gather()
	if err != nil {
		return nil
	}
	var out []sample
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			smp := sample{labels: make(map[string]string, len(m.GetLabel()))}
			for _, l := range m.GetLabel() {
				smp.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				smp.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				smp.value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				smp.value = m.GetUntyped().GetValue()
			default:
				continue
			}
			out = append(out, smp)
		}
	}
	return out
}

// Breaker states of kitshop_circuit_breaker_state.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// BreakerState returns the state of the circuit breaker of the caller
// service's client of dependency's method (kitshop_circuit_breaker_state),
// e.g. BreakerState(Order, Payment, "MakePayment"); -1 if it has none.
func (s *System) BreakerState(caller, dependency, method string) int {
	want := map[string]string{"dependency": dependency, "method": method}
	for _, m := range s.samples(caller, "kitshop_circuit_breaker_state") {
		if m.has(want) {
			return int(m.value)
		}
	}
	return -1
}

// ClientCalls returns kitshop_client_requests_total of the caller service's
// calls to dependency's method (one per call, its retries included) by
// outcome: "ok", "breaker_open", "unavailable", "deadline_exceeded", ...
func (s *System) ClientCalls(caller, dependency, method string) Calls {
	want := map[string]string{"dependency": dependency, "method": method}
	out := make(Calls)
	for _, m := range s.samples(caller, "kitshop_client_requests_total") {
		if m.has(want) {
			out[m.labels["outcome"]] += m.value
		}
	}
	return out
}

// Calls counts client calls by outcome.
type Calls map[string]float64

// Failed returns the calls that reached the dependency, or tried to, and
// failed: every outcome but "ok" and "breaker_open".
func (c Calls) Failed() float64 {
	var n float64
	for k, v := range c {
		if k != "ok" && k != "breaker_open" {
			n += v
		}
	}
	return n
}

// String shows the counts in a stable order.
func (c Calls) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c)) {
		fmt.Fprintf(&b, "%s=%g ", k, c[k])
	}
	return strings.TrimSpace(b.String())
}
