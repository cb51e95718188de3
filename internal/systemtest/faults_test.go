package systemtest_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/audit"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/systemtest"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
)

// The fault scenarios of the issue "Resilience and security". Each runs on a
// System of its own, puts one service in trouble while orders come in, brings
// it back, waits for the system to settle on observable outcomes only, and
// ends with the invariant checker over the five databases (CheckInvariants).
//
// They run one after the other, not in parallel: on a two-core machine, five
// or six systems at once (each with its store and five services) starve each
// other until healthy calls miss the per-attempt deadlines that keep these
// scenarios short, and the outcomes then depend on the machine's load. Most of
// a scenario's time is the wait for the order service's sweeper (SweepAge).

// testCtx bounds one scenario's HTTP calls.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// settleTimeout bounds the wait for the sweeper: an order left Pending is
// settled SweepAge after its creation, at the next sweep.
func settleTimeout(sys *systemtest.System) time.Duration {
	return sys.SweepAge() + 10*time.Second
}

// TestHealthySystem is the reference: with every service up, an order is
// paid, delivered and notified once, a declined one gives its stock back,
// and the invariants hold.
func TestHealthySystem(t *testing.T) {
	sys := systemtest.Start(t, systemtest.Options{})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")

	r, o, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-1", "sample-3"}, Key: "healthy-1"})
	if err != nil || r.Status != http.StatusCreated || o.Status != order.StatusDeliveryStarted {
		t.Fatalf("POST /order: %v %v %+v", r, err, o)
	}
	r, _, err = sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-2"}, Card: systemtest.CardDeclined})
	if err != nil || r.Status != http.StatusPaymentRequired {
		t.Fatalf("POST /order with a declined card: %v %v", r, err)
	}
	sys.WaitDelivered(t, 10*time.Second, []string{o.ID})
	if n := sys.Sender().Count(o.ID); n != 1 {
		t.Errorf("%d notifications sent for order %s, want 1", n, o.ID)
	}
	sys.CheckInvariants(t, audit.Options{Delivered: []string{o.ID}})
}

