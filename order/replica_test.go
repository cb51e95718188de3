package order

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// hungPayments is the payment client of a replica that died mid-flight: its
// charges never return until dead is closed, then fail as a lost connection
// would, so that whatever its handlers do afterwards is what a zombie would.
type hungPayments struct {
	Payments
	dead    chan struct{}
	arrived chan string
}

func (h *hungPayments) MakePayment(_ context.Context, req PaymentRequest) (Payment, error) {
	h.arrived <- req.OrderID
	<-h.dead
	return Payment{}, &UnavailableError{Dependency: depPayment, Err: errors.New("connection lost")}
}

// replica is another order service instance on e's dependencies and store.
func replica(t *testing.T, e *env, store Store, name string, deps Dependencies) *Orders {
	t.Helper()
	svc, err := NewService(store, deps, Options{Now: e.clock.Now, Replica: name, OrderTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestReplicaLostForGood: two replicas share one order store (the embedded
// store); orders run on both at once, one replica dies mid-flight, its
// charges hanging, and never comes back. Once the dead replica's holds end,
// the other settles every one of its orders (never charged: cancelled, the
// stock back) in one round, finishes its own, and leaves no work entry; the
// dead replica's handlers, woken afterwards, change nothing.
func TestReplicaLostForGood(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := newTestMongoStore(t)
	deps := e.svc.deps
	hung := &hungPayments{Payments: e.payments, dead: make(chan struct{}), arrived: make(chan string, 64)}
	deadDeps := deps
	deadDeps.Payments = hung
	dead := replica(t, e, store, "dead", deadDeps)
	live := replica(t, e, store, "live", deps)

	const n = 8
	var wg, liveWG sync.WaitGroup
	var liveIDs []string
	var mu sync.Mutex
	for i := range n {
		wg.Go(func() {
			req := validOrder()
			req.IdempotencyKey = fmt.Sprint("dead-", i)
			_, _, _ = dead.CreateOrder(context.Background(), alice, req)
		})
		liveWG.Go(func() {
			req := validOrder()
			req.IdempotencyKey = fmt.Sprint("live-", i)
			o, _, err := live.CreateOrder(t.Context(), bob, req)
			if err != nil {
				t.Errorf("live replica's order: %v", err)
				return
			}
			mu.Lock()
			liveIDs = append(liveIDs, o.ID)
			mu.Unlock()
		})
	}
	var deadIDs []string
	for range n {
		deadIDs = append(deadIDs, <-hung.arrived) // each of the dead replica's orders is stored and reserved
	}
	defer func() {
		close(hung.dead)
		wg.Wait()
		// The zombies' late failures change nothing.
		for _, id := range deadIDs {
			if o, _ := store.Get(context.Background(), id); o.Status != StatusPaymentCancelled {
				t.Errorf("dead replica's order %s became %s after its handler woke", id, o.Status)
			}
		}
	}()

	// The live replica's own orders finish within their hold, long before the
	// clock below jumps past it: wait for them, as the hold would.
	liveWG.Wait()
	live.DoDueWork(t.Context()) // the dead replica still holds its orders
	for _, id := range deadIDs {
		if o, _ := store.Get(t.Context(), id); o.Status != StatusPending {
			t.Fatalf("order %s settled to %s while its replica's hold lasts", id, o.Status)
		}
	}
	e.clock.Advance(live.holdFor())
	live.DoDueWork(t.Context())
	for _, id := range deadIDs {
		o, err := store.Get(t.Context(), id)
		if err != nil || o.Status != StatusPaymentCancelled || !o.Outbox.Empty() {
			t.Errorf("dead replica's order %s: %s outbox %+v (%v), want PaymentCancelled with the stock released", id, o.Status, o.Outbox, err)
		}
	}
	mu.Lock()
	for _, id := range liveIDs {
		if o, _ := store.Get(t.Context(), id); o.Status != StatusPaymentProcessed && o.Status != StatusDeliveryStarted {
			t.Errorf("live replica's order %s: %s", id, o.Status)
		}
	}
	mu.Unlock()
	live.DoDueWork(t.Context()) // the live orders' notifications
	if w, err := store.ListWork(t.Context(), time.Time{}); err != nil || len(w) != 0 {
		t.Errorf("work entries left: %+v %v", w, err)
	}
	// The dead replica's reservations are back: only the live orders hold stock.
	if got, want := e.products.stockOf("p1"), int64(100-2*len(liveIDs)); got != want {
		t.Errorf("stock of p1 = %d, want %d", got, want)
	}
}

// TestLeaseIsExclusive: two replicas racing rounds over the same due work on
// the embedded store run each side effect once: of two claims of an entry,
// one wins.
func TestLeaseIsExclusive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := newTestMongoStore(t)
	a := replica(t, e, store, "a", e.svc.deps)
	b := replica(t, e, store, "b", e.svc.deps)
	a.opts.NotifyWithin = -1 // every notification left to the workers
	const n = 20
	for i := range n {
		req := validOrder()
		req.IdempotencyKey = fmt.Sprint("k", i)
		if _, _, err := a.CreateOrder(t.Context(), alice, req); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, r := range []*Orders{a, b, a, b} {
		wg.Go(func() { r.DoDueWork(t.Context()) })
	}
	wg.Wait()
	sent := map[string]int{}
	for _, id := range e.notifier.sentOrders() {
		sent[id]++
	}
	if len(sent) != n {
		t.Errorf("%d orders notified, want %d", len(sent), n)
	}
	for id, k := range sent {
		if k != 1 {
			t.Errorf("order %s notified %d times", id, k)
		}
	}
}

// TestGracefulStopHandsOver: a replica that stops gives its leases up, and
// another takes its work over at once instead of when the leases end.
func TestGracefulStopHandsOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := newTestMongoStore(t)
	a := replica(t, e, store, "a", e.svc.deps)
	b := replica(t, e, store, "b", e.svc.deps)
	now := e.clock.Now()
	held := now.Add(time.Hour)
	if err := store.Insert(t.Context(), storedOrder("o1", alice, now)); err != nil {
		t.Fatal(err)
	}
	e.payments.payments["o1"] = Payment{ID: "pay-o1", Status: PaymentApproved}
	if err := store.InsertWork(t.Context(), Work{OrderID: "o1", Due: held, Owner: "a", LeaseUntil: held}); err != nil {
		t.Fatal(err)
	}
	b.DoDueWork(t.Context())
	if o, _ := store.Get(t.Context(), "o1"); o.Status != StatusPending {
		t.Fatalf("b settled a's order to %s while a holds it", o.Status)
	}
	stopped, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.RunWorker(stopped); err != nil {
		t.Fatal(err)
	}
	if w, err := store.GetWork(t.Context(), "o1"); err != nil || w.Owner != "" || w.LeaseUntil.After(now) {
		t.Fatalf("after a's stop the entry is %+v (%v), want released", w, err)
	}
	b.DoDueWork(t.Context())
	if o, _ := store.Get(t.Context(), "o1"); o.Status != StatusDeliveryStarted {
		t.Errorf("after the hand-over b left the order %s, want DeliveryStarted", o.Status)
	}
}

// TestRepeatAfterCrashSettles: a repeat of a keyed request whose handler died
// (its hold over) settles the order at once from its payment's state,
// instead of answering it Pending; while the hold lasts, the repeat gets the
// order as it stands, or, before the order is stored, ErrInProgress.
func TestRepeatAfterCrashSettles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := newTestMongoStore(t)
	hung := &hungPayments{Payments: e.payments, dead: make(chan struct{}), arrived: make(chan string, 1)}
	deadDeps := e.svc.deps
	deadDeps.Payments = hung
	dead := replica(t, e, store, "dead", deadDeps)
	live := replica(t, e, store, "live", e.svc.deps)
	req := validOrder()
	req.IdempotencyKey = "again"
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = dead.CreateOrder(context.Background(), alice, req)
	}()
	id := <-hung.arrived
	defer func() { close(hung.dead); <-done }()

	if o, replayed, err := live.CreateOrder(t.Context(), alice, req); err != nil || !replayed || o.Status != StatusPending {
		t.Fatalf("repeat while the first request holds the order: %v replayed=%v %s, want it replayed Pending", err, replayed, o.Status)
	}
	e.clock.Advance(live.holdFor())
	o, replayed, err := live.CreateOrder(t.Context(), alice, req)
	if err != nil || !replayed || o.ID != id || o.Status != StatusPaymentCancelled {
		t.Fatalf("repeat after the crash: %v replayed=%v %s %s, want order %s PaymentCancelled", err, replayed, o.ID, o.Status, id)
	}
	if w, err := store.ListWork(t.Context(), time.Time{}); err != nil || len(w) != 0 {
		t.Errorf("work entries left: %+v %v", w, err)
	}
}

// TestSweepOfVoidedPayment: a payment the payment service voided (never
// charged) cancels its order and releases its stock.
func TestSweepOfVoidedPayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.payments.decide = func(req PaymentRequest) (*Payment, error) {
		return &Payment{ID: "pay-" + req.OrderID, Status: PaymentPending}, nil
	}
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
		t.Fatal(err)
	}
	o := onlyOrder(t, e)
	e.payments.payments[o.ID] = Payment{ID: "pay-" + o.ID, Status: PaymentVoided}
	e.clock.Advance(e.svc.opts.SweepInterval)
	e.svc.DoDueWork(t.Context())
	if o = onlyOrder(t, e); o.Status != StatusPaymentCancelled || o.Payment.Status != PaymentVoided || !o.Outbox.Empty() {
		t.Fatalf("order %s payment %s outbox %+v, want PaymentCancelled, Voided, stock released", o.Status, o.Payment.Status, o.Outbox)
	}
	if got := e.products.stockOf("p1"); got != 100 {
		t.Errorf("stock of p1 = %d, want 100", got)
	}
}

