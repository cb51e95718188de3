package order

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCreateOrderApproved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o, replayed, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil || replayed {
		t.Fatalf("CreateOrder: %v, replayed %v", err, replayed)
	}
	if o.Status != StatusPaymentProcessed || o.Total != 4000 {
		t.Errorf("status %s total %d, want PaymentProcessed 4000", o.Status, o.Total)
	}
	want := []Line{{ProductID: "p1", Name: "Apple", Price: 1000, Quantity: 2}, {ProductID: "p2", Name: "Banana", Price: 2000, Quantity: 1}}
	if fmt.Sprint(o.Products) != fmt.Sprint(want) {
		t.Errorf("lines %v, want %v (each productIds occurrence is a unit)", o.Products, want)
	}
	if o.Customer != (Customer{UserID: alice, Email: "alice@example.com", Name: "Alice"}) {
		t.Errorf("customer %+v", o.Customer)
	}
	if p := o.Payment; p.PaymentID != "pay-"+o.ID || p.Status != PaymentApproved || p.Amount != 4000 ||
		p.MaskedCardNumber != "**** **** **** 1111" || p.Method != MethodCreditCard {
		t.Errorf("payment summary %+v", p)
	}
	stored, err := e.store.Get(t.Context(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != StatusPaymentProcessed || stored.Outbox.Notify == nil || stored.Outbox.Notify.To != "alice@example.com" {
		t.Errorf("stored %s with outbox %+v, want PaymentProcessed with the notification due", stored.Status, stored.Outbox)
	}
	if strings.Contains(fmt.Sprintf("%+v", stored), "4111") {
		t.Error("the stored order holds card data")
	}
	if got := e.products.stockOf("p1"); got != 98 {
		t.Errorf("stock of p1 = %d, want 98", got)
	}
	if e.payments.seen[0].UserEmail != "alice@example.com" || e.payments.seen[0].Details.Amount != 4000 {
		t.Errorf("payment request %+v", e.payments.seen[0])
	}
	if e.statuses.count(StatusPending) != 1 || e.statuses.count(StatusPaymentProcessed) != 1 {
		t.Errorf("recorded statuses %v", e.statuses.log)
	}
	if w, ok := e.store.works()[o.ID]; !ok || w.Owner != "" || w.Due.After(e.clock.Now()) {
		t.Errorf("work entry %+v (%v), want one handed to the worker, due now", w, ok)
	}

	// The dispatcher delivers the notification once, clears the outbox and
	// starts the delivery.
	e.svc.DoDueWork(t.Context())
	if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID {
		t.Errorf("notifications sent %v, want [%s]", got, o.ID)
	}
	if stored, _ = e.store.Get(t.Context(), o.ID); !stored.Outbox.Empty() || stored.Status != StatusDeliveryStarted {
		t.Errorf("after dispatch %s with outbox %+v, want DeliveryStarted with nothing due", stored.Status, stored.Outbox)
	}
	if e.statuses.count(StatusDeliveryStarted) != 1 {
		t.Errorf("recorded statuses %v", e.statuses.log)
	}
	e.svc.DoDueWork(t.Context())
	if n := len(e.notifier.sentOrders()); n != 1 {
		t.Errorf("sent %d notifications after a second dispatch, want 1", n)
	}
}

// TestCreateOrderNotifiesAtOnce: with Options.NotifyWithin, an approved order
// is notified while CreateOrder waits and goes from Pending to DeliveryStarted
// in one update, with nothing left for the dispatcher.
func TestCreateOrderNotifiesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnvNotifyWithin(t, time.Minute)
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil || o.Status != StatusDeliveryStarted || !o.Outbox.Empty() {
		t.Fatalf("CreateOrder: %v, %s with outbox %+v, want DeliveryStarted with nothing due", err, o.Status, o.Outbox)
	}
	if p := o.Payment; p.Status != PaymentApproved || p.PaymentID != "pay-"+o.ID {
		t.Errorf("payment summary %+v", p)
	}
	if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID || e.notifier.to[0] != "alice@example.com" {
		t.Errorf("notifications %v to %v, want one for %s to alice", got, e.notifier.to, o.ID)
	}
	if stored, _ := e.store.Get(t.Context(), o.ID); stored.Status != StatusDeliveryStarted || !stored.Outbox.Empty() {
		t.Errorf("stored %s with outbox %+v", stored.Status, stored.Outbox)
	}
	// Each status it passed is counted once, PaymentProcessed included.
	for _, st := range []Status{StatusPending, StatusPaymentProcessed, StatusDeliveryStarted} {
		if n := e.statuses.count(st); n != 1 {
			t.Errorf("%s recorded %d times (%v), want once", st, n, e.statuses.log)
		}
	}
	e.svc.DoDueWork(t.Context())
	if n := len(e.notifier.sentOrders()); n != 1 {
		t.Errorf("%d notifications after a dispatch, want 1", n)
	}
}