// TestPaymentDown: the payment service is stopped while orders keep coming.
// The MakePayment breaker opens after the configured consecutive failures;
// from then on POST /order answers 503 with Retry-After without calling the
// payment service (counted by the client metrics, not timed) and the order is
// cancelled at once. The orders whose payment call failed before the breaker
// opened cannot be settled while the payment service is away (their outcome
// is unknown to the order service); once it is back, the sweeper settles them.
// Back up, the breaker half-opens, closes on the next order, which succeeds.
// In the end no order is Pending, no failed order has a payment, and the
// stock of every failed order is back.
func TestPaymentDown(t *testing.T) {
	cfg := systemtest.FastClientConfig()
	cfg.MaxAttempts = 2     // two attempts per call...
	cfg.BreakerFailures = 4 // ...so the breaker opens on the second order
	cfg.BreakerOpenTimeout = 2 * time.Second
	sys := systemtest.Start(t, systemtest.Options{Client: cfg})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")
	admin := sys.SignUp(t, systemtest.AdminEmail)

	if r, _, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-1"}}); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("order before the fault: %v %v", r, err)
	}
	if err := sys.Stop(systemtest.Payment); err != nil {
		t.Fatalf("stopping payment: %v", err)
	}

	// Each of the first two orders makes MaxAttempts failing attempts: the
	// breaker opens after BreakerFailures of them, not before.
	calls := func() systemtest.Calls { return sys.ClientCalls(systemtest.Order, systemtest.Payment, "MakePayment") }
	breaker := func() int { return sys.BreakerState(systemtest.Order, systemtest.Payment, "MakePayment") }
	for i, wantState := range []int{systemtest.BreakerClosed, systemtest.BreakerOpen} {
		r, _, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-1", "sample-2"}})
		if err != nil || r.Status != http.StatusServiceUnavailable {
			t.Fatalf("order %d with payment down: %v %v, want 503", i+1, r, err)
		}
		if got := breaker(); got != wantState {
			t.Fatalf("after %d failed payment calls (%d attempts each), breaker state %d, want %d; calls %v",
				i+1, cfg.MaxAttempts, got, wantState, calls())
		}
	}

	// Open: refused in this process, at once, with Retry-After.
	for i := range 3 {
		before := calls()
		r, _, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-3"}})
		if err != nil || r.Status != http.StatusServiceUnavailable {
			t.Fatalf("order %d with the breaker open: %v %v, want 503", i+1, r, err)
		}
		secs, ok := r.RetryAfter()
		if !ok || secs < 1 || secs > int(cfg.BreakerOpenTimeout/time.Second) {
			t.Errorf("order %d with the breaker open: Retry-After %q, want 1..%d seconds", i+1, r.Header.Get("Retry-After"), cfg.BreakerOpenTimeout/time.Second)
		}
		after := calls()
		if after["breaker_open"] != before["breaker_open"]+1 || after.Failed() != before.Failed() {
			t.Errorf("order %d with the breaker open: MakePayment calls went from %v to %v, want one more breaker_open and nothing else", i+1, before, after)
		}
	}
	orders, err := sys.ListOrders(ctx, tok)
	if err != nil || len(orders) != 6 {
		t.Fatalf("%d orders stored (%v), want 6: one before the fault, five during", len(orders), err)
	}
	var refused, unknown int
	for _, o := range orders[:5] { // newest first: the five orders made while payment was down
		switch o.Status {
		case order.StatusPaymentCancelled:
			refused++
		case order.StatusPending:
			unknown++
		}
	}
	if refused != 3 || unknown != 2 {
		t.Errorf("while payment is down: %d orders cancelled at once and %d Pending, want 3 and 2", refused, unknown)
	}

	// Back: the breaker half-opens after its open time and lets one order
	// through as its probe. The probe may still fail while the order
	// service's connection waits out gRPC's reconnect backoff (then the breaker
	// opens again for another round); the first probe that passes closes it.
	sys.Restart(t, systemtest.Payment)
	deadline := time.Now().Add(30 * time.Second)
	failedProbes := 0
	for {
		systemtest.Eventually(t, time.Until(deadline), "MakePayment breaker half-open", func() (bool, string) {
			s := breaker()
			return s == systemtest.BreakerHalfOpen, fmt.Sprint("state ", s)
		})
		r, o, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-4"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusCreated {
			if o.Status != order.StatusDeliveryStarted {
				t.Fatalf("the probe's order is %s", o.Status)
			}
			break
		}
		failedProbes++
		if r.Status != http.StatusServiceUnavailable || breaker() != systemtest.BreakerOpen {
			t.Fatalf("a failed probe: %v and breaker state %d, want 503 and open", r, breaker())
		}
	}
	t.Logf("payment back: %d probes failed before one passed", failedProbes)
	if s := breaker(); s != systemtest.BreakerClosed {
		t.Errorf("breaker state %d after a successful probe, want closed", s)
	}

	sys.WaitSettled(t, settleTimeout(sys))
	checkFailedOrdersUnpaid(t, sys, tok, admin, true)
	delivered := paidOrders(t, sys, tok)
	sys.WaitDelivered(t, 10*time.Second, delivered)
	sys.CheckInvariants(t, audit.Options{Delivered: delivered})
}

