package order

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
		if pages == 0 { // an order placed between two pages moves nothing
			if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
				t.Fatal(err)
			}
		}
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
	if _, err := e.svc.ListOrders(t.Context(), alice, 0, encodePageToken(-1)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative position: %v", err)
	}
	if p, _ := e.svc.ListOrders(t.Context(), alice, 1000, ""); len(p.Orders) != 6 || p.NextPageToken != "" {
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