// TestCreateOrderLeavesNotificationToOutbox: a notification that fails or does
// not come within NotifyWithin is left to the dispatcher; the order is
// PaymentProcessed with it due, and starts delivery once it is sent.
func TestCreateOrderLeavesNotificationToOutbox(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spoil func(*fakeNotifier)
	}{
		{"failed", func(n *fakeNotifier) { n.failures = 1 }},
		{"late", func(n *fakeNotifier) { n.hangs = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvNotifyWithin(t, 20*time.Millisecond)
			tc.spoil(e.notifier)
			o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
			if err != nil || o.Status != StatusPaymentProcessed || o.Outbox.Notify == nil {
				t.Fatalf("CreateOrder: %v, %s with outbox %+v, want PaymentProcessed with the notification due", err, o.Status, o.Outbox)
			}
			if got := e.notifier.sentOrders(); len(got) != 0 {
				t.Fatalf("notifications %v before the dispatch", got)
			}
			e.svc.DoDueWork(t.Context())
			if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID {
				t.Errorf("notifications %v, want one for %s", got, o.ID)
			}
			if stored, _ := e.store.Get(t.Context(), o.ID); stored.Status != StatusDeliveryStarted || !stored.Outbox.Empty() {
				t.Errorf("after the dispatch %s with outbox %+v, want DeliveryStarted with nothing due", stored.Status, stored.Outbox)
			}
		})
	}
}

func TestCreateOrderValidation(t *testing.T) {
	t.Parallel()
	many := make([]Item, MaxProducts+1)
	manyIDs := make([]string, MaxProducts+1)
	for i := range many {
		many[i] = Item{ProductID: fmt.Sprintf("x%d", i), Quantity: 1}
		manyIDs[i] = many[i].ProductID
	}
	for _, tc := range []struct {
		name   string
		change func(*NewOrder)
		want   string
	}{
		{"no products", func(r *NewOrder) { r.ProductIDs, r.Items = nil, nil }, "no products"},
		{"zero quantity", func(r *NewOrder) { r.Items[0].Quantity = 0 }, "quantity"},
		{"negative quantity", func(r *NewOrder) { r.Items[0].Quantity = -1 }, "quantity"},
		{"quantity over 1000", func(r *NewOrder) { r.Items[0].Quantity = 1001 }, "quantity"},
		{"merged quantity over 1000", func(r *NewOrder) { r.Items = []Item{{"p1", 999}} }, "quantity"},
		{"too many items", func(r *NewOrder) { r.Items = many }, "more than 100"},
		{"too many products", func(r *NewOrder) { r.ProductIDs = manyIDs }, "at most 100 different"},
		{"empty product id", func(r *NewOrder) { r.ProductIDs = []string{" "} }, "productIds[0]"},
		{"empty item id", func(r *NewOrder) { r.Items[0].ProductID = "" }, "items[0]"},
		{"long id", func(r *NewOrder) { r.ProductIDs = []string{strings.Repeat("x", 129)} }, "not a valid id"},
		{"no street", func(r *NewOrder) { r.Address.Street = "" }, "address.street"},
		{"no country", func(r *NewOrder) { r.Address.Country = "  " }, "address.country"},
		{"long city", func(r *NewOrder) { r.Address.City = strings.Repeat("c", 201) }, "address.city"},
		{"bad method", func(r *NewOrder) { r.Payment.Method = "Cash" }, "paymentMethod"},
		{"no payment name", func(r *NewOrder) { r.Payment.Name = "" }, "paymentName"},
		{"long card", func(r *NewOrder) { r.Payment.CardNumber = strings.Repeat("1", 101) }, "cardNumber"},
		{"zero amount", func(r *NewOrder) { r.Payment.Amount = 0 }, "amount"},
		{"negative amount", func(r *NewOrder) { r.Payment.Amount = -4000 }, "amount"},
		{"bad key", func(r *NewOrder) { r.IdempotencyKey = "has space" }, "idempotency key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			req := validOrder()
			tc.change(&req)
			_, _, err := e.svc.CreateOrder(t.Context(), alice, req)
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidArgument about %q", err, tc.want)
			}
			if e.store.count() != 0 || e.products.reserves != 0 {
				t.Error("a refused request stored an order or reserved stock")
			}
		})
	}
}

