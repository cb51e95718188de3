package order

import (
	"errors"
	"sync"
	"testing"
)

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

// TestConcurrentRepeatsCreateOneOrder: of concurrent repeats of a keyed
// request one creates the order; the others get it replayed, or, when they
// come while the first holds the order's work before its insert,
// ErrInProgress, and then the order on their retry.
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
		if errors.Is(errs[i], ErrInProgress) {
			var o Order
			o, replays[i], errs[i] = e.svc.CreateOrder(t.Context(), alice, req)
			ids[i] = o.ID
			if !replays[i] {
				t.Errorf("call %d: the retry after ErrInProgress was not a replay", i)
			}
		}
	}
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
