package order

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPaymentTimeoutSweeper: the payment's answer is lost; the order stays
// Pending and the sweeper settles it from GetPayment, both ways.
func TestPaymentTimeoutSweeper(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		charged     bool
		want        Status
		wantStockP1 int64
	}{
		{"charged before the answer was lost", true, StatusDeliveryStarted, 98}, // and notified in the same round
		{"never reached the payment service", false, StatusPaymentCancelled, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.payments.decide = func(req PaymentRequest) (*Payment, error) {
				lost := &UnavailableError{Dependency: depPayment, Err: errors.New("deadline exceeded")}
				if tc.charged {
					p, _ := approve(req)
					return p, lost
				}
				return nil, lost
			}
			_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
			var unavailable *UnavailableError
			if !errors.As(err, &unavailable) || unavailable.OrderID == "" {
				t.Fatalf("got %v, want *UnavailableError naming the order", err)
			}
			id := unavailable.OrderID
			if o, _ := e.store.Get(t.Context(), id); o.Status != StatusPending {
				t.Fatalf("order %s, want Pending until the outcome is known", o.Status)
			}

			e.svc.DoDueWork(t.Context()) // too young: the handler could still be at work
			if o, _ := e.store.Get(t.Context(), id); o.Status != StatusPending {
				t.Fatalf("a young order was swept to %s", o.Status)
			}
			e.clock.Advance(e.svc.holdFor() + time.Second)
			e.svc.DoDueWork(t.Context())
			o, _ := e.store.Get(t.Context(), id)
			if o.Status != tc.want {
				t.Fatalf("after sweep %s, want %s", o.Status, tc.want)
			}
			e.svc.DoDueWork(t.Context())
			if got := e.products.stockOf("p1"); got != tc.wantStockP1 {
				t.Errorf("stock p1 = %d, want %d", got, tc.wantStockP1)
			}
			if tc.charged != (len(e.notifier.sentOrders()) == 1) {
				t.Errorf("notifications %v", e.notifier.sentOrders())
			}
			if w := e.store.works(); len(w) != 0 {
				t.Errorf("work entries left: %+v", w)
			}
		})
	}
}

func TestSweeperWaitsForPaymentService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.payments.decide = func(PaymentRequest) (*Payment, error) {
		return nil, &UnavailableError{Dependency: depPayment, Err: errors.New("down")}
	}
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
	if w := e.store.works()[onlyOrder(t, e).ID]; w.LastError != "payment service unavailable" {
		t.Errorf("entry left by the handler: last error %q, want the payment's failure", w.LastError)
	}
	e.payments.getErr = &UnavailableError{Dependency: depPayment, Err: errors.New("down")}
	e.clock.Advance(time.Hour)
	e.svc.DoDueWork(t.Context())
	if o := onlyOrder(t, e); o.Status != StatusPending {
		t.Fatalf("swept to %s while the payment service is down", o.Status)
	}
	if w := e.store.works()[onlyOrder(t, e).ID]; w.LastError != "payment service unavailable" {
		t.Errorf("entry left by the sweep: last error %q, want the payment service's failure", w.LastError)
	}
	e.payments.getErr = nil
	e.svc.DoDueWork(t.Context()) // not yet: the next look is SweepInterval later
	if o := onlyOrder(t, e); o.Status != StatusPending {
		t.Fatalf("swept to %s before SweepInterval passed", o.Status)
	}
	e.clock.Advance(e.svc.opts.SweepInterval)
	e.svc.DoDueWork(t.Context())
	if o := onlyOrder(t, e); o.Status != StatusPaymentCancelled {
		t.Fatalf("order %s, want PaymentCancelled (never charged)", o.Status)
	}
}

func TestSweeperRejectedPayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.payments.decide = func(req PaymentRequest) (*Payment, error) {
		return &Payment{ID: "p", Status: PaymentRejected, Reason: "stolen_card"}, &UnavailableError{Dependency: depPayment, Err: errors.New("lost")}
	}
	_, _, _ = e.svc.CreateOrder(t.Context(), alice, validOrder())
	e.clock.Advance(time.Hour)
	e.svc.DoDueWork(t.Context())
	o := onlyOrder(t, e)
	if o.Status != StatusPaymentFailed || !strings.Contains(o.FailureReason, "stolen_card") {
		t.Fatalf("order %s (%q), want PaymentFailed stolen_card", o.Status, o.FailureReason)
	}
}