func TestCreateOrderWrongAmount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.Payment.Amount = 3999
	_, _, err := e.svc.CreateOrder(t.Context(), alice, req)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "total is 4000") {
		t.Fatalf("got %v, want ErrInvalidArgument naming the total 4000", err)
	}
	if e.store.count() != 0 {
		t.Error("an order with a wrong amount was stored")
	}
}

func TestCreateOrderTotalOverflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.products.catalog["big"] = Product{ID: "big", Name: "Big", Price: 1 << 62}
	req := validOrder()
	req.Items = []Item{{ProductID: "big", Quantity: 2}}
	_, _, err := e.svc.CreateOrder(t.Context(), alice, req)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("got %v, want ErrInvalidArgument (overflow)", err)
	}
	req.Items = []Item{{ProductID: "big", Quantity: 1}, {ProductID: "p1", Quantity: 1}}
	e.products.catalog["big"] = Product{ID: "big", Name: "Big", Price: 1<<63 - 1000}
	req.ProductIDs = []string{"p1"}
	if _, _, err = e.svc.CreateOrder(t.Context(), alice, req); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("sum overflow: got %v, want ErrInvalidArgument", err)
	}
}

func TestCreateOrderUnknownProductAndUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.ProductIDs = append(req.ProductIDs, "nope")
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, req); !errors.Is(err, ErrProductNotFound) {
		t.Errorf("unknown product: %v, want ErrProductNotFound", err)
	}
	if _, _, err := e.svc.CreateOrder(t.Context(), "ghost", validOrder()); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("unknown user: %v, want ErrUserNotFound", err)
	}
	e.users.err = &UnavailableError{Dependency: depUser, Err: errors.New("down")}
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("user service down: %v, want ErrUnavailable", err)
	}
	if e.store.count() != 0 {
		t.Error("an order was stored")
	}
}

func TestCreateOrderOutOfStock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.Items = []Item{{ProductID: "p3", Quantity: 2}} // one in stock
	req.Payment.Amount = 2000 + 6000
	_, _, err := e.svc.CreateOrder(t.Context(), alice, req)
	if !errors.Is(err, ErrOutOfStock) {
		t.Fatalf("got %v, want ErrOutOfStock", err)
	}
	o := onlyOrder(t, e)
	if o.Status != StatusPaymentCancelled || !strings.Contains(o.FailureReason, "out of stock") {
		t.Errorf("order %s (%q), want PaymentCancelled out of stock", o.Status, o.FailureReason)
	}
	if len(e.payments.calls) != 0 {
		t.Error("an out-of-stock order was charged")
	}
	if e.products.stockOf("p1") != 100 {
		t.Error("a failed reservation took stock")
	}
}

func TestCreateOrderDeclined(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.payments.decide = func(req PaymentRequest) (*Payment, error) {
		return &Payment{ID: "pay-x", Status: PaymentRejected, Reason: "insufficient_funds"}, nil
	}
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	var declined *DeclinedError
	if !errors.As(err, &declined) || !errors.Is(err, ErrPaymentDeclined) || declined.Reason != "insufficient_funds" {
		t.Fatalf("got %v, want *DeclinedError insufficient_funds", err)
	}
	o := onlyOrder(t, e)
	if declined.OrderID != o.ID {
		t.Errorf("error names order %q, want %q", declined.OrderID, o.ID)
	}
	if o.Status != StatusPaymentFailed || o.Payment.Status != PaymentRejected || !strings.Contains(o.FailureReason, "insufficient_funds") {
		t.Errorf("order %s payment %s (%q)", o.Status, o.Payment.Status, o.FailureReason)
	}
	// The stock was released at once, and the outbox is empty.
	if e.products.stockOf("p1") != 100 || e.products.stockOf("p2") != 100 || e.products.releases != 1 {
		t.Errorf("stock p1=%d p2=%d releases=%d, want 100 100 1", e.products.stockOf("p1"), e.products.stockOf("p2"), e.products.releases)
	}
	if !o.Outbox.Empty() {
		t.Errorf("outbox %+v, want empty", o.Outbox)
	}
	if e.statuses.count(StatusPaymentFailed) != 1 {
		t.Errorf("recorded %v", e.statuses.log)
	}
}

func TestCreateOrderPaymentRefusesDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.payments.decide = func(PaymentRequest) (*Payment, error) {
		return nil, fmt.Errorf("%w: card number fails the Luhn check", ErrInvalidArgument)
	}
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "Luhn") {
		t.Fatalf("got %v, want ErrInvalidArgument from the payment service", err)
	}
	if o := onlyOrder(t, e); o.Status != StatusPaymentFailed {
		t.Errorf("order %s, want PaymentFailed", o.Status)
	}
	if e.products.stockOf("p1") != 100 {
		t.Error("stock not released")
	}
}

func TestCreateOrderBreakerOpenOnPayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.payments.decide = func(PaymentRequest) (*Payment, error) {
		return nil, &UnavailableError{Dependency: depPayment, Refused: true, RetryAfter: 1500 * time.Millisecond}
	}
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || !unavailable.Refused || unavailable.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("got %v, want a refused *UnavailableError with RetryAfter", err)
	}
	o := onlyOrder(t, e)
	if o.Status != StatusPaymentCancelled || unavailable.OrderID != o.ID {
		t.Errorf("order %s, error names %q: want PaymentCancelled at once, named", o.Status, unavailable.OrderID)
	}
	if e.products.stockOf("p1") != 100 {
		t.Error("stock not released")
	}
}

func TestCreateOrderReserveUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.products.reserveErr = &UnavailableError{Dependency: depProduct, Err: errors.New("deadline exceeded")}
	e.products.releaseErr = errors.New("still down")
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	o := onlyOrder(t, e)
	if o.Status != StatusPaymentCancelled || !o.Outbox.ReleaseStock {
		t.Fatalf("order %s outbox %+v: want PaymentCancelled with a release due (the reservation may exist)", o.Status, o.Outbox)
	}
	if len(e.payments.calls) != 0 {
		t.Error("charged although the stock was not reserved")
	}
	// The release is retried by the dispatcher once the product service is back.
	e.svc.DoDueWork(t.Context())
	e.products.mu.Lock()
	e.products.releaseErr = nil
	e.products.mu.Unlock()
	e.clock.Advance(time.Hour)
	e.svc.DoDueWork(t.Context())
	if o, _ = e.store.Get(t.Context(), o.ID); o.Outbox.ReleaseStock {
		t.Error("release still due after the product service came back")
	}
}

// TestCreateOrderReserveRefusedStillReleases: a reservation refused by the
// breaker still gets a release in the outbox, so stock an earlier request
// for the order may have taken (a lost answer, an idempotent replay) cannot
// leak. The audit of a 64-worker load test found such leaks.
func TestCreateOrderReserveRefusedStillReleases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.products.reserveErr = &UnavailableError{Dependency: depProduct, Refused: true, RetryAfter: time.Second}
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || !unavailable.Refused {
		t.Fatalf("got %v, want a refused *UnavailableError", err)
	}
	if o := onlyOrder(t, e); o.Status != StatusPaymentCancelled || !o.Outbox.ReleaseStock {
		t.Fatalf("order %s outbox %+v: want PaymentCancelled with a release due", o.Status, o.Outbox)
	}
}

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
	e.payments.getErr = &UnavailableError{Dependency: depPayment, Err: errors.New("down")}
	e.clock.Advance(time.Hour)
	e.svc.DoDueWork(t.Context())
	if o := onlyOrder(t, e); o.Status != StatusPending {
		t.Fatalf("swept to %s while the payment service is down", o.Status)
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

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.IdempotencyKey = "key-1"
	first, replayed, err := e.svc.CreateOrder(t.Context(), alice, req)
	if err != nil || replayed {
		t.Fatalf("first: %v %v", err, replayed)
	}
	// Insert first: a keyed request reads nothing before its insert.
	if g, i := e.store.callsTo("Get"), e.store.callsTo("Insert"); g != 0 || i != 1 {
		t.Errorf("first request: %d reads and %d inserts, want 0 and 1", g, i)
	}
	e.store.resetCalls()
	second, replayed, err := e.svc.CreateOrder(t.Context(), alice, req)
	if err != nil || !replayed {
		t.Fatalf("repeat: %v, replayed %v; want the same order replayed", err, replayed)
	}
	// The repeat finds the order's work entry free (the notification was
	// handed to the worker) and takes it; its insert finds the _id taken;
	// it reads the order, sends the notification due, which starts the
	// delivery (one transition), and reads the order again to answer.
	if g, i, tr := e.store.callsTo("Get"), e.store.callsTo("Insert"), e.store.callsTo("Transition"); g != 3 || i != 1 || tr != 1 {
		t.Errorf("repeat: %d reads, %d inserts, %d transitions; want 3 (the order, again after its entry's delete, to answer), 1 (refused), 1", g, i, tr)
	}
	if second.ID != first.ID || second.Status != StatusDeliveryStarted {
		t.Errorf("repeat gave %s %s, want %s DeliveryStarted", second.ID, second.Status, first.ID)
	}
	if w := e.store.works(); len(w) != 0 {
		t.Errorf("work entries left: %+v", w)
	}
	// A repeat of a finished order changes nothing.
	e.store.resetCalls()
	if third, _, err := e.svc.CreateOrder(t.Context(), alice, req); err != nil || third.Status != StatusDeliveryStarted || e.store.callsTo("Transition") != 0 {
		t.Errorf("third: %v %s, %s", err, third.Status, e.store.callLog())
	}
	if w := e.store.works(); len(w) != 0 {
		t.Errorf("work entries left after the third: %+v", w)
	}
	if e.payments.callsFor(first.ID) != 1 || e.products.reserves != 1 || e.store.count() != 1 {
		t.Errorf("payments %d reserves %d orders %d, want 1 1 1", e.payments.callsFor(first.ID), e.products.reserves, e.store.count())
	}
	// Another user with the same key gets an order of their own.
	other, replayed, err := e.svc.CreateOrder(t.Context(), bob, req)
	if err != nil || replayed || other.ID == first.ID {
		t.Errorf("bob with alice's key: %v replayed=%v id=%s", err, replayed, other.ID)
	}
}