// TestPaymentSlow: the card network answers after 1.5s, beyond the order
// service's 300ms per-attempt deadline, so every payment call times out,
// retries included, and then the breaker refuses them. Customers retry their
// POST /order with the same Idempotency-Key. Whatever the answers, every order
// ends paid or failed, never charged twice: one order per key, at most one
// charge per order at the card network, an approved payment only for a paid
// order (or refunded).
func TestPaymentSlow(t *testing.T) {
	network := payment.NewSimulator(payment.SimulatorOptions{Latency: 1500 * time.Millisecond})
	// Five failures open the breaker and a call makes three attempts: the
	// breaker opens in the middle of the second order's retries, so that its
	// last attempt is refused after two that reached the payment service, which
	// has charged. (As the defaults do: 5 failures, 3 attempts.)
	cfg := grpcclient.Config{
		AttemptTimeout: 300 * time.Millisecond, RetryBudget: time.Second, MaxAttempts: 3,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		BreakerFailures: 5, BreakerOpenTimeout: time.Second, BreakerHalfOpenRequests: 1,
	}
	sys := systemtest.Start(t, systemtest.Options{Client: cfg, Processor: network})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")
	admin := sys.SignUp(t, systemtest.AdminEmail)

	const n = 4
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("slow-%d", i)
		req := systemtest.OrderRequest{ProductIDs: []string{"sample-2", "sample-5"}, Key: keys[i]}
		r, _, err := sys.PlaceOrder(ctx, tok, req)
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		if r.Status != http.StatusCreated && r.Status != http.StatusServiceUnavailable {
			t.Fatalf("order %d: %v, want 201 or 503", i, r)
		}
		t.Logf("order %d: %d %s", i, r.Status, r.ErrorCode())
		// The customer retries at once: the same order comes back.
		r2, o2, err := sys.PlaceOrder(ctx, tok, req)
		if err != nil || r2.Status != http.StatusOK || o2.ID == "" {
			t.Fatalf("order %d, retried with its key: %v %v, want 200 and the order", i, r2, err)
		}
	}
	if calls := sys.ClientCalls(systemtest.Order, systemtest.Payment, "MakePayment"); calls["ok"] > 0 {
		t.Fatalf("a payment call beat the 1.5s card network with a 300ms deadline: %v", calls)
	}

	sys.WaitSettled(t, settleTimeout(sys))

	// Retried once more, after the dust settled: still one order per key.
	ids := make(map[string]bool)
	for i, key := range keys {
		r, o, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-2", "sample-5"}, Key: key})
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("order %d, retried after settling: %v %v, want 200", i, r, err)
		}
		if !o.Paid() && !o.Failed() {
			t.Errorf("order %d (%s) is %s after settling", i, o.ID, o.Status)
		}
		ids[o.ID] = true
	}
	orders, err := sys.ListOrders(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != n || len(ids) != n {
		t.Errorf("%d orders stored and %d distinct ids for %d idempotency keys, want %d", len(orders), len(ids), n, n)
	}
	if c := network.Charges(); c > n {
		t.Errorf("the card network made %d charges for %d orders", c, n)
	}
	checkFailedOrdersUnpaid(t, sys, tok, admin, false)
	delivered := paidOrders(t, sys, tok)
	sys.WaitDelivered(t, 10*time.Second, delivered)
	sys.CheckInvariants(t, audit.Options{Delivered: delivered})
}

// TestPaymentAnswerLost: the card network charges but its first answer is
// lost (the hang card): the payment call times out, the order service's
// client retries it, and the retry gets the approval of the one charge.
func TestPaymentAnswerLost(t *testing.T) {
	network := payment.NewSimulator(payment.SimulatorOptions{})
	sys := systemtest.Start(t, systemtest.Options{Processor: network})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")

	r, o, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-1"}, Card: systemtest.CardHang})
	if err != nil || r.Status != http.StatusCreated || o.Status != order.StatusDeliveryStarted {
		t.Fatalf("POST /order with the hang card: %v %v", r, err)
	}
	if c := network.Charges(); c != 1 {
		t.Errorf("the card network made %d charges, want 1", c)
	}
	calls := sys.ClientCalls(systemtest.Order, systemtest.Payment, "MakePayment")
	if calls["ok"] != 1 || len(calls) != 1 {
		t.Errorf("MakePayment calls %v, want one call, ok (its retry inside)", calls)
	}
	sys.WaitDelivered(t, 10*time.Second, []string{o.ID})
	sys.CheckInvariants(t, audit.Options{Delivered: []string{o.ID}})
}