// TestApprovedPaymentOfFailedOrderIsRefunded: an order settled elsewhere while
// its payment was in flight keeps that settlement and its payment is
// refunded, whether the order was on its way to PaymentProcessed (the
// notification queued) or to DeliveryStarted (the notification sent at once).
func TestApprovedPaymentOfFailedOrderIsRefunded(t *testing.T) {
	t.Parallel()
	for name, notifyWithin := range map[string]time.Duration{"notification queued": -1, "notification at once": time.Minute} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnvNotifyWithin(t, notifyWithin)
			e.payments.decide = func(req PaymentRequest) (*Payment, error) {
				// Another actor settled the order while the payment was in flight.
				o, _ := e.store.Get(t.Context(), req.OrderID)
				o.Status = StatusPaymentCancelled
				e.store.set(o)
				return approve(req)
			}
			_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
			if !errors.Is(err, ErrIllegalTransition) {
				t.Fatalf("got %v, want ErrIllegalTransition", err)
			}
			o := onlyOrder(t, e)
			if o.Status != StatusPaymentCancelled {
				t.Errorf("order %s, want PaymentCancelled (the first settlement stands)", o.Status)
			}
			if len(e.payments.refunds) != 1 || e.payments.refunds[0] != o.ID || o.Outbox.Refund {
				t.Errorf("refunds %v, outbox %+v: want one refund done", e.payments.refunds, o.Outbox)
			}
		})
	}
}

// TestApprovedPaymentOfOrderPaidElsewhere: an order settled paid elsewhere
// while its handler's payment was in flight (a sweep, from the same
// payment) is answered as it stands, not as a failure: the customer was
// charged once and the order goes on to delivery.
func TestApprovedPaymentOfOrderPaidElsewhere(t *testing.T) {
	t.Parallel()
	for _, settled := range []Status{StatusPaymentProcessed, StatusDeliveryStarted} {
		t.Run(string(settled), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.payments.decide = func(req PaymentRequest) (*Payment, error) {
				o, _ := e.store.Get(t.Context(), req.OrderID)
				o.Status = settled
				e.store.set(o)
				return approve(req)
			}
			o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
			if err != nil || o.Status != settled {
				t.Fatalf("CreateOrder: %v %s, want the order as it stands (%s)", err, o.Status, settled)
			}
			if len(e.payments.refunds) != 0 || o.Outbox.Refund {
				t.Errorf("refunds %v, outbox %+v: want none", e.payments.refunds, o.Outbox)
			}
		})
	}
}

func TestOutboxRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.notifier.failures = 2
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.svc.DoDueWork(t.Context()) // fails
	e.svc.DoDueWork(t.Context()) // not due yet: backoff
	if e.notifier.attempts != 1 {
		t.Fatalf("attempts %d, want 1 (the retry waits for its backoff)", e.notifier.attempts)
	}
	if w := e.store.works()[o.ID]; w.Attempts != 1 || w.LastError != "payment notification: notification service unavailable" {
		t.Errorf("entry after the failure: attempts %d, last error %q; want 1 and the notification's failure", w.Attempts, w.LastError)
	}
	e.clock.Advance(time.Second)
	e.svc.DoDueWork(t.Context()) // fails again
	e.clock.Advance(499 * time.Millisecond)
	e.svc.DoDueWork(t.Context()) // the second backoff (0.5..1s) is not over yet
	if e.notifier.attempts != 2 {
		t.Fatalf("attempts %d, want 2 (exponential backoff)", e.notifier.attempts)
	}
	e.clock.Advance(time.Second)
	e.svc.DoDueWork(t.Context())
	if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID || e.notifier.to[0] != "alice@example.com" {
		t.Fatalf("sent %v to %v", got, e.notifier.to)
	}
	if stored, _ := e.store.Get(t.Context(), o.ID); !stored.Outbox.Empty() || stored.Status != StatusDeliveryStarted {
		t.Errorf("%s with outbox %+v after delivery, want DeliveryStarted with nothing due", stored.Status, stored.Outbox)
	}
	if w, ok := e.store.works()[o.ID]; ok {
		t.Errorf("a delivered order still has work: %+v", w)
	}
}