func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*NewOrder)
	}{
		{"another address", func(r *NewOrder) { r.Address.City = "Busan" }},
		{"another card", func(r *NewOrder) { r.Payment.CardNumber = "5555-5555-5555-4444" }},
		{"another product", func(r *NewOrder) { r.ProductIDs = []string{"p1"}; r.Payment.Amount = 3000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			req := validOrder()
			req.IdempotencyKey = "key-1"
			if _, _, err := e.svc.CreateOrder(t.Context(), alice, req); err != nil {
				t.Fatal(err)
			}
			tc.change(&req)
			_, _, err := e.svc.CreateOrder(t.Context(), alice, req)
			if !errors.Is(err, ErrIdempotencyKeyReused) {
				t.Fatalf("got %v, want ErrIdempotencyKeyReused", err)
			}
			if e.store.count() != 1 || len(e.payments.calls) != 1 {
				t.Error("key reuse created or charged another order")
			}
		})
	}
	// The same body in another field order is the same request.
	e := newEnv(t)
	req := validOrder()
	req.IdempotencyKey = "k"
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, req); err != nil {
		t.Fatal(err)
	}
	req.ProductIDs = nil
	req.Items = []Item{{"p1", 2}, {"p2", 1}}
	if _, replayed, err := e.svc.CreateOrder(t.Context(), alice, req); err != nil || !replayed {
		t.Errorf("same items spelled differently: %v replayed=%v, want a replay", err, replayed)
	}
}

// TestReplayWhenTheOrderCannotBeMadeAgain: a repeat is answered with the
// order its key made even when making it again fails now (a price changed,
// the user service is down, the user is gone); a first request with such a
// failure gets the failure.
func TestReplayWhenTheOrderCannotBeMadeAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail func(e *env)
		want error
	}{
		{"price changed", func(e *env) { e.products.catalog["p1"] = Product{ID: "p1", Name: "Apple", Price: 1100} }, ErrInvalidArgument},
		{"user service down", func(e *env) { e.users.err = &UnavailableError{Dependency: depUser, Err: errors.New("down")} }, ErrUnavailable},
		{"user gone", func(e *env) { delete(e.users.users, alice) }, ErrUserNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			req := validOrder()
			req.IdempotencyKey = "k"
			first, _, err := e.svc.CreateOrder(t.Context(), alice, req)
			if err != nil {
				t.Fatal(err)
			}
			tc.fail(e)
			again, replayed, err := e.svc.CreateOrder(t.Context(), alice, req)
			if err != nil || !replayed || again.ID != first.ID {
				t.Fatalf("repeat: %v replayed=%v id=%s, want order %s replayed", err, replayed, again.ID, first.ID)
			}
			other := req
			other.IdempotencyKey = "k2"
			if _, _, err := e.svc.CreateOrder(t.Context(), alice, other); !errors.Is(err, tc.want) {
				t.Errorf("new key: %v, want %v", err, tc.want)
			}
			conflicting := req
			conflicting.Address.City = "Busan"
			if _, _, err := e.svc.CreateOrder(t.Context(), alice, conflicting); !errors.Is(err, ErrIdempotencyKeyReused) {
				t.Errorf("same key, another body: %v, want ErrIdempotencyKeyReused", err)
			}
			if e.store.count() != 1 {
				t.Errorf("%d orders, want 1", e.store.count())
			}
		})
	}
}

func TestConcurrentRepeatsCreateOneOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.IdempotencyKey = "race"
	const n = 10
	var wg sync.WaitGroup
	ids := make([]string, n)
	replays := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			var o Order
			o, replays[i], errs[i] = e.svc.CreateOrder(t.Context(), alice, req)
			ids[i] = o.ID
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("call %d got order %s, want %s", i, ids[i], ids[0])
		}
		if !replays[i] {
			created++
		}
	}
	if created != 1 || e.store.count() != 1 || e.payments.callsFor(ids[0]) != 1 || e.products.reserves != 1 {
		t.Errorf("created %d, orders %d, payments %d, reserves %d: want 1 each", created, e.store.count(), e.payments.callsFor(ids[0]), e.products.reserves)
	}
}

func TestDeliveryStarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.store.resetCalls()
	d, err := e.svc.DeliveryStarted(t.Context(), o.ID)
	if err != nil || d.Status != StatusDeliveryStarted {
		t.Fatalf("DeliveryStarted: %v %s", err, d.Status)
	}
	// One conditional update, no read first; the notification not sent yet
	// stays due, and the dispatcher then sends it and clears it.
	if g, tr := e.store.callsTo("Get"), e.store.callsTo("Transition"); g != 0 || tr != 1 {
		t.Errorf("DeliveryStarted: %d reads and %d transitions, want 0 and 1", g, tr)
	}
	if d.Outbox.Notify == nil {
		t.Errorf("outbox %+v, want the notification still due", d.Outbox)
	}
	e.svc.DoDueWork(t.Context())
	if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID {
		t.Errorf("notifications %v after DeliveryStarted, want the order's one", got)
	}
	if stored := onlyOrder(t, e); !stored.Outbox.Empty() {
		t.Errorf("outbox %+v after the dispatch, want nothing due", stored.Outbox)
	}
	if d, err = e.svc.DeliveryStarted(t.Context(), o.ID); err != nil || d.Status != StatusDeliveryStarted {
		t.Errorf("repeat: %v %s, want the same answer", err, d.Status)
	}
	if e.statuses.count(StatusDeliveryStarted) != 1 {
		t.Errorf("recorded %v", e.statuses.log)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: %v, want ErrNotFound", err)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty id: %v, want ErrInvalidArgument", err)
	}

	e.payments.decide = func(PaymentRequest) (*Payment, error) {
		return &Payment{Status: PaymentRejected, Reason: "no"}, nil
	}
	_, _, err = e.svc.CreateOrder(t.Context(), alice, validOrder())
	var declined *DeclinedError
	if !errors.As(err, &declined) {
		t.Fatal(err)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), declined.OrderID); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("failed order: %v, want ErrIllegalTransition", err)
	}
	pending := Order{ID: "pending", Customer: Customer{UserID: alice}, Status: StatusPending}
	e.store.set(pending)
	if _, err := e.svc.DeliveryStarted(t.Context(), "pending"); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("pending order: %v, want ErrIllegalTransition", err)
	}
}

// TestDispatchStartsDelivery: once the payment notification is sent, the
// dispatcher moves the order to DeliveryStarted and clears the outbox in one
// transition, with nothing else written.
func TestDispatchStartsDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.store.resetCalls()
	e.svc.DoDueWork(t.Context())
	stored := onlyOrder(t, e)
	if stored.Status != StatusDeliveryStarted || !stored.Outbox.Empty() || !stored.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("order %s outbox %+v updated %v, want DeliveryStarted with nothing due", stored.Status, stored.Outbox, stored.UpdatedAt)
	}
	if got := e.store.callLog(); got != "map[DeleteWork:1 Get:2 ListWork:1 Transition:1 UpdateWork:1]" {
		t.Errorf("store calls %s, want the listing, the claim, a read (from memory on the embedded store), one transition, the entry's delete and a read after it", got)
	}
	if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID {
		t.Errorf("sent %v", got)
	}
	if e.statuses.count(StatusDeliveryStarted) != 1 {
		t.Errorf("recorded %v", e.statuses.log)
	}
	// The RPC afterwards answers the order as it is.
	if d, err := e.svc.DeliveryStarted(t.Context(), o.ID); err != nil || d.Status != StatusDeliveryStarted {
		t.Errorf("DeliveryStarted after the dispatcher: %v %s", err, d.Status)
	}
	if e.statuses.count(StatusDeliveryStarted) != 1 {
		t.Errorf("recorded %v, want DeliveryStarted once", e.statuses.log)
	}
}