// TestRepeatBeforeTheOrderIsStored: a repeat that finds the key's work held
// and no order yet is told to retry, having done nothing.
func TestRepeatBeforeTheOrderIsStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.IdempotencyKey = "early"
	id, _, err := identify(alice, req, []Item{{ProductID: "p1", Quantity: 2}, {ProductID: "p2", Quantity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	held := e.clock.Now().Add(time.Minute)
	e.store.work[id] = Work{OrderID: id, Due: held, Owner: "other", LeaseUntil: held}
	_, _, err = e.svc.CreateOrder(t.Context(), alice, req)
	var unavailable *UnavailableError
	if !errors.Is(err, ErrInProgress) || !errors.As(err, &unavailable) || unavailable.RetryAfter <= 0 {
		t.Fatalf("got %v, want ErrInProgress with a retry advice", err)
	}
	if e.store.count() != 0 || e.products.reserves != 0 || len(e.payments.seen) != 0 {
		t.Errorf("orders %d reserves %d payments %d, want nothing done", e.store.count(), e.products.reserves, len(e.payments.seen))
	}
}

// TestDrainRefusesNewOrders: once draining (the stop has begun),
// CreateOrder refuses with ErrUnavailable and a retry advice, and nothing
// is written or reserved; the orders stored before are not touched.
func TestDrainRefusesNewOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
		t.Fatal(err)
	}
	e.store.resetCalls()
	e.svc.Drain()
	_, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || !errors.Is(err, ErrDraining) || unavailable.RetryAfter <= 0 || unavailable.OrderID != "" {
		t.Fatalf("CreateOrder while draining: %v, want ErrUnavailable (ErrDraining) with a retry advice and no order", err)
	}
	if log := e.store.callLog(); log != "map[]" {
		t.Errorf("store calls while draining: %s, want none", log)
	}
	if n := e.store.count(); n != 1 {
		t.Errorf("%d orders stored, want the 1 from before the drain", n)
	}
}