// TestWorkerTakesOverADeadReplicasWork: the entries a replica left (its
// Pending order and an order with its notification due, leases held by a
// replica that is gone) are claimed by another replica's worker once their
// leases end, and not before; RunWorker returns nil when stopped.
func TestWorkerTakesOverADeadReplicasWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.store.set(Order{ID: "left-pending", Customer: Customer{UserID: alice, Email: "a@x"}, Status: StatusPending, CreatedAt: now})
	e.store.set(Order{ID: "paid", Customer: Customer{UserID: alice, Email: "a@x"}, Status: StatusPaymentProcessed, CreatedAt: now,
		Outbox: Outbox{Notify: &Notification{To: "a@x", UserID: alice}}})
	lease := now.Add(10 * time.Second)
	e.store.work["left-pending"] = Work{OrderID: "left-pending", Due: lease, Owner: "dead", LeaseUntil: lease}
	e.store.work["paid"] = Work{OrderID: "paid", Due: now, Owner: "dead", LeaseUntil: lease}
	e.payments.payments["left-pending"] = Payment{ID: "x", Status: PaymentApproved}

	other, err := NewService(e.store, e.svc.deps, Options{Now: e.clock.Now, Replica: "other"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other.DoDueWork(t.Context())
	if n := len(e.notifier.sentOrders()); n != 0 {
		t.Fatalf("%d notifications sent while the dead replica's leases last", n)
	}
	e.clock.Advance(10 * time.Second)
	other.DoDueWork(t.Context())
	for _, id := range []string{"left-pending", "paid"} {
		if o, _ := e.store.Get(t.Context(), id); o.Status != StatusDeliveryStarted || !o.Outbox.Empty() {
			t.Errorf("order %s: %s with outbox %+v, want DeliveryStarted with nothing due", id, o.Status, o.Outbox)
		}
	}
	if got := e.notifier.sentOrders(); len(got) != 2 {
		t.Errorf("notifications %v, want one for each order", got)
	}
	if w := e.store.works(); len(w) != 0 {
		t.Errorf("work entries left: %+v", w)
	}
	// The dead replica stored both orders but listed neither (set does not
	// list): the takeover did.
	if p, err := other.ListOrders(t.Context(), alice, 10, ""); err != nil || len(p.Orders) != 2 {
		t.Errorf("alice's list: %+v (%v), want both orders", p.Orders, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := other.RunWorker(ctx); err != nil {
		t.Errorf("RunWorker returned %v, want nil at shutdown", err)
	}
}

// TestStoreFailureAfterPaymentIsSweptLater: the store fails to record the
// approved payment; the order stays Pending and the sweeper finishes it.
func TestStoreFailureAfterPaymentIsSweptLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store.failNext = errors.New("store unreachable")
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want the store's (internal) error", err)
	}
	if o := onlyOrder(t, e); o.Status != StatusPending {
		t.Fatalf("order %s, want Pending", o.Status)
	}
	e.clock.Advance(e.svc.holdFor() + time.Second)
	e.svc.DoDueWork(t.Context())
	if o := onlyOrder(t, e); o.Status != StatusDeliveryStarted || o.Payment.Status != PaymentApproved {
		t.Fatalf("after sweep %s (payment %s), want DeliveryStarted (paid, and notified in the same round)", o.Status, o.Payment.Status)
	}
	if e.payments.callsFor(onlyOrder(t, e).ID) != 1 {
		t.Error("the sweeper charged again")
	}
}

// TestOrderStoredButNotListed: the store fails between Insert's two writes
// (the order stored, its listing not): CreateOrder fails having charged
// nothing, the order stays Pending with its work entry, and once the hold
// ends the worker lists it and settles it, so the customer sees it, once,
// final. While the store still fails, the worker leaves it for later.
func TestOrderStoredButNotListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store.failList = errors.New("store went away")
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err == nil {
		t.Fatal("CreateOrder succeeded; want the listing's failure")
	}
	o := onlyOrder(t, e)
	if o.Status != StatusPending || e.payments.callsFor(o.ID) != 0 {
		t.Fatalf("order %s after the failed listing, %d charges; want Pending, none", o.Status, e.payments.callsFor(o.ID))
	}
	e.clock.Advance(e.svc.holdFor() + time.Second)
	e.svc.DoDueWork(t.Context())
	if got := onlyOrder(t, e); got.Status != StatusPending {
		t.Fatalf("order %s while the store still fails, want Pending for a later round", got.Status)
	}
	e.store.failList = nil
	e.clock.Advance(e.svc.opts.SweepInterval)
	e.svc.DoDueWork(t.Context())
	p, err := e.svc.ListOrders(t.Context(), alice, 10, "")
	if err != nil || len(p.Orders) != 1 || p.Orders[0].ID != o.ID || p.Orders[0].Status != StatusPaymentCancelled {
		t.Errorf("alice's list %+v (%v), want the order once, PaymentCancelled (never charged)", p.Orders, err)
	}
	if w := e.store.works(); len(w) != 0 {
		t.Errorf("work entries left: %+v", w)
	}
}