// TestDispatchAfterDeliveryStartedElsewhere: when the order moved to
// DeliveryStarted while its notification was being sent, the dispatcher's
// transition loses and it only clears what is left; the status is recorded
// once.
func TestDispatchAfterDeliveryStartedElsewhere(t *testing.T) {
	t.Parallel()
	t.Run("the RPC, during the send", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
			t.Fatal(err)
		}
		e.notifier.onSend = func(id string) {
			if _, err := e.svc.DeliveryStarted(context.Background(), id); err != nil {
				t.Errorf("DeliveryStarted: %v", err)
			}
		}
		e.store.resetCalls()
		e.svc.DoDueWork(t.Context())
		if o := onlyOrder(t, e); o.Status != StatusDeliveryStarted || !o.Outbox.Empty() {
			t.Errorf("order %s outbox %+v", o.Status, o.Outbox)
		}
		if n := e.store.callsTo("ClearOutbox"); n != 1 {
			t.Errorf("%d ClearOutbox, want one (the transition lost to the RPC's)", n)
		}
		if e.statuses.count(StatusDeliveryStarted) != 1 {
			t.Errorf("recorded %v, want DeliveryStarted once", e.statuses.log)
		}
	})
	t.Run("a notification left due on a started order", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.store.set(Order{ID: "o", Customer: Customer{UserID: alice}, Status: StatusDeliveryStarted,
			Outbox: Outbox{Notify: &Notification{To: "a@x", UserID: alice}}})
		e.store.work["o"] = Work{OrderID: "o", Due: e.clock.Now()}
		e.svc.DoDueWork(t.Context())
		if o := onlyOrder(t, e); o.Status != StatusDeliveryStarted || !o.Outbox.Empty() {
			t.Errorf("order %s outbox %+v", o.Status, o.Outbox)
		}
		if e.store.callsTo("Transition") != 0 || e.store.callsTo("ClearOutbox") != 1 || len(e.notifier.sentOrders()) != 1 {
			t.Errorf("calls %s, sent %v: want the notification sent and cleared, no transition", e.store.callLog(), e.notifier.sentOrders())
		}
		if e.statuses.count(StatusDeliveryStarted) != 0 {
			t.Errorf("recorded %v", e.statuses.log)
		}
	})
}

// TestRefusedNotificationStartsNoDelivery: a notification the notification
// service refuses as invalid is dropped, and the order stays PaymentProcessed
// (delivery starts after a notification that was sent).
func TestRefusedNotificationStartsNoDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.notifier.refuse = fmt.Errorf("%w: bad address", ErrInvalidArgument)
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
		t.Fatal(err)
	}
	e.svc.DoDueWork(t.Context())
	if o := onlyOrder(t, e); o.Status != StatusPaymentProcessed || !o.Outbox.Empty() {
		t.Errorf("order %s outbox %+v, want PaymentProcessed with the notification dropped", o.Status, o.Outbox)
	}
}

func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	legal := map[[2]Status]bool{
		{StatusPending, StatusPaymentCancelled}:         true,
		{StatusPending, StatusPaymentFailed}:            true,
		{StatusPending, StatusPaymentProcessed}:         true,
		{StatusPending, StatusDeliveryStarted}:          true,
		{StatusPaymentProcessed, StatusDeliveryStarted}: true,
		{StatusDeliveryStarted, StatusDeliveryDone}:     true,
	}
	for _, from := range Statuses() {
		for _, to := range Statuses() {
			if got := from.CanMoveTo(to); got != legal[[2]Status{from, to}] {
				t.Errorf("%s → %s allowed = %v", from, to, got)
			}
		}
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

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := other.RunWorker(ctx); err != nil {
		t.Errorf("RunWorker returned %v, want nil at shutdown", err)
	}
}

func TestGetAndListOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string
	for range 5 {
		o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
		e.clock.Advance(time.Second)
	}
	bobs, _, err := e.svc.CreateOrder(t.Context(), bob, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetOrder(t.Context(), alice, ids[0]); err != nil {
		t.Errorf("own order: %v", err)
	}
	if _, err := e.svc.GetOrder(t.Context(), alice, bobs.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another user's order: %v, want ErrNotFound", err)
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		p, err := e.svc.ListOrders(t.Context(), alice, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Orders {
			got = append(got, o.ID)
		}
		if p.NextPageToken == "" {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		token = p.NextPageToken
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed %v, want newest first %v", got, want)
	}
	if _, err := e.svc.ListOrders(t.Context(), alice, 0, "garbage"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad token: %v", err)
	}
	if _, err := e.svc.ListOrders(t.Context(), alice, -1, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative page size: %v", err)
	}
	if p, _ := e.svc.ListOrders(t.Context(), alice, 1000, ""); len(p.Orders) != 5 || p.NextPageToken != "" {
		t.Errorf("large page: %d orders, token %q", len(p.Orders), p.NextPageToken)
	}
}

func TestPaymentDetailsNeverFormatCardData(t *testing.T) {
	t.Parallel()
	p := validOrder().Payment
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "payment", p)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprint(validOrder()), buf.String()} {
		if strings.Contains(s, "4111-1111") || strings.Contains(s, "900101") {
			t.Errorf("card data formatted: %s", s)
		}
	}
	if got := MaskCardNumber("4111 1111 1111 1234"); got != "**** **** **** 1234" {
		t.Errorf("mask %q", got)
	}
	if got := MaskCardNumber("12"); got != "" {
		t.Errorf("mask of a short number %q", got)
	}
}

// onlyOrder returns the one order in the store.
func onlyOrder(t *testing.T, e *env) Order {
	t.Helper()
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	if len(e.store.orders) != 1 {
		t.Fatalf("%d orders stored, want 1", len(e.store.orders))
	}
	for _, o := range e.store.orders {
		return clone(o)
	}
	return Order{}
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

// TestCreateOrderAdmission: past Options.MaxConcurrentOrders, a CreateOrder
// waits up to AdmissionWait for a turn, then fails with a retryable
// ErrUnavailable having called nothing and stored nothing; a turn given back
// is taken by the next call.
func TestCreateOrderAdmission(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc, err := NewService(e.store, Dependencies{Users: e.users, Products: e.products, Payments: e.payments, Notifier: e.notifier},
		Options{Now: e.clock.Now, OrderTimeout: 5 * time.Second, MaxConcurrentOrders: 1, AdmissionWait: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	paying, unblock := make(chan struct{}), make(chan struct{})
	e.payments.decide = func(req PaymentRequest) (*Payment, error) {
		close(paying)
		<-unblock
		return approve(req)
	}
	first := make(chan error, 1)
	go func() {
		_, _, err := svc.CreateOrder(context.Background(), alice, validOrder())
		first <- err
	}()
	<-paying // the first order holds the only turn

	e.store.resetCalls()
	reserves := e.products.reserves
	_, _, err = svc.CreateOrder(t.Context(), bob, validOrder())
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || unavailable.RetryAfter <= 0 || !errors.Is(err, ErrOverloaded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second order while the first holds the turn: %v, want a retryable ErrUnavailable (ErrOverloaded)", err)
	}
	if msg := err.Error(); strings.Contains(msg, "breaker") || !strings.Contains(msg, "too many orders") {
		t.Errorf("message %q: want it to say the order service is busy, not name a breaker", msg)
	}
	// A caller that gives up while waiting gets its own error.
	gone, cancelWait := context.WithCancel(t.Context())
	cancelWait()
	if _, _, err := svc.CreateOrder(gone, bob, validOrder()); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled wait: %v, want context.Canceled", err)
	}
	if got := e.store.callLog(); got != "map[]" || e.products.reserves != reserves {
		t.Errorf("a refused order touched the store (%s) or reserved stock (%d → %d)", got, reserves, e.products.reserves)
	}

	close(unblock)
	if err := <-first; err != nil {
		t.Fatalf("first order: %v", err)
	}
	e.payments.decide = approve
	if _, _, err := svc.CreateOrder(t.Context(), bob, validOrder()); err != nil {
		t.Errorf("an order after the turn came back: %v", err)
	}
}