// TestNotificationDown: with the notification service stopped, orders are
// paid and wait in PaymentProcessed while the order service's outbox keeps
// failing to notify; once it is back, every one reaches DeliveryStarted with
// exactly one e-mail sent and one notification stored.
func TestNotificationDown(t *testing.T) {
	sys := systemtest.Start(t, systemtest.Options{})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")
	if err := sys.Stop(systemtest.Notification); err != nil {
		t.Fatalf("stopping notification: %v", err)
	}

	const n = 4
	var ids []string
	for i := range n {
		r, o, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-5"}, Key: fmt.Sprint("notify-", i)})
		if err != nil || r.Status != http.StatusCreated || o.Status != order.StatusPaymentProcessed {
			t.Fatalf("order %d with notification down: %v %v", i, r, err)
		}
		ids = append(ids, o.ID)
	}
	// The outbox keeps trying, and failing: its breaker opens and it goes on
	// knocking, refused, for at least two rounds of every order.
	systemtest.Eventually(t, 10*time.Second, "the outbox tried to notify the orders, in vain", func() (bool, string) {
		c := sys.ClientCalls(systemtest.Order, systemtest.Notification, "SendPaymentNotification")
		return c["ok"] == 0 && c.Failed() > 0 && c["breaker_open"] >= 2*n, c.String()
	})
	for _, id := range ids {
		o, err := sys.GetOrder(ctx, tok, id)
		if err != nil || o.Status != order.StatusPaymentProcessed {
			t.Errorf("order %s while notification is down: %s %v, want PaymentProcessed", id, o.Status, err)
		}
	}
	if got := sys.Sender().Total(); got != 0 {
		t.Fatalf("%d e-mails sent while the notification service was down", got)
	}

	sys.Restart(t, systemtest.Notification)
	sys.WaitDelivered(t, 15*time.Second, ids)
	for _, id := range ids {
		if c := sys.Sender().Count(id); c != 1 {
			t.Errorf("order %s: %d e-mails sent, want 1", id, c)
		}
	}
	sys.CheckInvariants(t, audit.Options{Delivered: ids})
}

// TestOrderServiceKilled: the order service dies while orders wait for a slow
// card network (1s). Its clients see their connections cut; they retry with
// their keys once it is back. The restarted order service finds the orders its
// predecessor left Pending and settles them from the payment service's record.
// Nothing stays Pending; one order per key; one charge per order; stock,
// payments and notifications agree with the final states.
func TestOrderServiceKilled(t *testing.T) {
	network := payment.NewSimulator(payment.SimulatorOptions{Latency: time.Second})
	sys := systemtest.Start(t, systemtest.Options{Processor: network})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")

	const n = 6
	reqs := make([]systemtest.OrderRequest, n)
	type result struct {
		resp systemtest.Response
		err  error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range reqs {
		reqs[i] = systemtest.OrderRequest{ProductIDs: []string{"sample-1", "sample-4", "sample-4"}, Key: fmt.Sprint("inflight-", i)}
		wg.Go(func() {
			r, _, err := sys.PlaceOrder(ctx, tok, reqs[i])
			results[i] = result{r, err}
		})
	}
	// Every order has reached the card network, which takes a second to
	// answer: kill.
	systemtest.Eventually(t, 10*time.Second, "every order at the card network", func() (bool, string) {
		c := network.Charges()
		return c == n, fmt.Sprintf("%d charges", c)
	})
	err := sys.Stop(systemtest.Order)
	t.Logf("order service killed: %v", err)
	if bad := systemtest.UnexpectedStopErrors(err); len(bad) > 0 {
		t.Errorf("stopping the order service: %v", bad)
	}
	wg.Wait()
	for i, r := range results {
		t.Logf("order %d: answer %v, error %v", i, r.resp, r.err)
	}

	sys.Restart(t, systemtest.Order)
	// The customers retry: the orders their first requests created come back,
	// left Pending by the dead instance.
	ids := make(map[string]bool)
	pending := 0
	for i, req := range reqs {
		r, o, err := sys.PlaceOrder(ctx, tok, req)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("order %d retried after the restart: %v %v, want 200 and the order", i, r, err)
		}
		ids[o.ID] = true
		if o.Status == order.StatusPending {
			pending++
		}
	}
	t.Logf("%d of %d orders Pending after the restart", pending, n)
	if pending == 0 {
		t.Fatal("no order was left Pending by the kill: the scenario did not happen")
	}
	sys.WaitSettled(t, settleTimeout(sys))
	orders, err := sys.ListOrders(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != n || len(ids) != n {
		t.Errorf("%d orders stored, %d distinct ids for %d keys, want %d", len(orders), len(ids), n, n)
	}
	if c := network.Charges(); c != n {
		t.Errorf("the card network made %d charges for %d orders, want one each", c, n)
	}
	delivered := paidOrders(t, sys, tok)
	sys.WaitDelivered(t, 10*time.Second, delivered)
	sys.CheckInvariants(t, audit.Options{Delivered: delivered})
}

// TestUserOrProductDown: with the user service, then the product service,
// stopped, POST /order answers 503 — once the breaker has opened, at once,
// with Retry-After and without calling the dependency — and stores nothing:
// no order, no reservation, no payment, no stock taken. Back up, orders are
// accepted again.
func TestUserOrProductDown(t *testing.T) {
	cfg := systemtest.FastClientConfig()
	cfg.BreakerFailures = uint32(cfg.MaxAttempts) // the first order's attempts open the breaker
	network := payment.NewSimulator(payment.SimulatorOptions{})
	sys := systemtest.Start(t, systemtest.Options{Client: cfg, Processor: network})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")
	n := 0
	newOrder := func(int) systemtest.OrderRequest {
		n++
		return systemtest.OrderRequest{ProductIDs: []string{"sample-1"}, Key: fmt.Sprint("order-", n)}
	}

	var accepted []string
	for _, tc := range []struct{ service, method string }{
		{systemtest.User, "GetUserInfo"},
		{systemtest.Product, "GetProductsInfo"},
	} {
		before, err := sys.Audit(ctx, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		stock, err := sys.Stock(ctx, "sample-1")
		if err != nil {
			t.Fatal(err)
		}
		charges := network.Charges()
		if err := sys.Stop(tc.service); err != nil {
			t.Fatalf("stopping %s: %v", tc.service, err)
		}

		calls := func() systemtest.Calls { return sys.ClientCalls(systemtest.Order, tc.service, tc.method) }
		r, _, err := sys.PlaceOrder(ctx, tok, newOrder(0))
		if err != nil || r.Status != http.StatusServiceUnavailable {
			t.Fatalf("%s down: first order %v %v, want 503", tc.service, r, err)
		}
		if s := sys.BreakerState(systemtest.Order, tc.service, tc.method); s != systemtest.BreakerOpen {
			t.Fatalf("%s down: breaker state %d after %d failed attempts, want open; calls %v", tc.service, s, cfg.MaxAttempts, calls())
		}
		prev := calls()
		r, _, err = sys.PlaceOrder(ctx, tok, newOrder(0))
		if err != nil || r.Status != http.StatusServiceUnavailable {
			t.Fatalf("%s down, breaker open: %v %v, want 503", tc.service, r, err)
		}
		if secs, ok := r.RetryAfter(); !ok || secs < 1 {
			t.Errorf("%s down, breaker open: Retry-After %q, want at least 1", tc.service, r.Header.Get("Retry-After"))
		}
		if after := calls(); after["breaker_open"] != prev["breaker_open"]+1 || after.Failed() != prev.Failed() {
			t.Errorf("%s down, breaker open: calls went from %v to %v, want one more breaker_open and nothing else", tc.service, prev, after)
		}

		// Nothing stored half-way.
		now, err := sys.Audit(ctx, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if now.Orders != before.Orders || now.Reservations != before.Reservations || now.Payments != before.Payments {
			t.Errorf("%s down: orders %d → %d, reservations %d → %d, payments %d → %d; want no change",
				tc.service, before.Orders, now.Orders, before.Reservations, now.Reservations, before.Payments, now.Payments)
		}
		if c := network.Charges(); c != charges {
			t.Errorf("%s down: the card network charged %d times", tc.service, c-charges)
		}

		sys.Restart(t, tc.service)
		o, refused := sys.PlaceOrderUntilAccepted(t, tok, 30*time.Second, newOrder)
		t.Logf("%s back: %d orders refused before one was accepted", tc.service, refused)
		accepted = append(accepted, o.ID)
		if got, err := sys.Stock(ctx, "sample-1"); err != nil || got != stock-1 {
			t.Errorf("sample-1 stock %d (%v) after one order, want %d", got, err, stock-1)
		}
	}
	sys.WaitSettled(t, settleTimeout(sys))
	sys.WaitDelivered(t, 10*time.Second, accepted)
	sys.CheckInvariants(t, audit.Options{Delivered: accepted})
}

// checkFailedOrdersUnpaid checks at the payment service (as an admin) that
// every failed order of tok's user has no payment (strict), or none but a
// Rejected or Refunded one.
func checkFailedOrdersUnpaid(t *testing.T, sys *systemtest.System, tok, admin string, strict bool) {
	t.Helper()
	ctx := testCtx(t)
	orders, err := sys.ListOrders(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if !o.Failed() {
			continue
		}
		p, found, err := sys.GetPayment(ctx, admin, o.ID)
		switch {
		case err != nil:
			t.Errorf("payment of %s order %s: %v", o.Status, o.ID, err)
		case found && strict:
			t.Errorf("%s order %s has a payment: %+v", o.Status, o.ID, p)
		case found && p.PaymentStatus != payment.StatusRejected && p.PaymentStatus != payment.StatusRefunded:
			t.Errorf("%s order %s has a %s payment of %d", o.Status, o.ID, p.PaymentStatus, p.Amount)
		}
	}
}

// paidOrders returns the ids of tok's user's paid orders.
func paidOrders(t *testing.T, sys *systemtest.System, tok string) []string {
	t.Helper()
	orders, err := sys.ListOrders(testCtx(t), tok)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range orders {
		if o.Paid() {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// TestRestartEachService: every service, stopped and started again on its
// own database (as in a deploy), comes back, and the system accepts orders
// again and settles those refused meanwhile.
func TestRestartEachService(t *testing.T) {
	sys := systemtest.Start(t, systemtest.Options{})
	tok := sys.SignUp(t, "kim@example.com")
	var ids []string
	for _, name := range []string{systemtest.User, systemtest.Product, systemtest.Order, systemtest.Payment, systemtest.Notification} {
		if err := sys.Stop(name); err != nil {
			t.Fatalf("stopping %s: %v", name, err)
		}
		sys.Restart(t, name)
		o, refused := sys.PlaceOrderUntilAccepted(t, tok, 30*time.Second, func(i int) systemtest.OrderRequest {
			return systemtest.OrderRequest{ProductIDs: []string{"sample-2"}, Key: fmt.Sprintf("after-%s-%d", name, i)}
		})
		t.Logf("%s restarted: %d orders refused before one was accepted", name, refused)
		ids = append(ids, o.ID)
	}
	sys.WaitSettled(t, settleTimeout(sys))
	sys.WaitDelivered(t, 10*time.Second, ids)
	sys.CheckInvariants(t, audit.Options{Delivered: ids})
}
